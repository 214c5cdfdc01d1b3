"""The event contract of streamser.events: field names, nulls, versioned schema, valid JSON."""

import json

import pytest

from streamser.events import (
    EVENT_SCHEMA,
    ErrorEvent,
    LatencyStats,
    OodReport,
    StatsEvent,
    StreamCounts,
    SummaryEvent,
    UtteranceEvent,
)

UTTERANCE_FIELDS = {
    "schema", "type", "stream", "seq", "start", "end", "status", "reason", "label",
    "confidence", "scores", "ood", "latency_ms", "model",
}  # fmt: skip


def utterance(**overrides) -> UtteranceEvent:
    fields = dict(
        stream="ch0",
        seq=3,
        start=1.23456,
        end=2.5,
        status="ok",
        label="happy",
        confidence=0.8,
        scores={"happy": 0.8, "sad": 0.2},
        ood=OodReport("energy", 4.2, 1.0, voiced_share=0.61234, min_voiced_share=0.2),
        latency_ms=3.14159,
        model="abc123",
    )
    return UtteranceEvent(**{**fields, **overrides})


def test_utterance_has_exactly_the_design_fields():
    data = json.loads(utterance().to_json())
    assert set(data) == UTTERANCE_FIELDS
    assert data["schema"] == EVENT_SCHEMA == "streamser.event/1"
    assert data["type"] == "utterance"
    assert (data["start"], data["latency_ms"]) == (1.235, 3.14)
    assert data["ood"] == {
        "method": "energy",
        "score": 4.2,
        "threshold": 1.0,
        "voiced_share": 0.612,
        "min_voiced_share": 0.2,
    }


def test_dropped_and_uncertain_withhold_the_label_but_keep_the_keys():
    dropped = json.loads(
        utterance(
            status="dropped", reason="overrun", label=None, confidence=None, scores={}, ood=None
        ).to_json()
    )
    assert set(dropped) == UTTERANCE_FIELDS
    assert (dropped["label"], dropped["ood"], dropped["reason"]) == (None, None, "overrun")
    uncertain = json.loads(utterance(status="uncertain", reason="ood", label=None).to_json())
    assert uncertain["label"] is None and uncertain["scores"] == {"happy": 0.8, "sad": 0.2}


def test_a_label_goes_with_ok_and_only_with_ok():
    with pytest.raises(AssertionError):
        utterance(status="uncertain")
    with pytest.raises(AssertionError):
        utterance(label=None)


def test_non_finite_numbers_become_null():
    data = json.loads(utterance(ood=OodReport("energy", float("-inf"), 1.0)).to_json())
    assert data["ood"]["score"] is None


def test_summary_totals_add_up_over_streams():
    streams = {
        "ch0": StreamCounts(audio_s=10.0, segmented=3, ok=2, uncertain=1),
        "ch1": StreamCounts(audio_s=10.0, segmented=2, ok=1, dropped=1, too_short=4),
    }
    event = SummaryEvent(
        status="completed",
        source="call.wav",
        streams=streams,
        latency_ms=LatencyStats(count=5, p50=2.0, p95=3.0, max=4.0),
    )
    data = json.loads(event.to_json())
    assert data["totals"] == {
        "audio_s": 10.0, "segmented": 5, "ok": 3, "uncertain": 1, "dropped": 1, "too_short": 4,
    }  # fmt: skip
    assert data["type"] == "summary" and data["stream"] is None


def test_stats_and_error_events_serialise():
    stats = json.loads(StatsEvent(seq=0, time=10.0, streams={"ch0": StreamCounts()}).to_json())
    assert stats["type"] == "stats" and stats["streams"]["ch0"]["segmented"] == 0
    error = json.loads(ErrorEvent(message="mic gone").to_json())
    assert (error["type"], error["message"], error["fatal"]) == ("error", "mic gone", True)
