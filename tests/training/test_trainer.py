"""What a training config decides about the network it trains."""

from __future__ import annotations

from streamser.labels import FOUR_CLASS
from training.config import FrontendConfig, TrainConfig
from training.data import LabelSpace
from training.trainer import model_config_for


def test_the_configs_frontend_table_is_the_networks_frontend():
    config = TrainConfig.from_dict(
        {"data": ("emodb=x",), "frontend": {"f_min_hz": 300.0, "f_max_hz": 3400.0}}
    )
    network = model_config_for(config, LabelSpace(FOUR_CLASS, {}))
    assert network.frontend == FrontendConfig(f_min_hz=300.0, f_max_hz=3400.0)
    assert (
        model_config_for(
            TrainConfig.from_dict({"data": ("emodb=x",)}), LabelSpace(FOUR_CLASS, {})
        ).frontend
        == FrontendConfig()
    )
