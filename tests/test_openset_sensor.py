"""The spectral open-set detector of a sensor-model checkpoint (issue 30): `openset calibrate` fits it on the vibration
channels of the layout (the sensor windows aligned with the checkpoint's own training data), binds it to the weights,
`diagnose` and the live service apply it to the layout's windows, and `--healthy` recalibrates it; healthy recordings
of another rate or channel layout are refused with exit status 2, nothing written."""

import json

import numpy as np
import pytest
from scipy.io import loadmat
from scipy.signal import resample_poly
from test_sensor_workflow import sensor_recipe
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.models.openset_detector import DETECTOR_FILE, read_detector
from syndiag.models.openset_spectral import NOVELTY_SCORES
from syndiag.models.openset_threshold import THRESHOLD_FILE, read_threshold, weights_digest
from syndiag.serving.predictor import WindowBatch
from syndiag.service.unknown import LiveUnknown

runner = CliRunner()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, cwru_dir):
    """A tiny sensor checkpoint (DE + FE at 12 kHz and the speed; 0 and 3 HP; fine-tuned at 1730 rpm) with its detector."""
    tmp_path = tmp_path_factory.mktemp("sensor-detector")
    config = str(sensor_recipe(tmp_path, cwru_dir, use_spectrogram=False))
    result = runner.invoke(app, ["sensor", "finetune", "-c", config, "--checkpoint", "none", "--set", "finetune.noise_snr_db=null",
                                 "--set", "data.window.per_class=16"])
    assert result.exit_code == 0, result.output
    checkpoint = tmp_path / "sensor" / "sensor-finetuned"
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint)])
    assert result.exit_code == 0, result.output
    return checkpoint, result.output


def healthy_signals(cwru_dir, seconds=8.0):
    """The drive-end and fan-end channels of the healthy 97.mat (a 48 kHz recording) at 12 kHz."""
    raw = loadmat(cwru_dir / "97.mat")
    n = int(seconds * 48000)
    return {name: resample_poly(raw[f"X097_{name}_time"].ravel()[:n], 1, 4) for name in ("DE", "FE")}


def unseen_fault(cwru_dir):
    """A fault family CWRU has none of: a gear-mesh-like tone at 1.9 kHz, modulated at the 29.5 Hz shaft rate, and its
    harmonics, on the healthy machine's two channels (a machine with a damaged gear, not a damaged bearing)."""
    signals = healthy_signals(cwru_dir)
    t = np.arange(signals["DE"].size) / 12000.0
    mesh = (1 + 0.8 * np.cos(2 * np.pi * 29.5 * t)) * sum(np.cos(2 * np.pi * k * 1900.0 * t) / k for k in (1, 2, 3))
    return {name: x + 2.0 * x.std() * mesh for name, x in signals.items()}


def test_calibrate_fits_the_spectral_detector_on_the_layouts_vibration_channels(calibrated):
    checkpoint, output = calibrated
    stored = read_threshold(checkpoint)
    assert stored.method in NOVELTY_SCORES and set(stored.validation) == set(NOVELTY_SCORES)
    assert stored.validation[stored.method] == max(stored.validation.values()) and stored.validation[stored.method] > 0.5
    assert stored.channels == ["DE", "FE"] and stored.fs == 12000.0  # the vibration channels; the speed is not read
    assert stored.weights_sha256 == weights_digest(checkpoint) and stored.threshold > 0 and stored.recalibration is None
    assert read_detector(checkpoint, stored.detector_sha256, "again").score == stored.method
    assert f"spectrum path's {stored.method} score" in " ".join(output.split())


