"""The accurate card says which part of the encoder the shipped graph keeps."""

from __future__ import annotations

import pytest

from training.encoder.card import encoder_description
from training.encoder.graph import FRAMES, LAYER_OUTPUTS, POOLED
from training.encoder.head import HeadOptions


def test_the_card_names_the_layer_the_default_head_reads():
    text = encoder_description(list(HeadOptions().outputs))
    assert text.startswith("the encoder's first layer (int8)")
    assert "the first layer's output" in text


def test_the_card_counts_the_layers_up_to_the_deepest_one_read():
    text = encoder_description([LAYER_OUTPUTS[0], LAYER_OUTPUTS[2]])
    assert "first three layers" in text
    assert "the first and third layers' outputs" in text


def test_the_final_outputs_need_the_whole_encoder():
    assert encoder_description([POOLED]).startswith("the whole encoder (int8)")
    assert "final layer norm" in encoder_description([FRAMES])


def test_the_card_names_every_vector_a_head_reads_side_by_side():
    text = encoder_description([POOLED, LAYER_OUTPUTS[1]])
    assert "second layer's output" in text
    assert "attention-pooled vector" in text


def test_a_gate_on_a_deeper_layer_keeps_that_layer_and_is_named():
    text = encoder_description([LAYER_OUTPUTS[0]], [LAYER_OUTPUTS[1]])
    assert text.startswith("the encoder's first two layers (int8)")
    assert text.endswith(
        "; for the gate, mean and standard deviation of the second layer's "
        "output over the speech frames"
    )


@pytest.mark.parametrize("outputs", [[], ["not_a_tensor"]])
def test_a_head_that_reads_nothing_known_is_refused(outputs):
    with pytest.raises(ValueError, match="encoder outputs"):
        encoder_description(outputs)
