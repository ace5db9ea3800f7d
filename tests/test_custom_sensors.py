"""Own-data specs with sensor channels at their own rates (``sensors:``, ``severity:``, ``images:``): the sensor set, its windows,
the sensor model's stages on it, and every bad input named by file and channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from figures import confusion_drawn, record_figures
from fixtures import write_csv, write_spec
from tiny import save_tiny_backbone

from syndiag.config.data import DataConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.custom import custom_sensor_set
from syndiag.data.prepare import prepare
from syndiag.data.sensor_windows import sensor_windows_for
from syndiag.data.thermal import write_frames
from syndiag.errors import ConfigError, DataError
from syndiag.workflows.sensor import (
    run_sensor_align,
    run_sensor_evaluate,
    run_sensor_finetune,
    sensor_session,
)

VIB_FS, TEMP_FS, SECONDS, TEMP_START = 12000.0, 10.0, 2.0, 0.05
CLASSES = [{"name": "healthy", "prompt": "healthy pump"}, {"name": "cavitation", "prompt": "cavitation at the impeller"}]
TEMP = {"name": "temp", "kind": "temperature", "fs": TEMP_FS, "ref": "temp_c", "file": "{stem}_temp.csv", "time": "time_s"}
LAYOUT = [{"name": "vib", "kind": "vibration", "fs": VIB_FS, "length": 512},
          {"name": "temp", "kind": "temperature", "fs": TEMP_FS, "length": 4}]


def temperature(label: str, start: float = TEMP_START, fs: float = TEMP_FS, n: int | None = None) -> np.ndarray:
    """Rows (time_s, temp_c); the temperature encodes its own time stamp (30 C + t, +5 C when faulty)."""
    times = start + np.arange(n if n is not None else round((SECONDS - start) * fs)) / fs
    return np.stack([times, 30.0 + times + (5.0 if label == "cavitation" else 0.0)], axis=1)


def write_example(folder: Path, temp: dict[str, Any] | None = None, **entry: Any) -> Path:
    """Two classes, each a 12 kHz vibration .npz and a 10 Hz temperature CSV beside it (time stamps from 0.05 s)."""
    rng = np.random.default_rng(0)
    t = np.arange(round(SECONDS * VIB_FS)) / VIB_FS
    recordings = []
    for label, tone in (("healthy", 0.0), ("cavitation", 1.0)):
        np.savez(folder / f"{label}.npz", vib=rng.standard_normal(t.size) + tone * np.sin(2 * np.pi * 3000 * t))
        write_csv(folder / f"{label}_temp.csv", temperature(label), header=["time_s", "temp_c"])
        recordings.append({"files": f"{label}.npz", "label": label, "condition": "run", "channels": ["vib"],
                           "sensors": [temp or TEMP], "severity": 0.0 if label == "healthy" else 1.0, **entry})
    return write_spec(folder / "pump.yaml", {"name": "pump", "fs": VIB_FS, "classes": CLASSES, "recordings": recordings})


def data_config(spec: Path, tmp_path: Path) -> DataConfig:
    return DataConfig.model_validate({"dataset": "custom", "spec": str(spec), "cache_dir": str(tmp_path / "cache"),
                                      "window": {"per_class": 10}, "spectrogram": {"image_size": 16, "n_scales": 8}})


def sensor_set_of(tmp_path: Path, **kwargs: Any):
    return custom_sensor_set(data_config(write_example(tmp_path, **kwargs), tmp_path))


# --- the sensor set and its windows ---------------------------------------------------------------------------------


def test_each_file_reads_its_channels_at_their_rates_with_the_prepared_source_label_and_condition(tmp_path):
    data = data_config(write_example(tmp_path), tmp_path)
    sensor_set = custom_sensor_set(data)
    assert sensor_set.name == "pump" and sensor_set.class_names == ["healthy", "cavitation"] and sensor_set.conditions == ["run"]
    healthy, faulty = sensor_set.recordings
    assert (healthy.source, healthy.label, faulty.label) == (str(tmp_path / "healthy.npz"), "healthy", "cavitation")
    assert {n: (s.kind, s.fs) for n, s in faulty.specs.items()} == {"vib": ("vibration", VIB_FS), "temp": ("temperature", TEMP_FS)}
    assert faulty.n_samples_of("vib") == 24000 and faulty.n_samples_of("temp") == 20 and faulty.start_s == {"vib": 0.0, "temp": TEMP_START}
    np.testing.assert_allclose(faulty.channels["temp"], temperature("cavitation")[:, 1])
    assert (healthy.severity, faulty.severity) == (0.0, 1.0)

    dataset = prepare(data)
    windows = sensor_windows_for(dataset, sensor_set, [SimpleChannel(**c) for c in LAYOUT])
    assert windows.meta["verified"] == ["vib"] and windows.signals["temp"].shape == (len(windows), 4)
    np.testing.assert_array_equal(windows.severity, windows.labels.astype(float))
    early = windows.end_s < TEMP_START
    assert early.any() and not windows.present[early, 1].any() and windows.present[~early].all()


class SimpleChannel:
    """A layout entry (name, kind, rate, samples per window)."""

    def __init__(self, name: str, kind: str, fs: float, length: int) -> None:
        self.name, self.kind, self.fs, self.length = name, kind, fs, length


def test_a_sensors_entry_named_like_a_spectrogram_channel_states_its_kind(tmp_path):
    sensor_set = sensor_set_of(tmp_path, temp={"name": "vib", "kind": "current", "fs": VIB_FS, "ref": "vib"})
    assert sensor_set.recordings[0].specs["vib"].kind == "current" and list(sensor_set.recordings[0].channels) == ["vib"]
    with pytest.raises(DataError, match=r"healthy\.npz: channel 'vib' is a spectrogram channel at 12000 Hz"):
        sensor_set_of(tmp_path, temp={"name": "vib", "kind": "current", "fs": 100.0, "ref": "vib"})


def test_frames_of_an_image_index_reach_the_windows_that_end_after_them(tmp_path):
    for label, shade in (("healthy", 40), ("cavitation", 200)):
        frames = [(0.5, np.full((8, 8, 3), shade, np.uint8)), (1.5, np.full((8, 8, 3), shade + 10, np.uint8))]
        index = write_frames({label: frames}, tmp_path / f"{label}_img")
        rows = [line.split(",", 1)[1] for line in index.read_text().splitlines()[1:]]  # drop the recording column
        (tmp_path / f"{label}_frames.csv").write_text("\n".join(rows).replace(f"{label}_", f"{label}_img/{label}_") + "\n")
    data = data_config(write_example(tmp_path, images={"file": "{stem}_frames.csv"}), tmp_path)
    sensor_set = custom_sensor_set(data)
    assert [t for t, _ in sensor_set.recordings[1].images] == [0.5, 1.5]
    windows = sensor_windows_for(prepare(data), sensor_set, [SimpleChannel(**LAYOUT[0])])
    expected = np.where(windows.end_s < 0.5, 0, np.where(windows.end_s < 1.5, 40, 50) + 160 * windows.labels)
    np.testing.assert_array_equal(windows.images[:, 0, 0, 0], expected)
    assert windows.image_present.tolist() == (windows.end_s >= 0.5).tolist()


# --- bad input -----------------------------------------------------------------------------------------------------


def test_a_channel_whose_count_disagrees_with_its_rate_is_refused_naming_file_and_channel(tmp_path):
    untimed = {**TEMP, "time": None}
    assert sensor_set_of(tmp_path, temp=untimed).recordings[0].start_s["temp"] == 0.0  # 20 samples over 2 s at 10 Hz
    with pytest.raises(DataError, match=r"healthy_temp\.csv: channel 'temp': 20 samples at the declared 5 Hz .* rate disagrees"):
        sensor_set_of(tmp_path, temp={**untimed, "fs": 5.0})
    spec = write_example(tmp_path, temp={**untimed, "file": None})
    np.savez(tmp_path / "healthy.npz", vib=np.ones(24000), temp_c=np.ones(30))
    with pytest.raises(DataError, match=r"healthy\.npz: channel 'temp': 30 samples at the declared 10 Hz"):
        custom_sensor_set(data_config(spec, tmp_path))


def test_time_stamps_at_another_rate_or_outside_the_recording_are_refused(tmp_path):
    write_example(tmp_path)
    spec = tmp_path / "pump.yaml"
    write_csv(tmp_path / "healthy_temp.csv", temperature("healthy", fs=20.0), header=["time_s", "temp_c"])
    with pytest.raises(DataError, match=r"healthy_temp\.csv: channel 'temp': .* 20 Hz, but the channel is declared at 10 Hz"):
        custom_sensor_set(data_config(spec, tmp_path))
    write_csv(tmp_path / "healthy_temp.csv", temperature("healthy", start=5.0, n=20), header=["time_s", "temp_c"])
    with pytest.raises(DataError, match=r"healthy_temp\.csv: channel 'temp': its samples span 5 s to 7 s, no time in common"):
        custom_sensor_set(data_config(spec, tmp_path))
    write_csv(tmp_path / "healthy_temp.csv", temperature("healthy")[::-1], header=["time_s", "temp_c"])
    with pytest.raises(DataError, match=r"healthy_temp\.csv: channel 'temp': its time stamps .* do not rise"):
        custom_sensor_set(data_config(spec, tmp_path))


def test_a_missing_ref_or_sibling_file_is_refused_naming_file_and_channel(tmp_path):
    with pytest.raises(DataError, match=r"healthy_temp\.csv: channel 'temp' \(ref 'celsius', time 'time_s'\): .*celsius"):
        sensor_set_of(tmp_path, temp={**TEMP, "ref": "celsius"})
    with pytest.raises(DataError, match=r"healthy\.npz: channel 'temp' \(ref 'temp_c'\): .*temp_c"):
        sensor_set_of(tmp_path, temp={**TEMP, "file": None, "time": None})
    missing = r"healthy_t\.csv: channel 'temp': the file '\{stem\}_t\.csv' names for healthy\.npz does not exist"
    with pytest.raises(DataError, match=missing):
        sensor_set_of(tmp_path, temp={**TEMP, "file": "{stem}_t.csv"})


def test_an_image_that_does_not_decode_is_refused_naming_index_and_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    for label in ("healthy", "cavitation"):
        (tmp_path / f"{label}_frames.csv").write_text("time_s,file\n0.5,broken.png\n")
    with pytest.raises(DataError, match=r"healthy_frames\.csv: row 2: image 'broken\.png': .*broken\.png: not a readable PNG"):
        sensor_set_of(tmp_path, images={"file": "{stem}_frames.csv"})
    (tmp_path / "healthy_frames.csv").write_text("when,file\n0.5,broken.png\n")
    with pytest.raises(DataError, match=r"healthy_frames\.csv: row 2 needs a numeric time_s and a file"):
        sensor_set_of(tmp_path, images={"file": "{stem}_frames.csv"})


@pytest.mark.parametrize(("temp", "problem"), [
    ({**TEMP, "kind": "pressure"}, r"recordings\.0\.sensors\.0\.kind: Input should be 'vibration'"),
    ({**TEMP, "fs": 0}, r"recordings\.0\.sensors\.0\.fs: Input should be greater than 0"),
    ({**TEMP, "file": "{name}_temp.csv"}, r"recordings\.0\.sensors\.0\.file: .*only placeholder allowed is \{stem\}"),
    ({**TEMP, "file": "../{stem}.csv"}, r"recordings\.0\.sensors\.0\.file: .*beside the recording"),
    ({**TEMP, "rate": 10}, r"recordings\.0\.sensors\.0\.rate: Extra inputs are not permitted"),
    ({k: v for k, v in TEMP.items() if k != "ref"}, r"recordings\.0\.sensors\.0\.ref: Field required"),
])
def test_the_spec_refuses_a_bad_sensor_entry_naming_the_field(tmp_path, temp, problem):
    with pytest.raises(ConfigError, match=problem):
        sensor_set_of(tmp_path, temp=temp)


def test_the_spec_refuses_repeated_sensor_names_and_a_bad_severity(tmp_path):
    spec = write_example(tmp_path)
    with pytest.raises(ConfigError, match=r"recordings\.0\.sensors: .*sensor name\(s\) listed twice: temp"):
        custom_sensor_set(data_config(write_spec(spec, _edit(spec, sensors=[TEMP, TEMP])), tmp_path))
    with pytest.raises(ConfigError, match=r"recordings\.0\.severity: Input should be a finite number"):
        custom_sensor_set(data_config(write_spec(spec, _edit(spec, severity=float("nan"))), tmp_path))


def _edit(spec: Path, **entry: Any) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(spec.read_text())
    loaded["recordings"][0].update(entry)
    return loaded


# --- the sensor model on it ----------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """One torch thread for tiny matrices; restored after."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


