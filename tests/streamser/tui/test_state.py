"""The dashboard's data, from events alone (no terminal)."""

from streamser.events import (
    LatencyStats,
    OodReport,
    StatsEvent,
    StreamCounts,
    SummaryEvent,
    UtteranceEvent,
)
from streamser.meter import MeterReading
from streamser.tui.state import DashboardState, TracePoint

LABELS = ("neutral", "happy", "angry", "sad")


def utterance(seq, status="ok", stream="ch0", top="angry", latency=10.0):
    if status == "dropped":
        return UtteranceEvent(
            stream=stream, seq=seq, start=seq, end=seq + 1, status="dropped", reason="overrun"
        )
    scores = {label: 0.1 for label in LABELS}
    scores[top] = 0.7
    return UtteranceEvent(
        stream=stream,
        seq=seq,
        start=float(seq),
        end=seq + 1.5,
        status=status,
        reason=None if status == "ok" else "ood",
        label=top if status == "ok" else None,
        confidence=0.7,
        scores=scores,
        ood=OodReport("energy", 1.0, 0.0),
        latency_ms=latency,
        model="abc",
    )


def test_traces_grow_per_stream_and_count_each_status():
    state = DashboardState(LABELS, ("ch0", "ch1"), source="call.wav", model=("m", "abc123"))
    for seq, status in enumerate(["ok", "uncertain", "dropped", "ok"]):
        state.apply(utterance(seq, status))
    state.apply(utterance(0, stream="ch1", top="sad"))
    snap = state.snapshot({"ch0": MeterReading(-20.0, -10.0, True, 5.0)}, elapsed_s=10.0)
    ch0, ch1 = snap.streams
    assert [p.status for p in ch0.points] == ["ok", "uncertain", "dropped", "ok"]
    assert (ch0.ok, ch0.uncertain, ch0.dropped) == (2, 1, 1)
    assert ch0.meter.speech and not ch1.meter.speech
    assert ch1.last.label == "sad"
    assert snap.dropped == 1
    assert snap.latency_p50_ms == 10.0
    assert snap.realtime_factor == 10.0 / 5.0
    assert snap.finished is None and snap.labels == LABELS


def test_clear_empties_traces_but_keeps_counts():
    state = DashboardState(LABELS, ("ch0",))
    for seq in range(3):
        state.apply(utterance(seq))
    state.clear()
    (ch0,) = state.snapshot().streams
    assert ch0.points == () and ch0.ok == 3 and ch0.last is None


def test_history_is_bounded():
    state = DashboardState(LABELS, ("ch0",), history=5)
    for seq in range(12):
        state.apply(utterance(seq))
    (ch0,) = state.snapshot().streams
    assert [p.seq for p in ch0.points] == list(range(7, 12))


def test_labels_are_learnt_from_scores_and_stats_and_summary_fill_the_footer():
    state = DashboardState()
    state.apply(utterance(0))
    counts = {"ch0": StreamCounts(audio_s=20.0, segmented=1, ok=1)}
    state.apply(StatsEvent(seq=0, time=10.0, streams=counts, overflows=3, model="abc"))
    assert state.snapshot().overflows == 3
    state.apply(
        SummaryEvent(
            status="stopped",
            source="mic",
            streams=counts,
            overflows=4,
            elapsed_s=21.0,
            realtime_factor=1.05,
            latency_ms=LatencyStats(1, 9.0, 12.0, 12.0),
            model={"name": "default", "sha256": "0123456789abcdef"},
        )
    )
    snap = state.snapshot(elapsed_s=99.0)
    assert snap.labels == LABELS
    assert snap.finished == "stopped" and snap.overflows == 4
    assert (snap.latency_p50_ms, snap.latency_p95_ms) == (9.0, 12.0)
    assert snap.elapsed_s == 21.0 and snap.realtime_factor == 1.05
    assert snap.model == ("default", "abc") and snap.source == "mic"


def test_trace_points_from_json_match_those_from_events():
    for status in ("ok", "uncertain", "dropped"):
        event = utterance(4, status)
        assert TracePoint.from_json(event.to_dict()) == TracePoint.from_event(event)
