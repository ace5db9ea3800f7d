"""`syndiag diagnose` with a sensor-model checkpoint: real CWRU files read for the layout, windows and spectrograms cut as in
training, severity with a 90 % interval, missing channels marked absent only after modality dropout, bad input refused."""

import json
import math
import shutil

import numpy as np
import pytest
import scipy.io
import torch
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.data import DataConfig
from syndiag.config.sensor import ChannelSpec, SensorModelConfig
from syndiag.data.cwru import cwru_sensor_set, resample
from syndiag.data.cwru_classes import cwru_classes
from syndiag.data.prepare import prepare
from syndiag.data.model_input import read_input
from syndiag.data.sensor_windows import sensor_windows_for
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import DataError
from syndiag.models.backbones import load_backbone
from syndiag.models.sensor import KIND, SensorModel
from syndiag.models.visual_extractor import VisualExtractor
from syndiag.serving import predictor as predictor_module
from syndiag.serving.diagnosis import aggregate_severity
from syndiag.serving.sensor_plan import SENSOR_KIND, read_sensor_checkpoint
from syndiag.serving.stream import array_windows, cut_block, window_ends
from syndiag.workflows.inference import diagnose_file

runner = CliRunner()
LAYOUT = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=512), ChannelSpec(name="FE", kind="vibration", fs=12000, length=512),
          ChannelSpec(name="speed", kind="speed", fs=1, length=1)]
CLASSES = cwru_classes()
NAMES = [c.name for c in CLASSES]
SEVERITY_RANGE = (0.0, 0.028)
PREDICTED = 1  # DE_IR007: the fault head's bias favours it
MEAN, STD = 0.014, math.exp(-3.0) * 0.028  # the severity head's bias: normalised mean 0.5, log-variance -6
DATA = {"window": {"per_class": 10, "step": 2048}, "spectrogram": {"image_size": 32, "n_scales": 16},
        "cwru": {"channels": ["DE", "FE"], "loads": [3]}}


