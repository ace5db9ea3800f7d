"""A sensor model served live (issue 33): vibration, speed and temperature each on its own stream at its own rate, kept in
a ring buffer per channel and cut into windows ending at one instant exactly as serving/stream.py cuts a recording's;
a declared rate the model cannot use is refused at start naming sensor, channel and rates, one arriving at run time is
refused, counted and logged, and every window keeps its fate."""

import logging
import threading

import numpy as np
import pytest
import torch
import yaml
from test_service import broker  # noqa: F401  (fixture: a real Mosquitto)
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.data import DataConfig
from syndiag.config.sensor import ChannelSpec, SensorModelConfig
from syndiag.config.service import ServeConfig
from syndiag.data.cwru_classes import cwru_classes
from syndiag.data.model_input import ModelInput
from syndiag.errors import ConfigError
from syndiag.models.backbones import load_backbone
from syndiag.models.sensor import SensorModel
from syndiag.models.visual_extractor import VisualExtractor
from syndiag.service.assembly import layout_batch
from syndiag.service.payload import PayloadRefused, encode
from syndiag.service.pipeline import Pipeline
from syndiag.service.store import Store
from syndiag.serving.predictor import load_predictor
from syndiag.serving.stream import cut_block

LAYOUT = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=512), ChannelSpec(name="speed", kind="speed", fs=1, length=1),
          ChannelSpec(name="temperature", kind="temperature", fs=2, length=3)]
DATA = {"window": {"per_class": 10, "step": 2048, "length": 1024}, "spectrogram": {"image_size": 32, "n_scales": 16},
        "cwru": {"channels": ["DE"], "loads": [3]}}
SENSOR = "plant/pump1/bearing"
STREAMS = {"DE": "plant/pump1/de", "speed": "plant/pump1/speed", "temperature": "plant/pump1/temp"}
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny sensor model with random (seeded) heads, so its answer depends on every channel, saved as finetune saves one."""
    root = tmp_path_factory.mktemp("served-sensor")
    backbone = save_tiny_backbone(root / "tiny-llama")
    torch.manual_seed(0)
    config = SensorModelConfig(backbone=str(backbone), input_prompts=1, deep_prompts=1, use_spectrogram=True,
                               encoder={"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64}, adapter={"queries": 2, "heads": 2})
    classes = cwru_classes()
    model = SensorModel(config, load_backbone(str(backbone), False, None), LAYOUT, [c.name for c in classes], [c.prompt for c in classes],
                        (0.0, 0.028), VisualExtractor(32, [8, 16], 2, 3, 4))
    with torch.no_grad():
        model.heads["fault"].weight.normal_(0, 5.0)
    return model.save_pretrained(root / "model", extra={
        "stage": "finetuned", "task": {"k": 2, "seed": 0, "source": "1730rpm", "target": "1730rpm"},
        "data": DataConfig.model_validate(DATA).model_dump(mode="json"), "layout": [c.model_dump(mode="json") for c in LAYOUT],
        "fs": 12000.0, "modality_dropout": {"align": 0.0, "finetune": 0.0}})


def serve_config(tmp_path, checkpoint, **channels) -> ServeConfig:
    rates = {"DE": 12000.0, "speed": 1.0, "temperature": 2.0}
    kinds = {"DE": "vibration", "speed": "speed", "temperature": "temperature"}
    declared = {name: {"topic": STREAMS[name], "fs": rates[name], "kind": kinds[name]} for name in rates}
    declared.update(channels)
    return ServeConfig.from_dict({"checkpoint": str(checkpoint), "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
                                  "sensors": {SENSOR: {"channels": {k: v for k, v in declared.items() if v is not None}}},
                                  "health": {"enabled": False}})


def recording(cwru_dir, seconds):
    from syndiag.data.cwru import read_cwru_mat

    de = read_cwru_mat(cwru_dir / "130.mat", 130, ["DE"])[0, : int(seconds * 12000)].astype(np.float32)
    speed = (1797.0 + np.arange(seconds)).astype(np.float32)  # a shaft speeding up: each window reads its own second
    temperature = (40.0 + 0.25 * np.arange(2 * seconds)).astype(np.float32)
    return {"DE": de, "speed": speed, "temperature": temperature}


def publish(pipeline, signals, seconds, chunk_s=0.1, rates=None):
    """Every channel's payloads in time order, each stream at its own rate and chunking (speed once a second)."""
    rates = rates or {"DE": 12000.0, "speed": 1.0, "temperature": 2.0}
    events = []
    for name, x in signals.items():
        size = max(1, round((chunk_s if rates[name] >= 100 else 1.0) * rates[name]))
        for seq, start in enumerate(range(0, int(seconds * rates[name]), size)):
            events.append(((start + size) / rates[name], name, seq, start, x[start : start + size], rates[name]))
    for _, name, seq, start, samples, rate in sorted(events, key=lambda e: (e[0], e[1])):
        pipeline.ingest(STREAMS[name], encode(seq, T0 + start / rate, rate, samples))


