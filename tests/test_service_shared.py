"""Two `syndiag serve` processes share the sensors through an MQTT 5 shared subscription and write to one PostgreSQL
store (Debian's postgresql, started here); one is killed mid-stream and restarted: every window is stored exactly once."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import in_ci
from test_service import broker, wait_for  # noqa: F401  (the broker fixture)
from tiny_checkpoint import onnx_folder, recording

from syndiag.service.buffers import payload_windows
from syndiag.service.net import free_port, listening
from syndiag.service.payload import Chunk


def test_a_payload_on_its_own_gives_the_windows_that_end_on_the_sensor_clock():
    x = np.arange(3000, dtype=np.float32)
    windows, missed = payload_windows("s/m/a", Chunk(0, 10.0, 12000.0, x), 64, 12000.0, 0.25, 0.0)
    assert missed == 0 and [w.t_end for w in windows] == [10.25] and windows[0].samples[-1] == 2999.0
    windows, missed = payload_windows("s/m/a", Chunk(0, 10.2, 12000.0, x), 1000, 12000.0, 0.25, 0.0)
    assert [(w.t_end, w.samples) for w in windows] == [(10.25, None)] and missed == 1, \
        "the window ending at 10.25 s needs 1000 samples, the payload holds 600 before it: its fate is incomplete"
    halves = [payload_windows("s/m/a", Chunk(i, 10.0 + i * 0.125, 12000.0, x[:1500]), 64, 12000.0, 0.25, 0.0)[0] for i in range(4)]
    assert [w.t_end for part in halves for w in part] == [10.25, 10.5], "each window in exactly one payload"


@pytest.fixture
def postgres():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        message = "PostgreSQL not installed (apt-get install postgresql; .ci/run does)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    bin_dir = found[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="syndiag-pg-", dir="/tmp"))
    as_postgres = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(folder / "db"), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(folder / "db"), "-l", str(folder / "log"), "-w", "start", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"], check=True, capture_output=True)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(folder / "db"), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_services_share_the_sensors_and_a_killed_one_loses_and_repeats_nothing(tmp_path, broker, postgres):  # noqa: F811
    from sqlalchemy import create_engine, text

    from syndiag.service.runner import replay

    folder = onnx_folder(tmp_path / "onnx")
    ports = {"a": free_port(), "b": free_port()}

    def start(name):
        args = [str(Path(sys.executable).with_name("syndiag")), "serve", "--checkpoint", str(folder), "--set", f"broker_port={broker['port']}",
                "--set", f"http_port={ports[name]}", "--set", f"database_url={postgres}", "--set", "every_s=0.25",
                "--set", "share_group=workers", "--set", f"client_id=serve-{name}"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(lambda: listening(ports[name]), 60)
        return process

    engine = create_engine(postgres)

    def stored() -> list[tuple[str, float]]:
        try:
            with engine.connect() as connection:
                return [tuple(r) for r in connection.execute(text("select sensor, t_end from diagnoses"))]
        except Exception:  # noqa: BLE001 - the table appears with the first service
            return []

    services = {name: start(name) for name in ("a", "b")}
    time.sleep(1.5)  # both subscribed
    file = recording(tmp_path / "r.npy", 2.0)
    sent = {}
    streaming = threading.Thread(target=lambda: sent.update(replay([file], 4, "127.0.0.1", broker["port"], seconds=6.0, chunk_s=0.25,
                                                                    speed=1.0, fs=12000.0)))
    try:
        streaming.start()
        assert wait_for(lambda: len(stored()) >= 12, 60)
        services["a"].kill()  # SIGKILL mid-stream: its unacknowledged payloads stay with its session at the broker
        services["a"].wait()
        time.sleep(1.0)
        services["a"] = start("a")
        streaming.join(60)
        assert sent["chunks"] == 4 * 24
        assert wait_for(lambda: len(stored()) >= 96, 60), f"{len(stored())} of 96 windows stored"
        rows = stored()
        assert len(rows) == len(set(rows)) == 96, "every window once"
        assert {s for s, _ in rows} == {f"site1/machine{i}/accel" for i in range(1, 5)}
        import httpx

        shares = [float(next(line.split()[1] for line in httpx.get(f"http://127.0.0.1:{ports[n]}/metrics").text.splitlines()
                             if line.startswith("syndiag_diagnosed_total"))) for n in ("a", "b")]
        assert all(share > 0 for share in shares), f"both processes diagnosed: {shares}"
    finally:
        for process in services.values():
            process.kill()
            process.wait()
        engine.dispose()