def save_checkpoint(folder, backbone, spectrogram: bool, dropout: float = 0.3):
    """A tiny sensor model saved as `syndiag sensor finetune` saves one, its heads set to a known class and severity."""
    config = SensorModelConfig(backbone=str(backbone), input_prompts=1, deep_prompts=1, use_spectrogram=spectrogram,
                               encoder={"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64}, adapter={"queries": 2, "heads": 2})
    extractor = VisualExtractor(32, [8, 16], 2, 3, 4) if spectrogram else None
    model = SensorModel(config, load_backbone(str(backbone), False, None), LAYOUT, NAMES, [c.prompt for c in CLASSES], SEVERITY_RANGE,
                        extractor)
    with torch.no_grad():
        model.heads["fault"].weight.zero_()
        model.heads["fault"].bias.zero_()
        model.heads["fault"].bias[PREDICTED] = 3.0
        model.heads["severity"].weight.zero_()
        model.heads["severity"].bias.copy_(torch.tensor([0.5, -6.0]))
    data = DataConfig.model_validate(DATA)
    return model.save_pretrained(folder, extra={
        "stage": "finetuned", "task": {"k": 2, "seed": 0, "source": "1730rpm", "target": "1730rpm"}, "data": data.model_dump(mode="json"),
        "layout": [c.model_dump(mode="json") for c in LAYOUT], "fs": 12000.0, "modality_dropout": {"align": dropout, "finetune": dropout}})


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("sensor-checkpoints")
    backbone = save_tiny_backbone(root / "tiny-llama")
    return {"spectrogram": save_checkpoint(root / "spectrogram", backbone, True),
            "plain": save_checkpoint(root / "plain", backbone, False)}


def edited(checkpoint, folder, **changes):
    """A copy of ``checkpoint`` whose config.json has ``changes`` (the weights' digest stays valid)."""
    shutil.copytree(checkpoint, folder)
    meta = json.loads((folder / "config.json").read_text())
    meta.update(changes)
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


def cwru_copy(cwru_dir, folder, number=108, seconds=3.0, drop=(), nan=False):
    """The first ``seconds`` of a real CWRU file, saved under its own name with its own variables, less ``drop``."""
    content = scipy.io.loadmat(str(cwru_dir / f"{number}.mat"))
    keep = {}
    for name, value in content.items():
        if name.startswith("__") or any(name == f"X{number:03d}_{d}_time" for d in drop):
            continue
        keep[name] = value[: int(seconds * 12000)] if value.size > 1 else value
    if nan:
        keep[f"X{number:03d}_DE_time"] = keep[f"X{number:03d}_DE_time"].copy()
        keep[f"X{number:03d}_DE_time"][100] = np.nan
    folder.mkdir(exist_ok=True)
    scipy.io.savemat(str(folder / f"{number}.mat"), keep)
    return folder / f"{number}.mat"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_cli_diagnoses_a_real_cwru_file_with_fault_probability_and_severity(checkpoints, cwru_dir, tmp_path):
    assert KIND == SENSOR_KIND
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "108.mat"), "--checkpoint", str(checkpoints["spectrogram"])])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    probability = math.exp(3) / (math.exp(3) + len(NAMES) - 1)
    windows = (122917 - 512) // 2048 + 1
    assert f"DE_IR007: {CLASSES[PREDICTED].prompt} (p = {probability:.3f}, {windows} windows)" in text
    low, high = MEAN - 1.645 * STD, MEAN + 1.645 * STD
    assert f"severity: {MEAN:.4f} in (90 % interval {low:.4f} to {high:.4f} in), over {windows} window(s) of DE_IR007" in text
    assert "missing channels" not in text

    rows = tmp_path / "rows.csv"
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "108.mat"), "--checkpoint", str(checkpoints["spectrogram"]), "--json",
                                 "-k", "2", "--per-window-out", str(rows)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["prediction"] in NAMES and found["prediction"] == "DE_IR007" and len(found["top"]) == 2
    assert found["windows"] == windows and found["missing_channels"] == [] and found["channels"] == ["DE", "FE", "speed"]
    severity = found["severity"]
    assert severity["unit"] == "in" and severity["class"] == "DE_IR007" and severity["windows"] == windows
    assert severity["mean"] == pytest.approx(MEAN, abs=1e-6) and severity["std"] == pytest.approx(STD, rel=1e-4)
    assert SEVERITY_RANGE[0] <= severity["interval_90"][0] < severity["mean"] < severity["interval_90"][1] <= SEVERITY_RANGE[1]
    assert found["segments"][0]["start_s"] == 0.0 and found["segments"][-1]["end_s"] == pytest.approx(((windows - 1) * 2048 + 512) / 12000)
    assert len(rows.read_text().splitlines()) == windows + 1


def test_windows_spectrograms_and_speed_are_cut_exactly_as_training_cut_them(checkpoints, cwru_dir, tmp_path):
    data = DataConfig.model_validate({**DATA, "data_root": str(cwru_dir.parent), "cache_dir": str(tmp_path / "cache"),
                                      "window": {"per_class": 10}, "cwru": {"channels": ["DE", "FE"], "loads": [1, 3]}})
    dataset = prepare(data)
    windows = sensor_windows_for(dataset, cwru_sensor_set(data), LAYOUT)
    plan = read_sensor_checkpoint(checkpoints["spectrogram"])
    assert plan.stacked == ["DE", "FE"] and plan.grid == 2 and plan.dropout == 0.3 and plan.unit == "in"
    for number in (108, 275, 279):  # 275 has no RPM variable, 279 a wrong one: training took the nominal speed, so does diagnosis
        rec = next(i for i, r in enumerate(dataset.meta["recordings"]) if r["source"].endswith(f"/{number}.mat"))
        rows = np.flatnonzero(dataset.recording == rec)
        found = read_input(cwru_dir / f"{number}.mat", plan.layout, layout=True)
        signals, present, images = cut_block(found, plan, windows.end_s[rows])
        for name in ("DE", "FE", "speed"):
            np.testing.assert_array_equal(signals[name], windows.signals[name][rows])
        np.testing.assert_array_equal(present, windows.present[rows])
        np.testing.assert_array_equal(images, dataset.rgb(rows))
    found = read_input(cwru_dir / "108.mat", plan.layout, layout=True)  # stepped every data.window.step samples, as the cloud model's windows
    ends = window_ends(found, plan)
    stream = array_windows(np.stack([found.channels["DE"], found.channels["FE"]]), plan.data.window, "108")
    cloud = stream.block(0, stream.count)
    assert ends.size == len(cloud) == (found.channels["DE"].size - 512) // 2048 + 1
    signals, _, _ = cut_block(found, plan, ends)
    np.testing.assert_array_equal(np.stack([signals["DE"], signals["FE"]], axis=1), cloud)