def test_diagnose_flags_an_unseen_fault_family_and_not_a_known_fault(calibrated, cwru_dir, tmp_path):
    checkpoint, _ = calibrated
    stored = read_threshold(checkpoint)
    known = runner.invoke(app, ["diagnose", str(cwru_dir / "105.mat"), "--checkpoint", str(checkpoint), "--json"])
    assert known.exit_code == 0, known.output
    verdict = json.loads(known.stdout)["unknown"]
    assert verdict["method"] == stored.method and verdict["threshold"] == round(stored.threshold, 4)
    assert verdict["unknown"] is False and verdict["share_above"] < 0.5  # inner race 0.007 in at 0 HP: a known class
    gear = tmp_path / "gear.npz"
    np.savez(gear, **unseen_fault(cwru_dir), fs=12000.0)
    unseen = runner.invoke(app, ["diagnose", str(gear), "--checkpoint", str(checkpoint), "--json"])
    assert unseen.exit_code == 0, unseen.output
    verdict = json.loads(unseen.stdout)["unknown"]
    assert verdict["unknown"] is True and verdict["share_above"] > 0.9 and verdict["score"] > stored.threshold
    text = runner.invoke(app, ["diagnose", str(gear), "--checkpoint", str(checkpoint)]).output
    assert f"unknown fault ({stored.method} score" in " ".join(text.split())


def test_the_live_service_flags_the_layouts_windows_and_not_one_lacking_a_vibration_channel(calibrated, cwru_dir):
    checkpoint, _ = calibrated
    live = LiveUnknown(checkpoint, 12000.0)
    gear, healthy = unseen_fault(cwru_dir), healthy_signals(cwru_dir)
    starts = [0, 12000, 24000, 36000]
    signals = {name: np.stack([healthy[name][s:s + 512] for s in starts[:2]] + [gear[name][s:s + 512] for s in starts[2:]])
               .astype(np.float32) for name in ("DE", "FE")}
    signals["speed"] = np.full((4, 1), 1797.0, dtype=np.float32)
    present = np.ones((4, 3), dtype=bool)
    present[3, 1] = False  # its fan end absent: no verdict rather than one of a zero-filled channel
    flags = live.flags(WindowBatch(signals, present), np.full(4, 0.9))
    assert flags[2] is True and flags[3] is None and flags.count(True) <= 2


def _files(checkpoint):
    return {name: (checkpoint / name).read_bytes() for name in (THRESHOLD_FILE, DETECTOR_FILE)}


def test_healthy_recordings_of_another_rate_or_layout_are_refused_and_nothing_is_written(calibrated, cwru_dir, tmp_path):
    checkpoint, _ = calibrated
    before = _files(checkpoint)
    raw = loadmat(cwru_dir / "97.mat")
    fast = tmp_path / "healthy48k.npz"
    np.savez(fast, DE=raw["X097_DE_time"].ravel()[:48000], FE=raw["X097_FE_time"].ravel()[:48000], fs=48000.0)
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--healthy", str(fast)])
    assert result.exit_code == 2 and "healthy48k.npz" in result.output and "48000 Hz" in result.output, result.output
    drive_only = tmp_path / "drive-end-only.npz"
    np.savez(drive_only, DE=healthy_signals(cwru_dir, 1.0)["DE"], fs=12000.0)
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--healthy", str(drive_only)])
    assert result.exit_code == 2 and "drive-end-only.npz" in result.output and "FE" in result.output, result.output
    assert _files(checkpoint) == before


def test_healthy_recalibration_of_a_sensor_checkpoint_keeps_the_threshold_before_it(calibrated, cwru_dir, tmp_path):
    checkpoint, _ = calibrated
    stored = read_threshold(checkpoint)
    healthy = tmp_path / "healthy.npz"
    np.savez(healthy, **healthy_signals(cwru_dir, 4.0), fs=12000.0)
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--healthy", str(healthy)])
    assert result.exit_code == 0, result.output
    again = read_threshold(checkpoint)
    assert again.recalibration["how"] == "threshold" and again.recalibration["files"] == ["healthy.npz"]
    assert again.recalibration["threshold_before"] == stored.threshold and again.threshold >= stored.threshold
    assert again.recalibration["windows"] == (4 * 12000 - 512) // 256 + 1 and again.channels == ["DE", "FE"]
