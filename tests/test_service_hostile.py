"""The live service under hostile and careless input (issue 27): poison payloads through a real Mosquitto, a fuzz of
thousands of payloads, names that try to inject script into a real headless browser, kill -9 in both delivery modes,
a database deleted while serving, repeated windows, counters across a restart, and /health telling the truth."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_service import broker, chromium, dom, pipeline_of, wait_for  # noqa: F401  (fixtures)
from tiny_checkpoint import onnx_folder, recording

from syndiag.config.service import ServeConfig
from syndiag.service.net import free_port, listening
from syndiag.service.payload import HEADER, MAGIC, PayloadRefused, decode, encode

NOISE = np.random.default_rng(0).standard_normal(12000).astype(np.float32)


def refused(payload: bytes) -> str:
    with pytest.raises(PayloadRefused) as caught:
        decode(payload, 65536)
    return caught.value.reason


def test_poison_payloads_are_refused_by_name_before_anything_is_allocated():
    assert refused(b'{"seq": Infinity, "t0": 1e9, "fs": 12000, "samples": [1.0, 2.0]}') == "malformed"
    assert refused(json.dumps({"seq": 1, "t0": 1e9, "fs": 1e-9, "samples": [1.0]}).encode()) == "out_of_range"
    assert refused(HEADER.pack(MAGIC, 1, 1e9, 1e12, 4) + b"\0" * 16) == "out_of_range"  # fs = 1e12: 14.6 TiB resampled
    assert refused(HEADER.pack(MAGIC, 1, 1e300, 12000.0, 1) + b"\0" * 4) == "out_of_range"  # t0 far in the future
    assert refused(json.dumps({"seq": 2**40, "t0": 1.0, "fs": 12000, "samples": [1.0]}).encode()) == "malformed"
    assert refused(encode(1, 1e9, 12000.0, np.array([3e38, 1.0]))) == "out_of_range"  # finite, but the spectrogram overflows
    assert refused(b'{"seq": 1, "t0": 1.0, "fs": 12000, "samples": [1e400]}') == "non_finite"  # parses to inf
    pad = b'{"seq": 1, "t0": 1.0, "fs": 12000, "samples": [1.0], "pad": "' + b"x" * 3_000_000 + b'"}'
    assert refused(pad) == "oversize", "the size is checked before the JSON is parsed"
    assert refused(b"[" * 100000) == "malformed"


def test_repeated_payloads_and_a_clock_going_back_are_refused_and_same_end_windows_are_stored_once(tmp_path):
    pipeline = pipeline_of(tmp_path, every_s=0.05)
    for k in range(3):  # the same t0, different samples
        pipeline.ingest("site/m1/a", encode(k, 100.0, 12000.0, NOISE[:1200] * (k + 1)))
    pipeline.stop()
    pipeline.run()
    counts = pipeline.snapshot()
    assert counts["payloads"] == 1 and counts["payloads_refused_overlap"] == 2
    assert counts["diagnosed"] == pipeline.store.count() == 2 and pipeline.accounted()
    shared = pipeline_of(tmp_path / "shared", every_s=0.05, share_group="g")
    for k in range(3):
        shared.ingest("site/m1/a", encode(k, 100.0, 12000.0, NOISE[:1200] * (k + 1)))
    shared.stop()
    shared.run()
    counts = shared.snapshot()
    assert counts["diagnosed"] == shared.store.count() == 2 and counts["duplicate"] == 4 and shared.accounted()


def test_rates_names_and_the_sensor_cap_are_refused_and_counted(tmp_path):
    pipeline = pipeline_of(tmp_path, sensors={"site/m1/a": {"fs": 12000.0}}, max_sensors=2)
    pipeline.ingest("site/m1/a", encode(0, 1.0, 48000.0, NOISE))
    pipeline.ingest("x/<img src=x onerror=alert(1)>/accel<b>", encode(0, 1.0, 12000.0, NOISE))
    pipeline.ingest("site/m1/b", encode(0, 1.0, 12000.0, NOISE))
    pipeline.ingest("site/m1/c", encode(0, 1.0, 12000.0, NOISE))
    pipeline.ingest("site/m1/d", encode(0, 1.0, 12000.0, NOISE))
    counts = pipeline.snapshot()
    assert counts["payloads_refused_rate_mismatch"] == 1 and counts["payloads_refused_bad_name"] == 1
    assert counts["payloads_refused_sensor_cap"] == 1 and counts["sensors"] == 2


def test_counters_and_fates_survive_a_restart(tmp_path):
    first = pipeline_of(tmp_path, every_s=0.05, queue_size=2, overload="drop-newest")
    first.ingest("site/m1/a", encode(0, 100.0, 12000.0, NOISE[:3000]))  # 5 windows, 2 queued, 3 dropped
    first.ingest("site/m1/a", b"garbage")
    first.stop()
    first.run()
    before = first.snapshot()
    assert before["diagnosed"] == 2 and before["dropped_queue_full"] == 3 and before["payloads_refused_malformed"] == 1
    again = pipeline_of(tmp_path, every_s=0.05)
    after = again.snapshot()
    assert {k: after[k] for k in ("diagnosed", "dropped_queue_full", "payloads_refused_malformed", "windows_in")} == \
           {"diagnosed": 2, "dropped_queue_full": 3, "payloads_refused_malformed": 1, "windows_in": 5}
    assert again.store.fates() == {"stored": 2, "queue_full": 3}


def test_a_database_deleted_while_serving_is_noticed_recreated_and_reported(tmp_path):
    from fastapi.testclient import TestClient

    from syndiag.service.app import create_app

    pipeline = pipeline_of(tmp_path, every_s=0.05)
    client = TestClient(create_app(pipeline, pipeline.config.checkpoint))
    pipeline.ingest("site/m1/a", encode(0, 100.0, 12000.0, NOISE[:1200]))
    pipeline.stop()
    pipeline.run()
    assert client.get("/health").json()["status"] == "ok"
    (tmp_path / "db.sqlite").unlink()
    health = client.get("/health")
    assert health.status_code == 503 and "deleted" in health.json()["checks"]["store"]
    pipeline.ingest("site/m1/a", encode(1, 100.1, 12000.0, NOISE[:1200]))
    pipeline.run()
    assert (tmp_path / "db.sqlite").exists() and pipeline.store.count() == 2 and pipeline.snapshot()["store_recreated"] == 1
    assert "earlier diagnoses are gone" in client.get("/health").json()["checks"]["store"]


def test_a_model_answering_nan_is_counted_not_stored(tmp_path):
    pipeline = pipeline_of(tmp_path, every_s=0.05)
    pipeline.predictor.classify = lambda images: np.full((len(images), len(pipeline.class_names)), np.nan)
    pipeline.ingest("site/m1/a", encode(0, 100.0, 12000.0, NOISE[:1200]))
    pipeline.stop()
    pipeline.run()
    assert pipeline.snapshot()["dropped_non_finite_output"] == 2 and pipeline.store.fates() == {"stored": 0, "non_finite_output": 2}


def test_diagnose_runs_off_the_event_loop_so_health_answers_meanwhile(tmp_path, monkeypatch):
    import httpx
    import uvicorn

    import syndiag.service.app as service_app
    from syndiag.errors import DataError
    from syndiag.service.app import create_app

    started, release = threading.Event(), threading.Event()

    def slow(*args, **kwargs):
        started.set()
        assert release.wait(30)
        raise DataError("released")

    monkeypatch.setattr(service_app, "diagnose_file", slow)
    pipeline = pipeline_of(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline, pipeline.config.checkpoint), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    try:
        assert wait_for(lambda: server.started, 20)
        posting = threading.Thread(target=lambda: httpx.post(f"http://127.0.0.1:{port}/diagnose", files={"file": ("r.npy", b"x")}, timeout=60))
        posting.start()
        assert started.wait(20)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)  # would time out while /diagnose held the loop
        assert health.status_code == 200 and health.headers["content-security-policy"].startswith("default-src 'none'")
        release.set()
        posting.join(30)
    finally:
        release.set()
        server.should_exit = True


def test_names_from_outside_never_run_as_script_in_a_real_browser_and_a_far_future_time_blanks_nothing(tmp_path, chromium):
    import uvicorn

    from syndiag.service.app import create_app

    pipeline = pipeline_of(tmp_path, every_s=0.05)
    hostile = "x/<img src=x onerror=\"document.title='pwned'\">/accel<b>"
    row = {"label": "normal", "probability": 0.9, "rms": 1.0, "unknown": None, "latency_ms": 1.0, "stored_at": 0.0}
    pipeline.store.record([{**row, "sensor": hostile, "t_end": 1.7e9}, {**row, "sensor": "site1/pump/accel", "t_end": 1e300},
                           {**row, "sensor": "site1/fan/accel", "t_end": 1.7e9, "label": "<script>document.title='pwned'</script>"}])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline, pipeline.config.checkpoint), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    try:
        assert wait_for(lambda: server.started, 20)
        page = dom(chromium, f"http://127.0.0.1:{port}/")
        assert "<title>syndiag live</title>" in page and "pwned" not in page.split("<title>")[1].split("</title>")[0]
        assert "&lt;img src=x" in page and "<img src" not in page, "the machine name is shown as text"
        assert "&lt;script&gt;" in page and "invalid time 1e+300" in page and "pump" in page and "fan" in page
    finally:
        server.should_exit = True


def serve_args(folder: Path, broker_port: int, http_port: int, db: Path, *extra: str) -> list[str]:
    return [str(Path(sys.executable).with_name("syndiag")), "serve", "--checkpoint", str(folder), "--set", f"broker_port={broker_port}",
            "--set", f"http_port={http_port}", "--set", f"database_url=sqlite:///{db}", "--set", "every_s=0.1", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["single", "shared"])
def test_kill_9_mid_stream_leaves_no_window_unaccounted(tmp_path, broker, mode):  # noqa: F811
    from syndiag.service.runner import replay
    from syndiag.service.store import Store

    folder, db, port = onnx_folder(tmp_path / "onnx"), tmp_path / "db.sqlite", free_port()
    extra = ("--set", "share_group=g", "--set", "client_id=serve-k") if mode == "shared" else ()
    args = serve_args(folder, broker["port"], port, db, *extra)
    service = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sent = {}
    try:
        assert wait_for(lambda: listening(port), 60)
        time.sleep(1.0)
        file = recording(tmp_path / "r.npy", 4.0)
        streaming = threading.Thread(target=lambda: sent.update(replay([file], 2, "127.0.0.1", broker["port"], seconds=4.0, speed=2.0,
                                                                        fs=12000.0, chunk_s=0.1 if mode == "single" else 0.5)))
        streaming.start()
        assert wait_for(lambda: db.exists() and Store(f"sqlite:///{db}").count() >= 6, 60)
        service.kill()  # SIGKILL mid-stream, payloads in hand
        service.wait()
        time.sleep(0.5)
        service = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        streaming.join(60)
        expected = 2 * 40  # two sensors, one window per 0.1 s of signal over 4 s
        store = Store(f"sqlite:///{db}")
        assert wait_for(lambda: sum(store.fates().values()) >= expected, 60), store.fates()
        fates = store.fates()
        assert sum(fates.values()) == expected and fates["stored"] >= expected - 10, fates
    finally:
        service.kill()
        service.wait()


@pytest.mark.slow
def test_ten_thousand_hostile_payloads_through_a_real_broker_never_stop_ingestion_and_all_are_counted(tmp_path, broker):  # noqa: F811
    import paho.mqtt.client as mqtt

    from syndiag.service.pipeline import FATES, REFUSALS
    from syndiag.service.runner import start_service

    config = ServeConfig(checkpoint=onnx_folder(tmp_path / "onnx"), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                         broker_port=broker["port"], every_s=0.25, client_id="fuzzed", max_sensors=50)
    service = start_service(config)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fuzzer")
    client.connect("127.0.0.1", broker["port"])
    client.loop_start()
    published = []
    valid = encode(0, 1000.0, 12000.0, NOISE[:1200])
    payloads = st.one_of(
        st.binary(max_size=200),
        st.builds(lambda cut, flip, byte: bytearray(valid[:cut] + bytes([byte]) + valid[cut + 1 :]) if flip else valid[:cut],
                  st.integers(0, len(valid)), st.booleans(), st.integers(0, 255)),
        st.builds(lambda seq, t0, fs, samples: json.dumps({"seq": seq, "t0": t0, "fs": fs, "samples": samples}).encode(),
                  st.one_of(st.integers(-5, 2**40), st.floats(), st.text(max_size=3)), st.one_of(st.floats(), st.integers(-5, 10**12)),
                  st.one_of(st.floats(), st.integers(-5, 10**9)), st.lists(st.one_of(st.floats(), st.integers()), max_size=20)),
        st.builds(lambda seq, t0, fs, n: encode(seq, t0, fs, NOISE[:n]), st.integers(0, 2**32 - 1),
                  st.floats(-1e12, 1e12, allow_nan=False), st.floats(-1e6, 1e6, allow_nan=False, width=32), st.integers(1, 3000)))
    topics = st.one_of(st.sampled_from(["site/m1/a", "site/m2/b", "site/m3/c"]),
                       st.sampled_from(["x/<img src=x onerror=alert(1)>/accel<b>", "a/b/c/d", "a//b", "é/ü/ß"]))

    @settings(max_examples=12_000, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(topic=topics, payload=payloads)
    def publish(topic, payload):
        client.publish(f"syndiag/{topic}/data", bytes(payload), qos=1)
        if topic.count("/") == 2:  # what the subscription syndiag/+/+/+/data delivers
            published.append(topic)

    try:
        assert wait_for(lambda: service.ingestion.connected)
        publish()
        for seq in range(8):  # after the storm, valid signal is still taken and diagnosed
            client.publish("syndiag/site/ok/a/data", encode(seq, 5000.0 + seq * 0.1, 12000.0, NOISE[:1200]), qos=1).wait_for_publish(10)

        def counted():
            c = service.pipeline.snapshot()
            return c["payloads"] + sum(c[f"payloads_refused_{r}"] for r in REFUSALS)

        assert wait_for(lambda: counted() >= len(published) + 8, 120), (counted(), len(published))
        assert wait_for(lambda: service.pipeline.snapshot()["queue_depth"] == 0 and service.pipeline.snapshot()["in_flight"] == 0, 60)
        time.sleep(2 * config.flush_s)
        counts = service.pipeline.snapshot()
        assert counted() == len(published) + 8 and len(published) >= 10_000 and counts["payloads_refused_bad_name"] > 1000
        assert service.health()["status"] == "ok" and service.ingestion.alive()
        assert counts["windows_in"] == sum(counts[f] for f in FATES), "windows in = stored + counted drops, exactly"
        fates = service.pipeline.store.fates()
        assert fates["stored"] == counts["diagnosed"] and sum(fates.values()) == counts["windows_in"] - counts["duplicate"]
        assert any(r["sensor"] == "site/ok/a" for r in service.pipeline.store.latest())
    finally:
        service.stop()
        client.loop_stop()


def test_health_names_a_stopped_mqtt_thread_and_a_lost_broker(tmp_path, broker):  # noqa: F811
    from syndiag.service.runner import start_service

    config = ServeConfig(checkpoint=onnx_folder(tmp_path / "onnx"), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                         broker_port=broker["port"], client_id="health")
    service = start_service(config)
    try:
        assert wait_for(lambda: service.ingestion.connected) and service.health()["status"] == "ok"
        broker["process"].kill()
        broker["process"].wait()
        assert wait_for(lambda: service.health()["checks"]["broker"] == "disconnected", 20)
        service.ingestion.client.loop_stop()
        health = service.health()
        assert health["status"] == "degraded" and health["problems"] == {"ingestion": "stopped", "broker": "disconnected"}
    finally:
        service.stop()


def test_a_recording_named_with_markup_reaches_report_md_and_html_as_text(tmp_path, cwru_dir):
    from syndiag.config.report import ReportConfig
    from syndiag.data.cwru import read_cwru_mat
    from syndiag.workflows.report import run_report

    x = read_cwru_mat(cwru_dir / "130.mat", 130, ["DE"])[0, :36000]
    hostile = tmp_path / "x<img src=x onerror=alert(1)>_[link](http:e)|cell.npy"
    np.save(hostile, x)
    report = run_report(hostile, None, ReportConfig(rpm=1797, fs=12000.0, generator=None, bearing="cwru-drive-end"), tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    assert report is not None and "<img src=x" not in md and "&lt;img src=x onerror=alert(1)&gt;\\_\\[link\\](http:e)\\|cell.npy" in md
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_sigterm_stops_the_service_cleanly_with_every_fate_stored(tmp_path, broker):  # noqa: F811
    import signal

    from syndiag.service.runner import replay
    from syndiag.service.store import Store

    db, port = tmp_path / "db.sqlite", free_port()
    service = subprocess.Popen(serve_args(onnx_folder(tmp_path / "onnx"), broker["port"], port, db), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: listening(port), 60)
        time.sleep(1.0)
        replay([recording(tmp_path / "r.npy", 2.0)], 1, "127.0.0.1", broker["port"], seconds=1.0, speed=4.0, fs=12000.0)
        import httpx

        taken = lambda: "syndiag_windows_in_total 10" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text  # noqa: E731
        assert wait_for(taken, 60), "the service took in the 10 windows"
        service.send_signal(signal.SIGTERM)  # with windows still queued or in flight: they are diagnosed and stored first
        out, err = service.communicate(timeout=60)
        assert service.returncode == 0 and "stopped (SIGTERM)" in out and "Traceback" not in err, (out, err)
        assert sum(Store(f"sqlite:///{db}").fates().values()) == 10, "one window per 0.1 s of signal, each with a stored fate"
    finally:
        service.kill()


def test_the_stored_counters_count_the_rows_stored_in_the_same_transaction(tmp_path):
    from syndiag.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    row = {"sensor": "s/m/a", "t_end": 1.0, "label": "normal", "probability": 0.9, "rms": 1.0, "unknown": None, "latency_ms": 1.0,
           "stored_at": 0.0}
    assert store.record([row, {**row, "t_end": 2.0}], [("s/m/a", 3.0, "queue_full")], "svc", {"diagnosed": 5, "dropped_queue_full": 1}) == 2
    assert store.record([row], [], "svc", {"diagnosed": 7, "dropped_queue_full": 1}) == 0  # a repeat
    assert store.counters_of("svc") == {"diagnosed": 7, "duplicate": 1, "dropped_queue_full": 1}
    assert store.fates() == {"stored": 2, "queue_full": 1}
