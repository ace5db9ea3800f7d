"""The live service: payloads, per-sensor buffers, back-pressure with counted drops, the store, the HTTP API, and a
real Mosquitto broker end to end (started here; `.ci/run` installs it)."""

import json
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import in_ci
from tiny_checkpoint import onnx_folder, recording

from syndiag.config.service import ServeConfig
from syndiag.errors import DataError
from syndiag.service.buffers import SensorBuffer
from syndiag.service.net import free_port, listening, wait_until
from syndiag.service.payload import Chunk, decode, encode


def test_binary_and_json_payloads_round_trip_and_bad_ones_are_named():
    x = np.arange(10, dtype=np.float32)
    chunk = decode(encode(7, 1700000000.5, 12000.0, x), 100)
    assert (chunk.seq, chunk.t0, chunk.fs) == (7, 1700000000.5, 12000.0) and np.array_equal(chunk.samples, x)
    assert decode(json.dumps({"seq": 1, "t0": 5.0, "fs": 1000.0, "samples": [1, 2]}).encode(), 100).samples.tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="exceeds the limit of 5"):
        decode(encode(1, 0.0, 12000.0, x), 5)
    with pytest.raises(DataError, match="carries"):
        decode(encode(1, 0.0, 12000.0, x)[:-4], 100)
    with pytest.raises(DataError, match="neither binary"):
        decode(b"hello", 100)
    with pytest.raises(DataError, match="finite"):
        decode(encode(1, 0.0, 12000.0, np.array([1.0, np.nan])), 100)


def test_a_buffer_hands_out_the_windows_that_end_on_the_sensor_clock_and_counts_gaps_expiry_and_rate_changes():
    buffer = SensorBuffer("s/m/a", 1000.0, 4000)
    ends = []
    for seq in range(25):  # 2.5 s in 0.1 s chunks
        buffer.push(Chunk(seq, seq * 0.1, 1000.0, np.full(100, seq, dtype=np.float32)))
        ends += buffer.windows(buffer.end - 100, 100, 64, 1000.0, 1.0, 0.0)
    assert [w.t_end for w in ends] == [1.0, 2.0] and ends[0].samples[-1] == 9.0 and ends[0].samples[0] == 9.0
    with pytest.raises(DataError, match="before the 2.500000 s already received"):
        buffer.push(Chunk(25, 2.4, 1000.0, np.zeros(100, np.float32)))  # a repeat
    buffer.push(Chunk(30, 3.0, 1000.0, np.zeros(100, np.float32)))  # 0.5 s missing: a gap restarts the signal
    assert buffer.gaps == 1 and buffer.start == 3000
    big = SensorBuffer("s/m/b", 1000.0, 500)
    big.push(Chunk(0, 0.0, 1000.0, np.zeros(3000, np.float32)))
    found = big.windows(0, 3000, 64, 1000.0, 0.5, 0.0)
    assert [w.samples is None for w in found] == [True] * 5 + [False] and big.expired == 5  # only the last is still held
    big.push(Chunk(1, 3.0, 2000.0, np.ones(2000, np.float32)))
    assert big.rate_changes == 1 and big.capacity == 1000
    assert [w.samples.size for w in big.windows(big.end - 2000, 2000, 64, 1000.0, 0.5, 0.0) if w.samples is not None] == [64]