def test_a_missing_fan_end_is_marked_absent_after_modality_dropout_and_refused_without(checkpoints, cwru_dir, tmp_path, monkeypatch):
    lacking = cwru_copy(cwru_dir, tmp_path / "no-fe", drop=("FE",))
    result = runner.invoke(app, ["diagnose", str(lacking), "--checkpoint", str(checkpoints["spectrogram"])])
    assert result.exit_code == 0, result.output
    assert "missing channels: FE (marked absent" in flat(result.output) and "severity: 0.0140 in" in flat(result.output)

    batches = []
    real = predictor_module.load_torch_model

    def spying(*args, **kwargs):
        model = real(*args, **kwargs)
        forward = model.forward
        model.forward = lambda batch: batches.append(batch) or forward(batch)
        return model

    monkeypatch.setattr(predictor_module, "load_torch_model", spying)
    found = diagnose_file(lacking, checkpoints["spectrogram"])
    assert found.missing_channels == ["FE"] and found.to_dict()["missing_channels"] == ["FE"] and found.windows == 18
    present = torch.cat([b.present for b in batches])
    assert present[:, 0].all() and not present[:, 1].any() and present[:, 2].all()
    assert not torch.cat([b.signals["FE"] for b in batches]).any()
    tokens = torch.cat([b.spectrogram_present for b in batches])
    assert tokens.shape == (18, 4) and tokens[:, :2].all() and not tokens[:, 2:].any()  # the fan end's (bottom) band is hidden
    plan = read_sensor_checkpoint(checkpoints["spectrogram"])  # its band repeats the drive end, so the image is scaled by real data
    images = torch.cat([b.spectrograms for b in batches]).numpy()
    de = cut_block(read_input(lacking, plan.layout, layout=True), plan, window_ends(read_input(lacking, plan.layout, layout=True), plan))[0]["DE"]
    np.testing.assert_array_equal(images, to_rgb(spectrogram_images(np.stack([de, de], axis=1), plan.data.spectrogram), "jet"))

    strict = edited(checkpoints["spectrogram"], tmp_path / "strict", modality_dropout={"align": 0.3, "finetune": 0.0})
    rows = tmp_path / "rows.csv"
    result = runner.invoke(app, ["diagnose", str(lacking), "--checkpoint", str(strict), "--per-window-out", str(rows)])
    assert result.exit_code == 2 and "FE" in result.output and "without modality dropout" in flat(result.output), result.output
    assert not rows.exists()
    result = runner.invoke(app, ["diagnose", str(cwru_copy(cwru_dir, tmp_path / "all")), "--checkpoint", str(strict)])
    assert result.exit_code == 0, result.output


