"""Bounded storage that keeps what matters (issue 33): the raw signal around every alarm and a periodic snapshot per
stream, cut from the ring buffers and kept compressed; diagnoses rolled up with age (min/mean/max of the scores),
deleted by age and by total size (what matters least first); a retention setting of 0 refused naming the field."""

import threading
import time

import numpy as np
import pytest
from tiny_checkpoint import onnx_folder
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.service import RetentionConfig, ServeConfig
from syndiag.service.payload import encode
from syndiag.service.raw_store import Segment, decode_raw, encode_raw
from syndiag.service.retention import Retention, rollups
from syndiag.service.store import Store
from syndiag.service.net import wait_until

FS = 12000.0
T0 = 1_700_000_000.0


def test_raw_samples_are_kept_compressed_within_the_quantisation_step(cwru_dir):
    from syndiag.data.cwru import read_cwru_mat

    x = read_cwru_mat(cwru_dir / "130.mat", 130, ["DE"])[0, :12000].astype(np.float32)
    for encoding, bound in (("int16", np.abs(x).max() / 65534 * 1.0001), ("float16", np.abs(x).max() * 2**-11)):
        data = encode_raw(x, encoding)
        back = decode_raw(data)
        assert back.dtype == np.float32 and back.size == x.size and np.abs(back - x).max() <= bound, encoding
        assert len(data) < 0.5 * x.nbytes, f"{encoding}: {len(data)} bytes for {x.nbytes} of float32"
    assert decode_raw(encode_raw(np.zeros(10, np.float32))).tolist() == [0.0] * 10


def test_the_raw_signal_around_an_alarm_and_a_periodic_snapshot_are_kept_and_served(tmp_path):
    from fastapi.testclient import TestClient

    from syndiag.service.app import create_app
    from syndiag.service.runner import start_service

    config = ServeConfig(checkpoint=onnx_folder(tmp_path / "onnx"), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", every_s=0.1,
                         health={"window_s": 0.1, "baseline_windows": 10_000, "raise_windows": 2, "clear_windows": 2,
                                 "healthy_labels": ["normal", "DE_IR007", "FE_B021"]},
                         alarms={"mqtt": False}, retention={"snapshot_every_s": 2.0, "snapshot_s": 0.5, "every_s": 3600})
    service = start_service(config, mqtt=False)
    client = TestClient(create_app(service.pipeline, config.checkpoint, keeper=service.keeper))
    rng = np.random.default_rng(0)
    t = np.arange(int(6.0 * FS)) / FS
    sent = (0.001 * rng.standard_normal(t.size) + np.where((t >= 3.0) & (t < 3.3), 0.5 * np.sin(2 * np.pi * 50 * t), 0)).astype(np.float32)
    try:
        for seq, i in enumerate(range(0, sent.size, 1200)):  # quiet 3 s, loud 0.3 s (zone D: an alarm), quiet again (it clears)
            service.pipeline.ingest("plant/pump/de", encode(seq, T0 + i / FS, FS, sent[i:i + 1200]))
            assert wait_until(lambda: service.pipeline.snapshot()["diagnosed"] == seq + 1, 30)  # paced as a sensor is: the worker keeps up
        assert wait_until(lambda: service.pipeline.snapshot()["diagnosed"] == 60, 30)
        assert wait_until(lambda: service.pipeline.snapshot()["raw_clips"] == 2 and service.pipeline.snapshot()["raw_snapshots"] == 3, 30)
        alarms = client.get("/api/alarms").json()["alarms"]
        assert [a["level"] for a in alarms] == ["ok", "alarm"]
        raised = alarms[1]
        [clip] = client.get("/api/raw", params={"alarm": raised["id"]}).json()
        assert clip["kind"] == "alarm" and clip["stream"] == "plant/pump/de" and clip["fs"] == FS
        assert clip["t0"] == pytest.approx(raised["t_end"] - 2.5) and clip["samples"] == round(3.5 * FS), "2.5 s before its end, 1 s after"
        body = client.get(f"/api/raw/{clip['id']}")
        samples = np.frombuffer(body.content, dtype="<f4")
        start = round((clip["t0"] - T0) * FS)
        original = sent[start:start + samples.size]
        assert np.abs(samples - original).max() <= np.abs(original).max() / 65534 + 1e-7, "the signal that raised it, as sent"
        assert float(body.headers["x-syndiag-t0"]) == clip["t0"] and clip["bytes"] < 0.5 * 4 * clip["samples"]
        snapshots = client.get("/api/raw", params={"sensor": "plant/pump/de", "kind": "snapshot"}).json()
        assert sorted(round(s["t0"] - T0, 6) for s in snapshots) == [1.5, 3.5, 5.5] and {s["samples"] for s in snapshots} == {6000}
        kept = client.get("/api/storage").json()
        assert kept["raw"]["alarm"]["segments"] == 2 and kept["raw"]["snapshot"]["segments"] == 3 and kept["rows"]["diagnoses"] == 60
        assert 0 < kept["used_bytes"] <= kept["max_bytes"]
        rows = service.pipeline.store.history("plant/pump/de")
        assert all(r["velocity_mm_s"] is not None for r in rows) and max(r["velocity_mm_s"] for r in rows) > 4.5, "the evidence is stored"
        service.keeper.run_pass()  # the sensor's clock (2023) is years behind: nothing goes before it has been stored as long
        assert client.get("/api/storage").json()["last_pass"]["rolled_up"] == 0
        service.keeper.clock = lambda: time.time() + 7200  # two hours on: the 60 rows are one minute's roll-up
        service.keeper.run_pass()
        kept = client.get("/api/storage").json()
        assert kept["last_pass"]["rolled_up"] == 60 and kept["rows"]["diagnoses"] == 0 and kept["rows"]["diagnoses_rollup"] == 1
        assert kept["raw"] == {"alarm": {"segments": 2, "bytes": kept["raw"]["alarm"]["bytes"]}, "snapshot": kept["raw"]["snapshot"]}
        assert kept["raw"]["snapshot"]["segments"] == 3 and wait_until(lambda: service.pipeline.snapshot()["retention_passes"] == 2, 5)
    finally:
        service.stop()


