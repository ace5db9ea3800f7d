"""The quick start (issue 33, item 6): the plant it replays holds only the test halves of real CWRU recordings, in whole
seconds; its service config declares each machine's sensor with its channels and loads as `serve` loads it; the replay
publishes every channel on its own stream at its own rate, samples as recorded; bad options exit 2 before anything trains."""

import json
import threading

import numpy as np
import pytest
from test_service import broker  # noqa: F401  (fixture: a real Mosquitto)
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.service import ServeConfig
from syndiag.data.cwru import cwru_sensor_set
from syndiag.data.windowing import split_boundary
from syndiag.service.payload import Limits, decode
from syndiag.service.plant_replay import MACHINES, plant_machines, replay_plant
from syndiag.service.quick_start import PLANT_FILE, model_recipe, write_service_config


@pytest.fixture(scope="module")
def data(shared_data, tmp_path_factory):
    return model_recipe(shared_data, tmp_path_factory.mktemp("quick-start")).data


@pytest.fixture(scope="module")
def machines(data):
    return plant_machines(data, {"pump1": "normal", "fan2": "DE_OR021"})


def test_machines_replay_the_test_halves_in_whole_windows(machines, data):
    recordings = {(r.label, r.condition): r for r in cwru_sensor_set(data, channels=("DE", "FE")).recordings}
    assert [m.label for m in machines] == ["normal", "DE_OR021"]
    normal, fault = machines
    rec = recordings[("DE_OR021", "1730rpm")]
    first = split_boundary(rec.channels["DE"].size, 0.5)
    de, fs = fault.channels["DE"]
    assert fs == 12000.0 and len(de) % 3000 == 0 and rec.channels["DE"].size - first - 3000 < len(de) <= rec.channels["DE"].size - first
    np.testing.assert_array_equal(de, rec.channels["DE"][first : first + len(de)].astype(np.float32))
    np.testing.assert_array_equal(fault.channels["FE"][0], rec.channels["FE"][first : first + len(de)].astype(np.float32))
    speed, speed_fs = fault.channels["speed"]
    assert speed_fs == 1.0 and len(speed) == len(de) // 12000 and 1700 < speed[0] < 1760
    # normal at 1730 rpm is a quarter of 97.mat (0.6 s of test range): the other loads' normal test ranges are added
    quarter = recordings[("normal", "1730rpm")]
    first = split_boundary(quarter.channels["DE"].size, 0.5)
    head = normal.channels["DE"][0]
    assert len(head) >= 2 * 12000 and len(head) % 3000 == 0 and normal.source.count("97.mat") >= 3
    np.testing.assert_array_equal(head[:6000], quarter.channels["DE"][first : first + 6000].astype(np.float32))


def test_service_config_declares_each_sensor_with_its_channels(machines, tmp_path):
    path = write_service_config(tmp_path, "runs/quick-start/sensor-finetuned", machines, 1883, 8000)
    served = ServeConfig.from_yaml(path)
    assert set(served.sensors) == {"plant/pump1/bearing", "plant/fan2/bearing"}
    channels = served.sensors["plant/fan2/bearing"].channels
    assert {name: (c.topic, c.fs, c.kind) for name, c in channels.items()} == {
        "DE": ("plant/fan2/de", 12000.0, "vibration"), "FE": ("plant/fan2/fe", 12000.0, "vibration"), "speed": ("plant/fan2/speed", 1.0, "speed")}
    assert served.health.fault_level == "alarm" and served.every_s == 0.25
    assert json.loads((tmp_path / PLANT_FILE).read_text())["plant/fan2/bearing"]["label"] == "DE_OR021"
    assert set(MACHINES.values()) >= {"normal", "DE_IR007", "DE_B014", "DE_OR021", "FE_IR021"}


def test_replay_publishes_every_channel_at_its_rate(machines, broker):  # noqa: F811
    import paho.mqtt.client as mqtt  # the test's own subscriber

    got: list[tuple[str, object]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="quick-start-test")
    client.on_message = lambda c, u, m: got.append((m.topic, decode(m.payload, Limits(min_fs=0.5))))  # the speed stream: 1 Hz
    client.connect("127.0.0.1", broker["port"])
    client.subscribe("syndiag/plant/+/+/data", qos=1)
    client.loop_start()
    try:
        threading.Event().wait(0.3)
        found = replay_plant(machines[:1], "127.0.0.1", broker["port"], seconds=1.2)
        threading.Event().wait(0.5)
    finally:
        client.loop_stop()
        client.disconnect()
    assert found["steps"] == 12
    de = [chunk for topic, chunk in got if topic == "syndiag/plant/pump1/de/data"]
    speed = [chunk for topic, chunk in got if topic == "syndiag/plant/pump1/speed/data"]
    assert len(de) == 12 and len([t for t, _ in got if t.endswith("/fe/data")]) == 12 and len(speed) == 2
    assert all(c.fs == 12000.0 and len(c.samples) == 1200 for c in de)
    assert de[0].t0 == found["started"] and de[1].t0 == pytest.approx(found["started"] + 0.1)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in de]), machines[0].channels["DE"][0][: 12 * 1200])
    assert [(c.t0 - found["started"], c.fs, len(c.samples)) for c in speed] == [(0.0, 1.0, 1), (1.0, 1.0, 1)]


def test_staggered_machines_run_their_clocks_behind_so_their_windows_fall_due_apart(machines, broker):  # noqa: F811
    import paho.mqtt.client as mqtt

    got: list[tuple[str, object]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stagger-test")
    client.on_message = lambda c, u, m: got.append((m.topic, decode(m.payload, Limits(min_fs=0.5))))
    client.connect("127.0.0.1", broker["port"])
    client.subscribe("syndiag/plant/+/de/data", qos=1)
    client.loop_start()
    try:
        threading.Event().wait(0.3)
        found = replay_plant(machines, "127.0.0.1", broker["port"], seconds=0.3, stagger_s=1.0)
        threading.Event().wait(0.5)
    finally:
        client.loop_stop()
        client.disconnect()
    first = {topic.split("/")[2]: chunk.t0 - found["started"] for topic, chunk in got if chunk.seq == 0}
    assert first == pytest.approx({"pump1": 0.0, "fan2": -0.5}), "of two machines, the second's clock half a second behind"


def test_quick_start_refuses_bad_options_before_training(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["quick-start", "--data-root", str(tmp_path), "--seconds", "0", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--seconds must be positive" in result.output
    result = runner.invoke(app, ["quick-start", "--data-root", str(tmp_path / "nowhere"), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not (tmp_path / "run" / "sensor-aligned").exists()


def test_a_trained_model_is_found_in_its_run_folder_from_any_working_directory(tmp_path, monkeypatch):
    from syndiag.service.quick_start import MODEL_FILE, ensure_model

    run_dir = tmp_path / "plant" / "runs" / "quick-start"
    (run_dir / "sensor-finetuned").mkdir(parents=True)
    record = {"checkpoint": "runs/quick-start/sensor-finetuned", "accuracy": 1.0, "test_windows": 1900}  # written from the repo root
    (run_dir / MODEL_FILE).write_text(json.dumps(record))
    monkeypatch.chdir(tmp_path)  # elsewhere: the record's path, read as it was written, names nothing here
    said = []
    found = ensure_model(tmp_path / "no-data", run_dir, said.append)
    assert found["trained_now"] is False and found["checkpoint"] == str(run_dir / "sensor-finetuned")
    assert said == [f"model {run_dir / 'sensor-finetuned'} already trained (accuracy 1.0000 on its 1900 test windows)"]