def run_pipeline(pipeline, work):
    worker = threading.Thread(target=pipeline.run)
    worker.start()
    try:
        work()
    finally:
        pipeline.stop()
        worker.join(timeout=60)


def test_a_sensor_model_is_served_with_each_channel_at_its_own_rate_and_its_windows_are_those_of_a_recording(tmp_path, checkpoint, cwru_dir):
    config = serve_config(tmp_path, checkpoint)
    predictor = load_predictor(checkpoint)
    store = Store(config.database_url)
    pipeline = Pipeline(config, predictor, store)
    seen = []
    diagnosed = pipeline._diagnosed
    pipeline._diagnosed = lambda batch: (seen.extend(batch), diagnosed(batch))[1]
    signals = recording(cwru_dir, 6)
    run_pipeline(pipeline, lambda: publish(pipeline, signals, 6))
    counts = pipeline.snapshot()
    assert counts["windows_in"] == 6 and counts["diagnosed"] == 5 and counts["dropped_incomplete"] == 1 and pipeline.accounted(), counts
    rows = sorted(store.history(SENSOR), key=lambda r: r["t_end"])
    assert [r["t_end"] - T0 for r in rows] == [2.0, 3.0, 4.0, 5.0, 6.0], \
        "one window per every_s, ending on the sensor clock; the first (1 s) lacks the temperature's 1.5 s: incomplete"
    # the same windows cut from the recording by serving/stream.py (the one cut of `syndiag diagnose`)
    found = ModelInput("file", signals)
    ends = np.array([2.0, 3.0, 4.0, 5.0, 6.0])
    reference, present, images = cut_block(found, predictor.plan, ends)
    live = layout_batch(predictor.plan, sorted(seen, key=lambda w: w.t_end))
    for name in reference:
        np.testing.assert_array_equal(live.signals[name], reference[name], err_msg=name)
    assert live.signals["speed"][:, 0].tolist() == [1798.0, 1799.0, 1800.0, 1801.0, 1802.0], "each window the speed of its last second"
    assert live.signals["temperature"][0].tolist() == [40.25, 40.5, 40.75]
    np.testing.assert_array_equal(live.present, present)
    np.testing.assert_array_equal(live.images, images)
    probabilities = predictor.predict(live.__class__(reference, present, images)).probabilities
    assert [r["probability"] for r in rows] == pytest.approx(probabilities.max(axis=1).tolist(), rel=1e-5)
    assert len({r["label"] for r in rows}) >= 1 and np.ptp(probabilities.max(axis=1)) > 0, "the answer depends on the window"
    from syndiag.service.live_report import live_report

    assert f"{SENSOR} (live, last 4.0 s)" in live_report(pipeline, SENSOR), "the sensor's report reads its vibration channel's buffer"