def pipeline_of(tmp_path, **settings):
    from syndiag.service.runner import build_pipeline

    config = ServeConfig(checkpoint=onnx_folder(tmp_path / "onnx"), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", **settings)
    return build_pipeline(config)


def test_a_full_queue_drops_and_counts_and_every_window_is_accounted_for(tmp_path):
    pipeline = pipeline_of(tmp_path, queue_size=4, every_s=0.01, micro_batch=3)
    x = np.random.default_rng(0).standard_normal(1200).astype(np.float32)
    pipeline.ingest("site/m1/a", encode(0, 0.0, 12000.0, x))  # 0.1 s: windows due every 120 samples -> 10
    counts = pipeline.snapshot()
    assert counts["windows_in"] == 10 and counts["dropped_queue_full"] == 6 and counts["queue_depth"] == 4
    pipeline.ingest("site/m1/a", b"garbage")
    pipeline.ingest("site/m1/a", encode(1, 0.1, 12000.0, np.zeros(70000, np.float32)))
    pipeline.stop()
    pipeline.run()
    counts = pipeline.snapshot()
    assert counts["diagnosed"] == 4 and counts["windows_in"] == counts["diagnosed"] + counts["dropped_queue_full"] + counts["queue_depth"]
    assert counts["payloads_refused_malformed"] == 1 and counts["payloads_refused_oversize"] == 1
    assert pipeline.store.count() == 4 and pipeline.store.latest()[0]["sensor"] == "site/m1/a"
    text = pipeline.metrics()
    assert "syndiag_dropped_queue_full_total 6" in text and 'syndiag_latency_seconds_bucket{le="+Inf"} 4' in text


def test_drop_newest_keeps_the_oldest_windows(tmp_path):
    pipeline = pipeline_of(tmp_path, queue_size=2, every_s=0.01, overload="drop-newest")
    pipeline.ingest("site/m1/a", encode(0, 0.0, 12000.0, np.ones(600, np.float32)))
    assert [round(w.t_end, 4) for w in pipeline.queue] == [0.01, 0.02]  # windows end on the sensor clock, every 0.01 s


def test_a_slow_database_never_blocks_ingestion_and_its_backlog_is_dropped_and_counted(tmp_path):
    import threading

    pipeline = pipeline_of(tmp_path, queue_size=5, every_s=0.01, micro_batch=2)
    released, entered = threading.Event(), threading.Event()
    record = pipeline.store.record

    def slow_record(rows, *args):
        if rows:
            entered.set()
            assert released.wait(30)
        return record(rows, *args)

    pipeline.store.record = slow_record
    worker = threading.Thread(target=pipeline.run)
    worker.start()
    x = np.random.default_rng(0).standard_normal(120).astype(np.float32)
    pipeline.ingest("site/m1/a", encode(0, 0.0, 12000.0, x))
    assert entered.wait(30), "the worker reached the database"
    for seq in range(1, 30):  # 29 more payloads while the database holds the worker
        pipeline.ingest("site/m1/a", encode(seq, seq * 0.01, 12000.0, x))
    held = pipeline.snapshot()
    assert held["payloads"] == 30 and held["queue_depth"] == 5 and held["dropped_queue_full"] > 0 and held["diagnosed"] == 0
    assert held["in_flight"] == 1 and held["windows_in"] == held["dropped_queue_full"] + held["queue_depth"] + held["in_flight"]
    released.set()
    pipeline.stop()
    worker.join(30)
    counts = pipeline.snapshot()
    assert counts["windows_in"] == counts["diagnosed"] + counts["dropped_queue_full"] + counts["queue_depth"]
    assert counts["queue_depth"] == 0 and pipeline.store.count() == counts["diagnosed"] > 0


def test_a_failing_database_is_retried_then_its_batch_is_counted_as_dropped(tmp_path):
    from sqlalchemy.exc import OperationalError

    pipeline = pipeline_of(tmp_path, every_s=0.01, micro_batch=4, store_retries=2)
    record, failures, down = pipeline.store.record, [], []

    def flaky(rows, *args):
        if len(failures) < 2 or down:
            failures.append(len(rows))
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return record(rows, *args)

    pipeline.store.record = flaky
    x = np.random.default_rng(0).standard_normal(480).astype(np.float32)
    pipeline.ingest("site/m1/a", encode(0, 0.0, 12000.0, x))  # 4 windows: one batch, stored at the third attempt
    pipeline.stop()
    pipeline.run()
    assert pipeline.snapshot()["diagnosed"] == 4 and pipeline.snapshot()["store_errors"] == 2 and pipeline.store.count() == 4
    down.append(True)
    pipeline.stopping = False
    pipeline.ingest("site/m1/a", encode(1, 0.04, 12000.0, x))
    pipeline.stop()
    pipeline.run()
    counts = pipeline.snapshot()
    assert counts["dropped_store_failed"] == 4 and pipeline.store.count() == 4 and pipeline.accounted()
    assert counts["store_errors"] == 2 + 3 + 3, "the batch, then the final flush of its fates: each tried 3 times"
    assert "syndiag_dropped_store_failed_total 4" in pipeline.metrics()
    assert pipeline.store_problem.startswith("storing failed") and pipeline.store.fates() == {"stored": 4}
    down.clear()  # the database is back: the fates kept in hand are stored with the next flush
    pipeline.run()
    assert pipeline.store.fates() == {"stored": 4, "store_failed": 4} and pipeline.store_problem is None


def test_the_http_api_health_metrics_sensors_and_diagnose(tmp_path):
    from fastapi.testclient import TestClient

    from syndiag.service.app import create_app

    pipeline = pipeline_of(tmp_path)
    client = TestClient(create_app(pipeline, pipeline.config.checkpoint))
    assert client.get("/health").json()["status"] == "ok"
    assert "syndiag_windows_in_total 0" in client.get("/metrics").text
    assert client.get("/api/sensors").json()["sensors"] == [] and "<table>" in client.get("/").text
    with recording(tmp_path / "r.npy", 0.05).open("rb") as handle:
        found = client.post("/diagnose", params={"fs": 12000}, files={"file": ("r.npy", handle)})
    assert found.status_code == 200 and found.json()["prediction"] in ("normal", "DE_IR007", "FE_B021") and found.json()["windows"] > 0
    assert found.json()["source"] == "r.npy"
    assert client.post("/diagnose", files={"file": ("r.exe", b"MZ")}).status_code == 400
    bad = client.post("/diagnose", files={"file": ("r.npy", b"not numpy")})
    assert bad.status_code == 422 and "r.npy" in bad.json()["detail"]


def test_a_sensors_live_report_reads_its_buffer_and_latest_diagnosis(tmp_path, cwru_dir):
    from fastapi.testclient import TestClient

    from syndiag.data.cwru import read_cwru_mat
    from syndiag.service.app import create_app

    pipeline = pipeline_of(tmp_path, sensors={"site/m1/de": {"fs": 12000.0, "bearing": "cwru-drive-end", "rpm": 1797}})
    client = TestClient(create_app(pipeline, pipeline.config.checkpoint))
    assert client.get("/report/site/m1/de").status_code == 404
    x = read_cwru_mat(cwru_dir / "105.mat", 105, ["DE"])[0, :36000].astype(np.float32)  # inner race 0.007 in, drive end, 1797 rpm
    pipeline.ingest("site/m1/de", encode(0, 0.0, 12000.0, x[:6000]))
    assert client.get("/report/site/m1/de").status_code == 409  # half a second: too short for the envelope spectrum
    pipeline.ingest("site/m1/de", encode(1, 0.5, 12000.0, x[6000:]))
    pipeline.stop()
    pipeline.run()
    page = client.get("/report/site/m1/de")
    label = pipeline.store.latest()[0]["label"]
    assert page.status_code == 200 and "data:image/png;base64" in page.text and label in page.text
    assert "BPFI" in page.text and "inner race" in page.text.lower()


def test_serving_an_onnx_export_never_imports_torch(tmp_path):
    folder = onnx_folder(tmp_path / "onnx")
    script = (f"import sys, numpy as np\nfrom syndiag.config.service import ServeConfig\nfrom syndiag.service.runner import build_pipeline\n"
              f"from syndiag.service.payload import encode\np = build_pipeline(ServeConfig(checkpoint={str(folder)!r}, "
              f"database_url='sqlite:///{tmp_path / 'x.db'}'))\np.ingest('a/b/c', encode(0, 0.0, 12000.0, np.random.default_rng(0).standard_normal(12000).astype(np.float32)))\n"
              "p.stop(); p.run()\nassert p.snapshot()['diagnosed'] == 1\nfrom syndiag.service.live_report import live_report\n"
              "assert '<html' in live_report(p, 'a/b/c')\nassert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture
def broker(tmp_path):
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if shutil.os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        message = "mosquitto not installed (apt-get install mosquitto; .ci/run does)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                            # at-least-once needs the broker to hold what the service has not acknowledged (docs/service.md)
                                            "max_queued_messages 100000\n")

    def start():
        process = subprocess.Popen([exe, "-c", str(tmp_path / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return process
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    state = {"process": start(), "port": port, "restart": None}

    def restart():
        state["process"].kill()
        state["process"].wait()
        state["process"] = start()

    state["restart"] = restart
    yield state
    state["process"].kill()
    state["process"].wait()


def wait_for(condition, timeout=30.0):
    return wait_until(condition, timeout)


def test_sensors_stream_through_a_real_broker_are_diagnosed_stored_and_published_and_survive_a_broker_restart(tmp_path, broker):
    import paho.mqtt.client as mqtt

    from syndiag.service.runner import replay, start_service

    config = ServeConfig(checkpoint=onnx_folder(tmp_path / "onnx"), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                         broker_port=broker["port"], every_s=0.25)
    published = []
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="listener")
    listener.on_message = lambda c, u, m: published.append(m.topic)
    listener.connect("127.0.0.1", broker["port"])
    listener.subscribe("syndiag/+/+/+/diagnosis")
    listener.loop_start()
    service = start_service(config)
    try:
        assert wait_for(lambda: service.ingestion.connected)
        file = recording(tmp_path / "r.npy", 2.0)
        sent = replay([file], 2, "127.0.0.1", broker["port"], seconds=1.0, speed=4.0, fs=12000.0)
        assert sent["chunks"] == 20
        assert wait_for(lambda: service.pipeline.snapshot().get("diagnosed", 0) >= 8)  # 2 sensors x 4 per second of signal
        counts = service.pipeline.snapshot()
        assert counts["windows_in"] == counts["diagnosed"] + counts.get("dropped_queue_full", 0) + counts["queue_depth"]
        assert {r["sensor"] for r in service.pipeline.store.latest()} == {"site1/machine1/accel", "site1/machine2/accel"}
        assert wait_for(lambda: "syndiag/site1/machine1/accel/diagnosis" in published)
        broker["restart"]()
        assert wait_for(lambda: not service.ingestion.client.is_connected(), 5) or True
        assert wait_for(lambda: service.ingestion.client.is_connected(), 20)
        before = service.pipeline.snapshot()["diagnosed"]
        replay([file], 1, "127.0.0.1", broker["port"], seconds=0.5, speed=4.0, fs=12000.0)
        assert wait_for(lambda: service.pipeline.snapshot()["diagnosed"] > before)
    finally:
        service.stop()
        listener.loop_stop()


@pytest.fixture
def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        message = "chromium not installed (apt-get install chromium; .ci/run does)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    return exe


def dom(exe: str, url: str) -> str:
    done = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=6000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    return done.stdout


def test_the_dashboard_in_a_real_browser_shows_the_sensors_of_a_stream_and_updates(tmp_path, chromium):
    import threading

    import uvicorn

    from syndiag.service.app import create_app

    pipeline = pipeline_of(tmp_path, every_s=0.05)
    rng = np.random.default_rng(1)
    for sensor in ("site1/pump/accel", "site1/fan/accel", "site2/press/accel"):
        pipeline.ingest(sensor, encode(0, 1700000000.0, 12000.0, rng.standard_normal(1200).astype(np.float32)))
    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline, pipeline.config.checkpoint), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, 20) and wait_for(lambda: pipeline.snapshot().get("diagnosed", 0) >= 6)
        page = dom(chromium, f"http://127.0.0.1:{port}/site/site1")
        assert "pump" in page and "fan" in page and "press" not in page  # one site's sensors
        assert '<a href="/machine/site1/pump">pump</a>' in page and '<a href="/sensor/site1/fan/accel">site1/fan/accel</a>' in page
        assert 'class="uplot' not in page and 'data-refreshed="' in page, "the plant page lists, trends are one click away"
        machine = dom(chromium, f"http://127.0.0.1:{port}/machine/site1/pump")
        assert machine.count('class="uplot') >= 1 and 'data-sensor="site1/pump/accel"' in machine and "site1/fan/accel" not in machine
        assert '<a href="/">plant</a><a href="/site/site1">site1</a><a href="/machine/site1/pump">pump</a>' in machine
        first = int(page.split("diagnosed ")[1].split(",")[0])
        pipeline.ingest("site1/pump/accel", encode(1, 1700000000.1, 12000.0, rng.standard_normal(1200).astype(np.float32)))
        assert wait_for(lambda: pipeline.snapshot()["diagnosed"] > first)
        again = dom(chromium, f"http://127.0.0.1:{port}/site/site1")
        assert int(again.split("diagnosed ")[1].split(",")[0]) > first
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        pipeline.stop()


def test_upload_tokens_are_stored_as_digests_only_and_checked():
    import os
    import stat
    import tempfile
    from pathlib import Path

    from syndiag.registry.tokens import check_token, new_token

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.sha256"
        first, second = new_token(path), new_token(path)
        stored = path.read_text()
        assert first not in stored and second not in stored and len(stored.split()) == 2
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert check_token(path, first) and check_token(path, second)
        assert not check_token(path, first + "x") and not check_token(path, "") and not check_token(Path(tmp) / "none", first)


def test_kill_9_of_the_service_leaves_an_intact_database_and_a_restart_resumes(tmp_path, broker):
    import sqlite3

    from syndiag.service.runner import replay

    folder = onnx_folder(tmp_path / "onnx")
    db = tmp_path / "db.sqlite"
    port = free_port()
    from pathlib import Path

    args = [str(Path(sys.executable).with_name("syndiag")), "serve", "--checkpoint", str(folder), "--set", f"broker_port={broker['port']}",
            "--set", f"http_port={port}", "--set", f"database_url=sqlite:///{db}", "--set", "every_s=0.1"]
    file = recording(tmp_path / "r.npy", 2.0)

    def stored() -> int:
        if not db.exists():
            return 0
        with sqlite3.connect(db) as connection:
            return connection.execute("select count(*) from diagnoses").fetchone()[0]

    service = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: listening(port), 60)
        time.sleep(1.0)  # subscribed
        replay([file], 2, "127.0.0.1", broker["port"], seconds=1.0, speed=2.0, fs=12000.0)
        assert wait_for(lambda: stored() >= 10)
        service.kill()  # SIGKILL mid-stream
        service.wait()
        with sqlite3.connect(db) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = stored()
        service = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(lambda: listening(port), 60)
        time.sleep(1.0)
        replay([file], 1, "127.0.0.1", broker["port"], seconds=0.5, speed=2.0, fs=12000.0)
        assert wait_for(lambda: stored() > before)
    finally:
        service.kill()
        service.wait()