def test_other_formats_map_the_layout_with_channels(checkpoints, cwru_dir, tmp_path):
    raw = scipy.io.loadmat(str(cwru_dir / "108.mat"))
    de, fe = raw["X108_DE_time"].ravel()[:24000], raw["X108_FE_time"].ravel()[:24000]
    np.savez(tmp_path / "rec.npz", drive=de, fan=fe, fs=12000.0)
    found = diagnose_file(tmp_path / "rec.npz", checkpoints["plain"], channels="drive,fan,-")
    assert found.label == "DE_IR007" and found.missing_channels == ["speed"] and found.windows == (24000 - 512) // 2048 + 1
    assert found.severity.mean == pytest.approx(MEAN, abs=1e-6)
    np.savez(tmp_path / "slow.npz", DE=de, FE=fe, rpm=np.full(3, 1730.0))
    found = diagnose_file(tmp_path / "slow.npz", checkpoints["plain"], fs=12000, channels="DE,FE,rpm@1")
    assert found.missing_channels == []
    with pytest.raises(DataError, match="layout has 3 channels"):
        diagnose_file(tmp_path / "rec.npz", checkpoints["plain"], channels="drive,fan")


def test_a_channel_at_another_declared_rate_is_resampled_to_the_layouts(cwru_dir):
    raw = scipy.io.loadmat(str(cwru_dir / "97.mat"))["X097_DE_time"].ravel()
    found = read_input(cwru_dir / "97.mat", LAYOUT, layout=True, resample_to=12000.0)
    np.testing.assert_array_equal(found.channels["DE"], resample(raw, 48000.0, 12000.0))
    assert found.channels["speed"].size == math.floor(raw.size / 48000) + 1 and "resampled" in " ".join(found.notes)
    again = read_input(cwru_dir / "97.mat", LAYOUT, layout=True)  # not told how training read it: resampled all the same
    np.testing.assert_array_equal(again.channels["DE"], found.channels["DE"])
    assert "as in training" not in " ".join(again.notes) and "from 48000 Hz" in " ".join(again.notes)


def test_bad_input_exits_2_naming_the_problem(checkpoints, cwru_dir, tmp_path):
    checkpoint = str(checkpoints["spectrogram"])

    def refused(file, *extra, checkpoint=checkpoint):
        result = runner.invoke(app, ["diagnose", str(file), "--checkpoint", checkpoint, *extra])
        assert result.exit_code == 2, result.output
        return flat(result.output)

    assert "--fs 48000 Hz contradicts the CWRU catalogue" in refused(cwru_dir / "108.mat", "--fs", "48000")
    raw = scipy.io.loadmat(str(cwru_dir / "108.mat"))
    np.savez(tmp_path / "fast.npz", DE=resample(raw["X108_DE_time"].ravel()[:24000], 12000.0, 48000.0), fs=48000.0)
    fast = runner.invoke(app, ["diagnose", str(tmp_path / "fast.npz"), "--checkpoint", checkpoint, "--json"])
    assert fast.exit_code == 0 and "resampled from 48000 Hz" in fast.output
    np.savez(tmp_path / "slow.npz", DE=raw["X108_DE_time"].ravel()[:24000])
    upsampled = runner.invoke(app, ["diagnose", str(tmp_path / "slow.npz"), "--checkpoint", checkpoint, "--fs", "6000", "--json"])
    assert upsampled.exit_code == 0 and "nothing above 3000 Hz" in upsampled.output  # declared 6 kHz: read, and said what it lacks
    (tmp_path / "108.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated" + bytes(40))
    assert "not a readable MATLAB file" in refused(tmp_path / "108.mat")
    assert "channel 'DE'" in (text := refused(cwru_copy(cwru_dir, tmp_path / "nan", nan=True))) and "NaN" in text
    (tmp_path / "speed.csv").write_text("speed\n" + "1730\n" * 20)
    assert "none of the sensor model's vibration channels (DE, FE)" in refused(tmp_path / "speed.csv", "--fs", "1")
    other = edited(checkpoints["spectrogram"], tmp_path / "other", layout=[LAYOUT[0].model_dump(), LAYOUT[2].model_dump()])
    assert "stacks channel 'FE'" in (text := refused(cwru_dir / "108.mat", checkpoint=str(other))) and "another layout" in text
    wide = edited(checkpoints["plain"], tmp_path / "wide", layout=[s.model_dump() for s in LAYOUT] + [
        {"name": "T", "kind": "temperature", "fs": 10, "length": 10}], modality_dropout={"align": 0, "finetune": 0})
    assert "lacks channel(s) T" in refused(cwru_dir / "108.mat", checkpoint=str(wide))


