"""The live input meter: levels in dBFS, rate-limited publishing, speech changes at once."""

import numpy as np
import pytest
from support.speech import conversation, to_int16

from streamser.meter import FLOOR_DBFS, LevelMeter, levels_dbfs
from streamser.segmenter import SegmenterOptions
from streamser.stream import StreamFront
from streamser.vad import make_vad


def test_levels_of_silence_full_scale_and_half_scale():
    assert levels_dbfs(np.zeros(480, np.int16)) == (FLOOR_DBFS, FLOOR_DBFS)
    assert levels_dbfs(np.zeros(0, np.int16)) == (FLOOR_DBFS, FLOOR_DBFS)
    square = np.full(480, -32768, np.int16)
    assert levels_dbfs(square) == pytest.approx((0.0, 0.0), abs=1e-6)
    rms, peak = levels_dbfs((np.sin(np.arange(1600) / 5.0) * 16384).astype(np.int16))
    assert peak == pytest.approx(-6.02, abs=0.05)
    assert rms == pytest.approx(-9.03, abs=0.1)  # a sine's RMS is 3 dB under its peak


def test_publishing_is_rate_limited_but_speech_changes_show_at_once():
    meter = LevelMeter(interval_s=0.1)
    loud = np.full(480, 10000, np.int16)
    meter.update(loud, speech=False, total_samples=480, now=1.0)
    first = meter.read()
    assert first.level_dbfs > -11 and not first.speech and first.audio_s == 0.03
    meter.update(np.zeros(480, np.int16), speech=False, total_samples=960, now=1.05)
    assert meter.read() is first  # too soon: the capture side did no work
    meter.update(np.zeros(480, np.int16), speech=True, total_samples=1440, now=1.06)
    assert meter.read().speech and meter.read().level_dbfs == FLOOR_DBFS
    meter.reset()
    assert meter.read().audio_s == 0.0


def test_stream_front_publishes_speech_state_and_audio_position():
    front = StreamFront(0, "ch0", make_vad(SegmenterOptions().vad), SegmenterOptions(), 16000 * 30)
    assert not front.meter.read().speech
    voiced = to_int16(conversation([1.5], lead_s=0.5, gap_s=0.0))
    speech_seen = False
    for now, offset in enumerate(range(0, len(voiced), 480)):
        front.process(voiced[offset : offset + 480], arrived=float(now))
        speech_seen |= front.meter.read().speech
    assert speech_seen
    assert front.meter.read().audio_s == pytest.approx(len(voiced) / 16000, abs=0.03)
