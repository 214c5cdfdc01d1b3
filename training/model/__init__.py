"""MSAC-SERNet and its parts: the in-graph log-mel frontend, the network, the losses."""
