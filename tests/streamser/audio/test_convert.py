"""Conversion to the canonical stream: resampling, channel handling, chunking invariance."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.audio import sine, wav_bytes

from streamser.audio import AudioFormat, ChannelMode, Encoding, StreamConverter, load_canonical
from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import AudioFormatError


def dominant_hz(samples: np.ndarray, rate: int = SAMPLE_RATE_HZ) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(samples))


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_resampling_keeps_duration_and_pitch(rate):
    (out,) = load_canonical(io.BytesIO(wav_bytes(sine(1000, 1.0, rate), rate)))
    assert out.dtype == np.int16
    assert abs(len(out) - SAMPLE_RATE_HZ) <= 2
    assert dominant_hz(out) == pytest.approx(1000, abs=2)


def test_canonical_input_passes_through_bit_exact():
    signal = sine(300, 0.5, SAMPLE_RATE_HZ)
    data = wav_bytes(signal, SAMPLE_RATE_HZ)
    (out,) = load_canonical(io.BytesIO(data))
    np.testing.assert_array_equal(out, np.frombuffer(data[44:], "<i2"))


def test_downmix_select_and_split():
    left, right = sine(300, 0.5, 16000, 0.4), sine(700, 0.5, 16000, 0.4)
    data = wav_bytes(np.stack([left, right], axis=1), 16000)
    (mono,) = load_canonical(io.BytesIO(data))
    np.testing.assert_allclose(mono / 32768, (left + right) / 2, atol=2e-4)
    (second,) = load_canonical(io.BytesIO(data), ChannelMode.parse("1"))
    assert dominant_hz(second) == pytest.approx(700, abs=3)
    agent, customer = load_canonical(io.BytesIO(data), ChannelMode.parse("split"))
    assert dominant_hz(agent) == pytest.approx(300, abs=3)
    assert dominant_hz(customer) == pytest.approx(700, abs=3)


def test_telephone_stereo_mulaw_splits_into_two_16k_streams():
    fmt_rate = 8000
    signal = np.stack([sine(400, 1.0, fmt_rate), sine(900, 1.0, fmt_rate)], axis=1)
    data = wav_bytes(signal, fmt_rate, Encoding.MULAW)
    streams = load_canonical(io.BytesIO(data), ChannelMode(kind="split"))
    assert [len(s) for s in streams] == [16000, 16000]
    assert [round(dominant_hz(s)) for s in streams] == [400, 900]


def test_selecting_a_channel_that_does_not_exist_names_the_range():
    data = wav_bytes(np.zeros((100, 2), np.float32), 16000)
    with pytest.raises(
        AudioFormatError, match=r"channel 2 asked for, but the input has 2 channel\(s\) \(0\.\.1\)"
    ):
        load_canonical(io.BytesIO(data), ChannelMode.parse("2"))


@pytest.mark.parametrize("text", ["both", "-1", ""])
def test_bad_channel_modes_are_refused(text):
    with pytest.raises(ValueError, match="channel mode"):
        ChannelMode.parse(text)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=30), st.sampled_from([8000, 44100]))
def test_output_does_not_depend_on_how_input_was_chunked(cuts, rate):
    signal = sine(523, 0.6, rate)[:, None]
    fmt = AudioFormat(rate, 1, Encoding.FLOAT32)

    def convert(pieces):
        converter = StreamConverter(fmt)
        out = [converter.process(p)[0] for p in pieces]
        return np.concatenate([*out, converter.flush()[0]])

    whole = convert([signal])
    bounds = np.cumsum(cuts)
    bounds = bounds[bounds < len(signal)]
    np.testing.assert_array_equal(convert(np.split(signal, bounds)), whole)
