"""Machine health states (issue 33): the state machine's hysteresis and minimum duration, each piece of evidence's level,
and the live tracker on real CWRU signal (the ISO zone, the sensor's own healthy baseline, the store across a restart)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndiag.service.health_state import ALARM, OK, WATCH, Evidence, Rules, State, machine_levels, step, window_levels, zone_of

RULES = Rules(raise_windows=3, clear_windows=5)


def run(levels, rules=RULES, state=None):
    """The states after each window reading ``levels`` (high = low = the level)."""
    state, found = state or State(), []
    for t, level in enumerate(levels):
        state = step(state, level, level, float(t), rules)
        found.append(state.level)
    return found


def test_one_noisy_window_never_flips_the_state_and_a_sustained_change_does_after_its_duration():
    assert run([OK, ALARM, OK, OK, WATCH, OK]) == [OK] * 6
    assert run([OK, WATCH, WATCH, WATCH, WATCH]) == [OK, OK, OK, WATCH, WATCH]
    assert run([WATCH, ALARM, ALARM]) == [OK, OK, WATCH], "three windows above ok, the lowest they share is watch"
    up = State(ALARM, 0.0, 0.0)
    assert run([OK, OK, OK, OK, ALARM, OK, OK, OK, OK, OK], state=up) == [ALARM] * 9 + [OK], "a noisy window restarts the clearing"
    assert run([WATCH] * 5, state=up) == [ALARM] * 4 + [WATCH]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([OK, WATCH, ALARM]), min_size=1, max_size=60), st.integers(0, 59), st.sampled_from([OK, WATCH, ALARM]))
def test_a_single_window_changed_in_a_steady_stream_never_changes_the_state(noise, at, steady):
    levels = [steady] * 60
    levels[at] = noise[0]
    start = State(steady, 0.0, 0.0)
    assert set(run(levels, state=start)) == {steady}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([OK, WATCH, ALARM]), min_size=1, max_size=80))
def test_the_state_only_changes_after_a_run_of_windows_as_long_as_the_rule_says(levels):
    found = run(levels)
    previous = OK
    for i, level in enumerate(found):
        if level > previous:
            window = levels[max(0, i - RULES.raise_windows + 1): i + 1]
            assert len(window) == RULES.raise_windows and min(window) == level
        elif level < previous:
            window = levels[max(0, i - RULES.clear_windows + 1): i + 1]
            assert len(window) == RULES.clear_windows and max(window) == level
        previous = level


def test_each_piece_of_evidence_reads_its_level_and_clearing_needs_the_lower_thresholds():
    rules = Rules(zone_boundaries=(1.4, 2.8, 4.5), clear_ratio=0.8, severity_alarm=0.5)
    assert zone_of(1.39, rules.zone_boundaries) == "A" and zone_of(2.8, rules.zone_boundaries) == "C" and zone_of(9, rules.zone_boundaries) == "D"
    assert window_levels(Evidence(velocity_mm_s=3.0), rules)[:2] == (WATCH, WATCH)
    assert window_levels(Evidence(velocity_mm_s=2.5), rules)[:2] == (OK, WATCH), "below B/C but above 0.8 x B/C: holds a watch"
    assert window_levels(Evidence(anomaly_ratio=12.0), rules)[:2] == (ALARM, ALARM)
    assert window_levels(Evidence(anomaly_ratio=0.9), rules)[:2] == (OK, WATCH)
    assert window_levels(Evidence(unknown=True), rules)[0] == WATCH
    assert window_levels(Evidence(label="normal", probability=0.99), rules)[0] == OK
    assert window_levels(Evidence(label="DE_IR007", probability=0.95), rules)[0] == WATCH
    assert window_levels(Evidence(label="DE_IR007", probability=0.5), rules)[0] == OK
    high, _, why = window_levels(Evidence(velocity_mm_s=0.5, label="DE_IR007", probability=0.95, severity=0.6), rules)
    assert high == ALARM and why == {"zone": OK, "fault": ALARM}
    state = State(WATCH, 0.0, 0.0)
    for t in range(20):  # 2.5 mm/s: below the raising B/C boundary, above the clearing one: the watch holds
        state = step(state, *window_levels(Evidence(velocity_mm_s=2.5), rules)[:2], float(t), rules)
    assert state.level == WATCH
    assert machine_levels({"s/pump/a": OK, "s/pump/b": ALARM, "s/fan/a": WATCH}) == {"s/pump": ALARM, "s/fan": WATCH}


def cwru(cwru_dir, number, seconds):
    from syndiag.data.cwru import read_cwru_mat

    return read_cwru_mat(cwru_dir / f"{number}.mat", number, ["DE"])[0, : int(seconds * 12000)].astype(np.float32)


def test_the_tracker_learns_the_sensors_healthy_baseline_raises_one_alarm_on_a_fault_and_a_restart_keeps_both(tmp_path, cwru_dir):
    from syndiag.config.service import HealthConfig, SensorDeclaration
    from syndiag.errors import ConfigError
    from syndiag.service.alarm_store import listed
    from syndiag.service.health_tracker import HealthTracker
    from syndiag.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    config = HealthConfig(baseline_windows=20, raise_windows=2, clear_windows=3, window_s=0.5, machine_group="iso-10816-1:class1")
    tracker = HealthTracker(config, {}, store.engine)
    healthy, fault = cwru(cwru_dir, 97, 10), cwru(cwru_dir, 130, 6)  # normal; outer race 0.021 in at 6 o'clock

    def windows(x, t0, n):
        rows = [{"sensor": "p/pump/de", "t_end": t0 + (i + 1) * 0.5, "label": "normal", "probability": 0.5} for i in range(n)]
        return rows, [(x[i * 6000:(i + 1) * 6000], 12000.0) for i in range(n)], [0.0] * n

    def stored(update):
        store.record([], (), health=(update, ["webhook:ops"]))
        tracker.commit(update)
        return update

    first = stored(tracker.evaluate(*windows(healthy, 0.0, 20)))
    assert "p/pump/de" in first.fitted and not first.raised, "the baseline is fitted from the first 20 windows, no alarm on it"
    calm = stored(tracker.evaluate(*windows(healthy[::-1].copy(), 10.0, 12)))  # more healthy signal: below or near the threshold
    assert not calm.raised and tracker.states["p/pump/de"].level == OK
    ev = calm.evidence["p/pump/de"]
    assert ev["zone"] == "A" and ev["baseline"] == "fitted" and 0.05 < ev["velocity_mm_s"] < 1.4
    bad = stored(tracker.evaluate(*windows(fault, 20.0, 12)))
    assert [a["level"] for a in bad.raised] == ["alarm"] and bad.stored_alarms == 1, "one alarm, at the second faulty window"
    assert bad.raised[0]["t_end"] == 21.0 and json.loads(bad.raised[0]["reasons"])["anomaly"] == "alarm"
    assert bad.evidence["p/pump/de"]["anomaly_ratio"] > 10 and bad.evidence["p/pump/de"]["zone"] == "A", \
        "the outer race fault rings above 1 kHz: the ISO zone stays A, the sensor's own baseline sees it"
    loud = windows(healthy * 12, 0.0, 4)  # ~6.5 mm/s, zone D of class I, before any baseline: the zone alone raises the alarm
    loud[0][:] = [{**row, "sensor": "p/fan/de"} for row in loud[0]]
    louder = stored(tracker.evaluate(*loud))
    assert [(a["sensor"], a["level"], json.loads(a["reasons"])["zone"]) for a in louder.raised] == [("p/fan/de", "alarm", "alarm")]
    assert louder.evidence["p/fan/de"]["baseline"] == "4/20 windows" and tracker.snapshot()["machines"] == {"p/fan": "alarm", "p/pump": "alarm"}
    again = HealthTracker(config, {}, store.engine)  # a restart: state and baseline from the store
    assert again.states["p/pump/de"].level == ALARM and "p/pump/de" in again.baselines
    redelivered = again.evaluate(*windows(fault, 20.0, 12))
    assert not redelivered.states and not redelivered.raised, "windows already evaluated are not evaluated again"
    assert [a["level"] for a in listed(store.engine, "p/pump/de")] == ["alarm"] and listed(store.engine)[0]["deliveries"]["webhook:ops"]["attempts"] == 0
    with pytest.raises(ConfigError, match="sensors.a/b/c.machine_group: unknown machine group 'nope'"):
        HealthTracker(config, {"a/b/c": SensorDeclaration(fs=12000.0, machine_group="nope")})


def test_a_checkpoint_calibrated_for_unknown_faults_gives_each_live_window_its_verdict_and_the_state_reads_it(tmp_path):
    import threading

    from tiny_checkpoint import onnx_folder

    from syndiag.config.service import ServeConfig
    from syndiag.models.openset_threshold import OpenSetThreshold, save_threshold, weights_digest
    from syndiag.service.payload import encode
    from syndiag.service.pipeline import Pipeline
    from syndiag.service.store import Store
    from syndiag.serving.predictor import load_predictor

    found = {}
    for value in (0.2, 0.999):  # the stub's top probability is below 0.8: a score (1 - p) above 0.2, never above 0.999
        folder = onnx_folder(tmp_path / f"onnx-{value}")
        save_threshold(folder, OpenSetThreshold(threshold=value, false_alarm=0.01, windows=10, weights_sha256=weights_digest(folder)))
        config = ServeConfig(checkpoint=folder, database_url=f"sqlite:///{tmp_path / f'{value}.sqlite'}", every_s=0.1,
                             health={"window_s": 0.1, "baseline_windows": 10_000, "raise_windows": 2, "unknown_level": "watch",
                                     "healthy_labels": ["normal", "DE_IR007", "FE_B021"]}, retention={"enabled": False})
        pipeline = Pipeline(config, load_predictor(folder), Store(config.database_url))
        worker = threading.Thread(target=pipeline.run)
        worker.start()
        x = 0.001 * np.random.default_rng(0).standard_normal(6000).astype(np.float32)
        for seq in range(5):
            pipeline.ingest("p/pump/de", encode(seq, 1_700_000_000.0 + seq * 0.1, 12000.0, x[seq * 1200:(seq + 1) * 1200]))
        pipeline.stop()
        worker.join(timeout=30)
        found[value] = ([r["unknown"] for r in pipeline.store.history("p/pump/de")], pipeline.tracker.snapshot()["sensors"]["p/pump/de"])
    assert found[0.2][0] == [True] * 5 and found[0.2][1]["state"] == "watch" and found[0.2][1]["reasons"]["unknown"] == "watch"
    assert found[0.999][0] == [False] * 5 and found[0.999][1]["state"] == "ok"
