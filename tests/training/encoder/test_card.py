"""The accurate card says which part of the encoder the shipped graph keeps."""

from __future__ import annotations

from training.encoder.card import encoder_description
from training.encoder.graph import LAYER_OUTPUTS, POOLED
from training.encoder.head import HeadOptions


def test_the_card_names_the_layer_the_default_head_reads():
    text = encoder_description(list(HeadOptions().outputs))
    assert text.startswith("the encoder's first layer (int8)")
    assert "the first layer's output" in text


def test_the_card_counts_the_layers_up_to_the_deepest_one_read():
    text = encoder_description([LAYER_OUTPUTS[0], LAYER_OUTPUTS[2]])
    assert "first three layers" in text
    assert "the first and third layers' outputs" in text


def test_the_pooled_vector_needs_the_whole_encoder():
    assert "whole encoder" in encoder_description([POOLED])
