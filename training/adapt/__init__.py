"""Cross-corpus adaptation: DIDAN/LIDAN (implicit distribution alignment) and its baselines.

`ida` holds the alignment loss, `baselines` MMD, CORAL and DANN, `network` the
regression network, `trainer` one run, `experiment` the six-task protocol,
`report` docs/CROSS_CORPUS.md, `cli` the `streamser adapt` command.
"""
