"""The remaining useful life in the live service (issue 33, item 1): a real FEMTO bearing replayed window by window
through the health tracker with a RUL checkpoint fitted on the other learning bearings: "no degradation yet" before its
onset, an estimate with its interval after, the state reading the RUL limits, the history stored across a restart and
thinned past its cap; a declared checkpoint that is not one refused at start, naming the sensor."""

import json

import numpy as np
import pytest

from syndiag.config.service import HealthConfig, SensorDeclaration
from syndiag.data.femto import read_bearing
from syndiag.errors import ConfigError
from syndiag.prognostics.rul_checkpoint import save_rul
from syndiag.prognostics.rul_prediction import RulPredictor
from syndiag.prognostics.units import read_units
from syndiag.service.health_state import ALARM, OK, WATCH, Evidence, Rules, window_levels
from syndiag.service.health_tracker import HealthTracker
from syndiag.service.rul_live import rul_scores, thinned
from syndiag.service.store import Store
from syndiag.workflows.rul_lobo import fit_selected, select

SENSOR = "plant/bench/bearing1_1"


@pytest.fixture(scope="module")
def femto_rul(shared_data, tmp_path_factory):
    """A checkpoint fitted on five learning bearings (Bearing1_1 held out) and Bearing1_1's horizontal snapshots."""
    folder = tmp_path_factory.mktemp("rul")
    units = [u for u in read_units(shared_data, "learning", cache_dir=folder / "cache") if u.name != "Bearing1_1"]
    model, intervals = fit_selected(select("exponential-trend", [{}], units, [0.5, 0.8]), units)
    checkpoint = save_rul(folder / "rul-model", "exponential-trend", model, intervals, [0.8], {"bands": 8})
    bearing = read_bearing(femto_dir(shared_data) / "Learning_set" / "Bearing1_1")
    return checkpoint, bearing


def femto_dir(shared_data):
    return shared_data / "femto"


def replay(tracker, store, bearing, count=None):
    """Each snapshot as one live window ending at its end (the sensor's clock), stored batch by batch as the service does."""
    found = []
    snapshots = bearing.snapshots[:count]
    for start in range(0, len(snapshots), 25):
        batch = snapshots[start:start + 25]
        rows = [{"sensor": SENSOR, "t_end": s.end_s, "label": "normal", "probability": 0.5} for s in batch]
        update = tracker.evaluate(rows, [(s.horizontal.astype(np.float32), 25600.0) for s in batch], [0.0] * len(batch))
        store.record([], (), health=(update, []))
        tracker.commit(update)
        found.append(update)
    return found


def test_a_bearing_replayed_live_reads_no_degradation_then_a_rul_with_its_interval_and_a_restart_keeps_the_history(femto_rul, tmp_path):
    checkpoint, bearing = femto_rul
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    config = HealthConfig(baseline_windows=20, raise_windows=2, clear_windows=3, rul_snapshot_s=10.0, rul_watch_h=1000.0)
    sensors = {SENSOR: SensorDeclaration(fs=25600.0, rul=str(checkpoint))}
    tracker = HealthTracker(config, sensors, store.engine)
    early = replay(tracker, store, bearing, 60)[-1].evidence[SENSOR]["rul"]
    assert early["degrading"] is False and early["at_least_h"] > 0 and "low_h" not in early, "healthy start: no interval, a lower bound"
    assert tracker.states[SENSOR].describe()["reasons"].get("rul") is None
    tracker = HealthTracker(config, sensors, store.engine)  # a restart mid-life: the history comes back from the store
    assert len(tracker.rul.history[SENSOR][0]) == 60 and tracker.evidence[SENSOR]["rul"] == early
    updates = replay(tracker, store, type(bearing)(**{**bearing.__dict__, "snapshots": bearing.snapshots[60:]}))
    last = updates[-1].evidence[SENSOR]["rul"]
    life_h = (bearing.snapshots[-1].end_s - bearing.snapshots[0].end_s) / 3600
    assert last["degrading"] is True and 0 < last["onset_h"] < life_h
    assert last["low_h"] < last["high_h"] and last["rul_h"] <= last["high_h"] and last["rul_h"] < 0.5 * life_h, \
        "at its failure: well under half its life left (the interval's floor is 1.5 s)"
    assert tracker.states[SENSOR].describe()["reasons"]["rul"] == "watch", "a degrading unit under rul_watch_h reads watch for its RUL"
    assert [json.loads(a["reasons"])["anomaly"] for u in updates for a in u.raised] == ["alarm"], \
        "the sensor's own baseline raised the alarm before the RUL model saw an onset"
    assert RulPredictor.from_pretrained(checkpoint).family == "exponential-trend"


def test_the_history_is_thinned_past_its_cap_in_memory_and_in_the_store(femto_rul, tmp_path):
    checkpoint, bearing = femto_rul
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    config = HealthConfig(baseline_windows=20, rul_max_snapshots=100)
    tracker = HealthTracker(config, {SENSOR: SensorDeclaration(fs=25600.0, rul=str(checkpoint))}, store.engine)
    replay(tracker, store, bearing, 150)
    times = tracker.rul.history[SENSOR][0]
    assert len(times) < 150 and times[-50:] == [s.end_s for s in bearing.snapshots[100:150]], "the newest half kept whole"
    assert times[0] == bearing.snapshots[0].end_s and times == sorted(times)
    again = HealthTracker(config, {SENSOR: SensorDeclaration(fs=25600.0, rul=str(checkpoint))}, store.engine)
    assert again.rul.history[SENSOR][0] == times, "the store holds exactly the thinned history"
    assert thinned(10, 100).tolist() == list(range(10)) and thinned(12, 8).tolist() == [0, 2, 4, 6, 8, 9, 10, 11]


def test_the_rul_limits_read_watch_and_alarm_and_clearing_asks_for_more_hours():
    rules = Rules(rul_watch_h=2.0, rul_alarm_h=1.0, clear_ratio=0.8)
    assert window_levels(Evidence(rul_low_h=0.5), rules)[:2] == (ALARM, ALARM)
    assert window_levels(Evidence(rul_low_h=1.1), rules)[:2] == (WATCH, ALARM), "1.1 h: above the alarm limit, not above 1 / 0.8"
    assert window_levels(Evidence(rul_low_h=2.2), rules)[:2] == (OK, WATCH)
    assert window_levels(Evidence(rul_low_h=3.0), rules)[:2] == (OK, OK)
    assert window_levels(Evidence(rul_low_h=0.1), Rules())[:2] == (OK, OK), "no limits set: the RUL is shown, never read"
    assert rul_scores({"degrading": False, "rul_h": 9.0, "at_least_h": 3.0}) == (None, 3.0), "before the onset: only the bound is kept"
    assert rul_scores({"degrading": True, "rul_h": 2.0, "low_h": 0.5, "high_h": 6.0}) == (2.0, 0.5) and rul_scores(None) == (None, None)


def test_a_declared_rul_checkpoint_that_is_not_one_is_refused_at_start_naming_the_sensor(tmp_path):
    with pytest.raises(ConfigError, match=r"sensors\.p/m/s\.rul: .*not a RUL checkpoint"):
        HealthTracker(HealthConfig(), {"p/m/s": SensorDeclaration(fs=12000.0, rul=str(tmp_path))})
    with pytest.raises(ValueError, match=r"rul_alarm_h \(5\) must be below rul_watch_h \(2\)"):
        HealthConfig(rul_watch_h=2.0, rul_alarm_h=5.0)