def test_the_sensor_model_aligns_finetunes_and_evaluates_on_an_own_data_spec(tmp_path, one_thread, monkeypatch):
    spec = write_example(tmp_path)
    backbone = save_tiny_backbone(tmp_path / "tiny-llama")
    config = SensorRunConfig.from_dict({
        "threads": one_thread, "device": "cpu", "output_dir": str(tmp_path / "run"), "results_file": str(tmp_path / "results.jsonl"),
        "data": data_config(spec, tmp_path).model_dump(mode="json", exclude_unset=True), "channels": LAYOUT,
        "model": {"backbone": str(backbone), "num_layers": None, "input_prompts": 1, "deep_prompts": 1, "use_spectrogram": False,
                  "encoder": {"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64, "spectrum_tokens": 4},
                  "adapter": {"queries": 2, "heads": 2}},
        "align": {"shots": 2, "epochs": 1, "batch_size": 4},
        "finetune": {"shots": 2, "epochs": 1, "min_steps": 2, "batch_size": 4, "noise_snr_db": None},
    })
    session = sensor_session(config)
    windows = session.windows
    assert windows.channel_names == ["vib", "temp"] and windows.signals["vib"].shape[1] == 512
    assert windows.meta["verified"] == ["vib"] and windows.meta["dataset"] == "pump"
    full = windows.end_s >= TEMP_START + 4 / TEMP_FS  # the temperature window lies wholly after its first stamp
    assert full.sum() > len(windows) // 2
    offset = 30.0 + 5.0 * windows.labels[full]
    last_stamp = windows.signals["temp"][full, -1] - offset  # the temperature encodes its time stamp
    ends = windows.end_s[full]
    assert np.all(last_stamp < ends + 1e-4) and np.all(last_stamp >= ends - 1 / TEMP_FS - 1e-4)  # ends at the vibration's end
    np.testing.assert_allclose(np.diff(windows.signals["temp"][full], axis=1), 1 / TEMP_FS, atol=1e-4)

    aligned = run_sensor_align(config)
    assert aligned.checkpoint.is_dir() and aligned.losses and all(np.isfinite(aligned.losses))
    finetuned = run_sensor_finetune(config)
    assert finetuned.windows == 2 * 2 and finetuned.task.source == ("run",)
    saved = record_figures(monkeypatch)
    evaluation = run_sensor_evaluate(config)
    record = evaluation.record
    assert record["dataset"] == "pump" and record["channels"] == ["vib", "temp"] and record["test_samples"] == 2 * 5
    per_class, accuracy = confusion_drawn(saved, evaluation.confusion_png.name, 2)
    assert per_class == [5, 5] and record["metrics"]["accuracy"] == pytest.approx(accuracy) and np.isfinite(record["metrics"]["severity_mae"])