def day_of_rows(store, sensor, start, seconds):
    """One diagnosis a second: probability (t mod 60) / 60, label normal for 40 s of each minute, DE_IR007 for 20."""
    rows = [{"sensor": sensor, "t_end": float(t), "label": "normal" if t % 60 < 40 else "DE_IR007", "probability": (t % 60) / 60,
             "rms": 0.1, "unknown": t % 60 == 0, "latency_ms": 1.0, "stored_at": 0.0, "velocity_mm_s": 1.0 + (t % 600) / 600,
             "anomaly_ratio": None} for t in range(int(start), int(start + seconds))]
    for i in range(0, len(rows), 5000):
        store.record(rows[i:i + 5000])


def rolled(store, span):
    with store.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(rollups.select().where(rollups.c.span_s == span).order_by(rollups.c.t_start))]


def test_diagnoses_are_rolled_up_with_age_expired_by_age_and_late_rows_merged(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    now = 1_700_006_400.0  # a whole 10 minutes
    config = RetentionConfig(tiers=[{"after_s": 3600, "every_s": 60}, {"after_s": 7200, "every_s": 600}], max_age_s=9000)
    retention = Retention(store, config)
    day_of_rows(store, "p/pump/de", now - 10800, 10800)  # 3 h
    done = retention.run(now)
    assert store.count() == 3600, "the last hour whole"
    minutes, tens = rolled(store, 60.0), rolled(store, 600.0)
    assert len(minutes) == 60 and minutes[0]["t_start"] == now - 7200 and minutes[-1]["t_start"] == now - 3660
    m = minutes[0]
    assert (m["n"], m["label"], m["label_n"], m["unknown_n"]) == (60, "normal", 40, 1)
    assert (m["probability_min"], m["probability_max"]) == (0.0, 59 / 60) and m["probability_mean"] == pytest.approx(29.5 / 60)
    assert m["anomaly_ratio_mean"] is None and m["rms_mean"] == pytest.approx(0.1)
    assert [t["t_start"] for t in tens] == [now - 9000 + 600 * i for i in range(3)], "older than 2 h: one row per 10 min; 9000 s: gone"
    assert (tens[0]["n"], tens[0]["label_n"]) == (600, 400) and tens[0]["velocity_mm_s_min"] == 1.0 and tens[0]["velocity_mm_s_max"] == pytest.approx(1 + 599 / 600)
    assert tens[0]["velocity_mm_s_mean"] == pytest.approx(1 + 299.5 / 600)
    assert done["rolled_up"] == 7200 + 60 and done["deleted"] == 3, "7200 rows into minutes, 60 minutes into 10 min, 3 of those gone"
    assert retention.run(now) == {"rolled_up": 0, "deleted": 0, "deleted_for_size": 0}, "a second pass changes nothing"
    store.record([{"sensor": "p/pump/de", "t_end": now - 5000.5, "label": "DE_IR007", "probability": 1.0, "rms": 0.1, "unknown": False,
                   "latency_ms": 1.0, "stored_at": 0.0}])  # a late row of a minute already rolled up: merged into it
    retention.run(now)
    late = [r for r in rolled(store, 60.0) if r["t_start"] == now - 5040]
    assert len(late) == 1 and late[0]["n"] == 61 and late[0]["probability_max"] == 1.0


def test_the_store_is_kept_under_its_size_snapshots_going_first_and_alarm_clips_last_while_rows_are_written(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    now = 1_700_006_400.0
    day_of_rows(store, "p/pump/de", now - 3000, 3000)
    noise = np.random.default_rng(1).standard_normal(24000).astype(np.float32)
    rows = [Segment("snapshot", "p/pump/de", "p/pump/de", None, now - 3000 + 60 * i, FS, noise).row("int16", now) for i in range(40)]
    rows += [Segment("alarm", "p/pump/de", "p/pump/de", f"a{i}", now - 2000 + i, FS, noise).row("int16", now) for i in range(4)]
    from syndiag.service.raw_store import raw_segments

    with store.engine.begin() as connection:
        connection.execute(raw_segments.insert(), rows)
    before = store.used_bytes()
    budget = before - 30 * rows[0]["bytes"]
    retention = Retention(store, RetentionConfig(max_bytes=budget, batch_rows=5))
    latencies, stop = [], threading.Event()

    def writer():  # ingestion beside the pass: every write goes through, none waits long
        t = now
        while not stop.is_set():
            started = time.perf_counter()
            store.record([{"sensor": "p/fan/de", "t_end": t, "label": "normal", "probability": 0.9, "rms": 0.1, "unknown": None,
                           "latency_ms": 1.0, "stored_at": 0.0}])
            latencies.append(time.perf_counter() - started)
            t += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        done = retention.run(now)
    finally:
        stop.set()
        thread.join()
    kept = retention.storage()
    assert kept["used_bytes"] <= budget < before and done["deleted_for_size"] >= 30
    assert kept["raw"]["alarm"]["segments"] == 4, "the alarm clips are kept while there is anything else to delete"
    assert kept["raw"]["snapshot"]["segments"] <= 10 and kept["rows"]["diagnoses"] >= 3000
    assert len(latencies) > 0 and max(latencies) < 5.0 and store.count() == 3000 + len(latencies) - 0


def test_a_retention_setting_of_zero_or_less_is_refused_naming_the_field(tmp_path):
    for field in ("max_age_s", "max_bytes", "every_s", "snapshot_every_s", "raw_before_s"):
        result = CliRunner().invoke(app, ["serve", "--set", f"retention.{field}=0"])
        assert result.exit_code == 2 and f"retention.{field}" in result.output and "greater than 0" in result.output, result.output
    result = CliRunner().invoke(app, ["serve", "--set", "retention.max_bytes=-5"])
    assert result.exit_code == 2 and "retention.max_bytes" in result.output


def test_a_store_made_before_the_evidence_was_kept_gets_its_columns_and_keeps_its_rows(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the diagnoses table as issue 27's service made it
        db.execute("CREATE TABLE diagnoses (id INTEGER PRIMARY KEY, sensor VARCHAR(200) NOT NULL, t_end FLOAT NOT NULL, label VARCHAR(100) "
                   "NOT NULL, probability FLOAT NOT NULL, rms FLOAT NOT NULL, unknown BOOLEAN, latency_ms FLOAT NOT NULL, stored_at FLOAT NOT NULL)")
        db.execute("CREATE UNIQUE INDEX one_diagnosis_per_window ON diagnoses (sensor, t_end)")
        db.execute("INSERT INTO diagnoses VALUES (1, 'p/pump/de', 10.0, 'normal', 0.9, 0.1, NULL, 1.0, 0.0)")
    store = Store(f"sqlite:///{path}")
    store.record([{"sensor": "p/pump/de", "t_end": 11.0, "label": "normal", "probability": 0.8, "rms": 0.1, "unknown": None,
                   "latency_ms": 1.0, "stored_at": 0.0, "velocity_mm_s": 2.0, "anomaly_ratio": 0.5}])
    assert [(r["t_end"], r["velocity_mm_s"], r["anomaly_ratio"]) for r in store.history("p/pump/de")] == [(10.0, None, None), (11.0, 2.0, 0.5)]