def test_a_late_or_missing_channel_gives_the_window_a_fate_and_a_payload_at_another_rate_is_refused_counted_and_logged(
        tmp_path, checkpoint, cwru_dir, caplog):
    config = serve_config(tmp_path, checkpoint)
    pipeline = Pipeline(config, load_predictor(checkpoint), Store(config.database_url))
    signals = recording(cwru_dir, 5)
    del signals["temperature"]  # the temperature stream is silent: windows wait sensor_wait_s, then are incomplete (no dropout)
    caplog.set_level(logging.WARNING, logger="syndiag.service.pipeline")

    def work():
        publish(pipeline, signals, 5)
        for seq in range(3):  # the vibration stream at another rate than declared: refused, counted, logged once
            pipeline.ingest(STREAMS["DE"], encode(100 + seq, T0 + 10 + seq * 0.1, 24000.0, np.zeros(2400, np.float32)))
        with pytest.raises(PayloadRefused, match="rate_mismatch|declared 2 Hz"):  # a retained declaration cannot change a channel's rate
            pipeline.declare(STREAMS["temperature"], 10.0)
        pipeline.ingest("plant/pump1/other", encode(0, T0, 12000.0, np.zeros(1200, np.float32)))

    run_pipeline(pipeline, work)
    counts = pipeline.snapshot()
    assert counts["payloads_refused_rate_mismatch"] == 3 and counts["payloads_refused_undeclared"] == 1
    assert counts["windows_in"] == 4 and counts["dropped_incomplete"] == 4 and pipeline.accounted(), \
        "ends 1..4 s: each cut once the vibration is sensor_wait_s past it, without the temperature it needs: incomplete"
    assert pipeline.declared[STREAMS["temperature"]] == 2.0
    warnings = [r.getMessage() for r in caplog.records if "rate_mismatch" in r.getMessage()]
    assert len(warnings) == 1 + 1 and "plant/pump1/de (channel DE of sensor plant/pump1/bearing): payload at 24000 Hz, declared 12000 Hz" in warnings[0]
    assert "a retained declaration at 10 Hz, declared 2 Hz" in warnings[1]


def test_a_rate_the_model_cannot_use_is_refused_at_start_naming_sensor_channel_and_rates(tmp_path, checkpoint):
    predictor = load_predictor(checkpoint)

    def refused(**channels):
        with pytest.raises(ConfigError) as caught:
            Pipeline(serve_config(tmp_path, checkpoint, **channels), predictor, Store(f"sqlite:///{tmp_path / 'r.sqlite'}"))
        return str(caught.value)

    message = refused(DE={"topic": STREAMS["DE"], "fs": 6000.0})
    assert f"sensors.{SENSOR}.channels.DE: declared at 6000 Hz, which {checkpoint} cannot use (DE (vibration, 12000 Hz, 512 samples))" in message
    assert "slower than the 12000 Hz the model reads its spectrum at" in message
    assert "declared at 0.5 Hz" in refused(speed={"topic": STREAMS["speed"], "fs": 0.5, "kind": "speed"})
    assert "has no channel 'FE'" in refused(FE={"topic": "plant/pump1/fe", "fs": 12000.0})
    assert "declared a vibration channel, " in refused(speed={"topic": STREAMS["speed"], "fs": 200.0})
    assert "channels.speed.fs 1 Hz outside 100 .. max_fs" in refused(speed={"topic": STREAMS["speed"], "fs": 1.0})
    assert "lacks temperature (temperature, 2 Hz, 3 samples)" in refused(temperature=None)
    Pipeline(serve_config(tmp_path, checkpoint, DE={"topic": STREAMS["DE"], "fs": 48000.0}), predictor,
             Store(f"sqlite:///{tmp_path / 'ok.sqlite'}"))  # faster vibration is resampled, as the file reader does
    folder = tmp_path / "serve.yaml"
    folder.write_text(yaml.safe_dump({"checkpoint": str(checkpoint), "database_url": f"sqlite:///{tmp_path / 'cli.sqlite'}",
                                      "sensors": {SENSOR: {"channels": {"DE": {"topic": STREAMS["DE"], "fs": 6000.0}}}}}))
    result = CliRunner().invoke(app, ["serve", "-c", str(folder)])
    assert result.exit_code == 2 and f"sensors.{SENSOR}.channels.DE: declared at 6000 Hz" in " ".join(result.output.split()), result.output
    with pytest.raises(Exception, match="declare the sensor's rate"):
        ServeConfig.from_dict({"sensors": {SENSOR: {"fs": 12000.0, "channels": {"DE": {"topic": STREAMS["DE"], "fs": 12000.0}}}}})