def test_severity_is_the_mixture_over_the_windows_of_the_predicted_class(checkpoints):
    plan = read_sensor_checkpoint(checkpoints["plain"])
    means = np.array([0.010, 0.012, 0.020, 0.0])
    stds = np.array([0.001, 0.001, 0.004, 0.002])
    classes = np.array([1, 1, 2, 0])
    severity = aggregate_severity(means, stds, classes, 1, plan)
    assert severity.windows == 2 and severity.label == "DE_IR007"
    assert severity.mean == pytest.approx(0.011) and severity.std == pytest.approx(math.sqrt(0.001**2 + 0.001**2))
    assert severity.low == pytest.approx(0.011 - 1.645 * severity.std) and severity.high == pytest.approx(0.011 + 1.645 * severity.std)
    wide = aggregate_severity(means, stds * 10, classes, 0, plan)  # the interval is clipped to the severity range
    assert wide.mean == 0.0 and wide.std == pytest.approx(0.02) and wide.low == 0.0 and wide.high == 0.028
    fallback = aggregate_severity(means, stds, classes, 5, plan)  # no window of the class: every window counts
    assert fallback.windows == 4 and fallback.mean == pytest.approx(means.mean())
    assert aggregate_severity(np.full(4, np.nan), np.full(4, np.nan), classes, 1, plan) is None


def test_a_checkpoint_of_sensor_finetune_diagnoses_a_recording(tmp_path, cwru_dir):
    from test_sensor_workflow import sensor_recipe

    config = str(sensor_recipe(tmp_path, cwru_dir, use_spectrogram=False))
    result = runner.invoke(app, ["sensor", "finetune", "-c", config, "--checkpoint", "none", "--set", "finetune.noise_snr_db=null"])
    assert result.exit_code == 0, result.output
    checkpoint = tmp_path / "sensor" / "sensor-finetuned"
    result = runner.invoke(app, ["diagnose", str(cwru_copy(cwru_dir, tmp_path / "no-fe", drop=("FE",))), "--checkpoint", str(checkpoint),
                                 "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    low, high = json.loads((checkpoint / "config.json").read_text())["severity_range"]
    assert found["prediction"] in NAMES and found["missing_channels"] == ["FE"] and found["windows"] == (36000 - 512) // 256 + 1
    assert low <= found["severity"]["interval_90"][0] <= found["severity"]["mean"] <= found["severity"]["interval_90"][1] <= high


def test_change_rate_keeps_slow_quantities_and_tones_right():
    from syndiag.data.channel_input import change_rate

    constant = change_rate(np.full(3000, 40.0), 1000.0, 10.0, "temperature", "t")
    assert constant.size == 30 and np.allclose(constant, 40.0)  # no ringing at the ends, the right count
    speed = change_rate(np.full(24000, 1730.0), 12000.0, 1.0, "speed", "s")
    assert speed.size == 2 and np.allclose(speed, 1730.0)
    ramp = change_rate(np.linspace(20.0, 30.0, 12000), 12000.0, 10.0, "other", "r")  # a 1200 x drop: interpolated
    assert ramp.size == 10 and ramp[0] == pytest.approx(20.0) and np.all(np.diff(ramp) > 0)
    t = np.arange(48000) / 48000.0
    tone = change_rate(np.sin(2 * np.pi * 3000.0 * t), 48000.0, 12000.0, "vibration", "v")
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(tone.size)))
    assert tone.size == 12000 and np.argmax(spectrum) * 12000.0 / tone.size == pytest.approx(3000.0, abs=1.0)


def test_a_checkpoint_that_reads_images_is_refused_at_diagnosis(checkpoints, cwru_dir, tmp_path):
    import shutil

    folder = tmp_path / "with-images"
    shutil.copytree(checkpoints["plain"], folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["use_images"] = True
    (folder / "config.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "108.mat"), "--checkpoint", str(folder)])
    assert result.exit_code == 2 and "frames" in flat(result.output)