def test_a_sensor_model_is_served_from_three_streams_through_a_real_broker(tmp_path, checkpoint, cwru_dir, broker):  # noqa: F811
    import json

    import paho.mqtt.client as mqtt

    from syndiag.service.net import wait_until
    from syndiag.service.runner import start_service

    config = ServeConfig.model_validate({**serve_config(tmp_path, checkpoint).model_dump(), "broker_port": broker["port"]})
    service = start_service(config)
    heard = []
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="diagnosis-listener")
    listener.on_message = lambda c, u, m: heard.append(json.loads(m.payload))
    listener.connect("127.0.0.1", broker["port"])
    listener.subscribe(f"syndiag/{SENSOR}/diagnosis", qos=1)
    listener.loop_start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="three-streams")
    sender.connect("127.0.0.1", broker["port"])
    sender.loop_start()
    try:
        assert wait_until(lambda: service.ingestion.connected, 30)
        sender.publish(f"syndiag/{STREAMS['temperature']}/config", json.dumps({"fs": 5.0}), qos=1, retain=True).wait_for_publish(5)
        signals = recording(cwru_dir, 5)

        class Broker:  # publish() of this module, each payload through the broker to its stream's topic
            def ingest(self, stream, payload):
                sender.publish(f"syndiag/{stream}/data", payload, qos=1).wait_for_publish(5)

        publish(Broker(), signals, 5)
        assert wait_until(lambda: service.pipeline.snapshot()["diagnosed"] == 4, 60), service.pipeline.snapshot()
        assert wait_until(lambda: len(heard) == 4, 30)
        counts = service.pipeline.snapshot()
        assert counts["dropped_incomplete"] == 1 and counts["payloads_refused_rate_mismatch"] == 1 and service.pipeline.accounted()
        assert sorted(round(h["t_end"] - T0, 3) for h in heard) == [2.0, 3.0, 4.0, 5.0] and {h["sensor"] for h in heard} == {SENSOR}
    finally:
        service.stop()
        listener.loop_stop()
        sender.loop_stop()


def test_a_grid_step_without_an_exact_binary_value_cuts_a_snapshot_window_whole_at_once_at_epoch_seconds(tmp_path, checkpoint, cwru_dir):
    """A snapshot stream (FEMTO: 0.1 s bursts, then minutes of silence): the window ending with a burst must be cut at
    once, though n x 0.1 s near 1.7e9 s lies ~2e-7 s past the burst's end; minutes later its samples are gone."""
    from syndiag.service.net import wait_until

    declared = serve_config(tmp_path, checkpoint, DE={"topic": STREAMS["DE"], "fs": 25600.0, "kind": "vibration"})
    config = ServeConfig.from_dict({**declared.model_dump(mode="json"), "every_s": 0.1})
    pipeline = Pipeline(config, load_predictor(checkpoint), Store(config.database_url))
    signals = recording(cwru_dir, 8)
    cut_at_once = []

    def work():
        for k, (seconds, start) in enumerate(((range(4), 3.0), (range(4, 6), 5.0))):  # the slow channels, then 0.1 s of vibration
            for second in seconds:
                pipeline.ingest(STREAMS["speed"], encode(second, T0 + second, 1.0, signals["speed"][second:second + 1]))
                pipeline.ingest(STREAMS["temperature"], encode(second, T0 + second, 2.0, signals["temperature"][2 * second:2 * second + 2]))
            first = int(round(start * 12000))  # the drive-end samples taken as a 25.6 kHz accelerometer's (FEMTO's rate)
            pipeline.ingest(STREAMS["DE"], encode(k, T0 + start, 25600.0, signals["DE"][first:first + 2560]))
            wait_until(lambda: pipeline.snapshot()["queue_depth"] == 0 and pipeline.snapshot()["in_flight"] == 0, 30, every=0.01)
            cut_at_once.append([round(r["t_end"] - T0, 6) for r in pipeline.store.history(SENSOR)])

    run_pipeline(pipeline, work)
    assert cut_at_once == [[3.1], [3.1, 5.1]], "each burst's window cut whole as the burst arrives"
