"""The spectral open-set detector shipped with a checkpoint (issue 30): `openset calibrate` fits it on the checkpoint's
own training data and binds it to the weights, `diagnose` reports its verdict, `--healthy` recalibrates it, and bad
healthy recordings or a detector of another checkpoint are refused with exit status 2, nothing written."""

import json
import shutil

import numpy as np
import pytest
from scipy.io import loadmat
from scipy.signal import resample_poly
from test_cli_models import recipe
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.models.openset_detector import DETECTOR_FILE
from syndiag.models.openset_spectral import NOVELTY_SCORES
from syndiag.models.openset_threshold import THRESHOLD_FILE, read_threshold, weights_digest

runner = CliRunner()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, cwru_dir):
    """A tiny fine-tuned cloud checkpoint (drive-end channel, 2 and 3 HP) with its spectral detector."""
    tmp_path = tmp_path_factory.mktemp("detector")
    config = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    config.write_text(config.read_text().replace("per_class: 6", "per_class: 16"))
    assert "per_class: 16" in config.read_text()
    assert runner.invoke(app, ["finetune", "--config", str(config), "--checkpoint", "none", "--data-root", str(cwru_dir.parent)]).exit_code == 0
    checkpoint = tmp_path / "run" / "finetuned"
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--data-root", str(cwru_dir.parent)])
    assert result.exit_code == 0, result.output
    return checkpoint, result.output


def test_calibrate_ships_the_best_validated_spectral_score_bound_to_the_weights(calibrated):
    checkpoint, output = calibrated
    stored = read_threshold(checkpoint)
    assert stored.method in NOVELTY_SCORES and set(stored.validation) == set(NOVELTY_SCORES)
    assert stored.validation[stored.method] == max(stored.validation.values())
    assert stored.weights_sha256 == weights_digest(checkpoint) and stored.fs == 12000.0 and stored.channels == ["DE"]
    assert (checkpoint / DETECTOR_FILE).is_file() and stored.threshold > 0 and stored.recalibration is None
    assert f"spectrum path's {stored.method} score" in " ".join(output.split())


def test_diagnose_reports_the_detectors_verdict(calibrated, cwru_dir):
    checkpoint, _ = calibrated
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "97.mat"), "--checkpoint", str(checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)["unknown"]
    stored = read_threshold(checkpoint)
    assert verdict["method"] == stored.method and verdict["threshold"] == round(stored.threshold, 4)
    assert verdict["unknown"] is False  # the healthy recording the checkpoint was trained on is a known class
    text = runner.invoke(app, ["diagnose", str(cwru_dir / "97.mat"), "--checkpoint", str(checkpoint)]).output
    assert f"known fault classes ({stored.method} score" in text


def _files(checkpoint):
    return {name: (checkpoint / name).read_bytes() for name in (THRESHOLD_FILE, DETECTOR_FILE)}


def test_healthy_recordings_of_another_rate_or_layout_are_refused_and_nothing_is_written(calibrated, cwru_dir, tmp_path):
    checkpoint, _ = calibrated
    before = _files(checkpoint)
    signal = loadmat(cwru_dir / "97.mat")["X097_DE_time"].ravel()[:48000]  # recorded at 48 kHz
    fast = tmp_path / "healthy48k.npz"
    np.savez(fast, DE=signal, fs=48000.0)
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--healthy", str(fast)])
    assert result.exit_code == 2 and "48000 Hz" in result.output and "12000 Hz" in result.output, result.output
    other = tmp_path / "fan-end-only.npz"
    np.savez(other, FE=signal, fs=12000.0)
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--healthy", str(other)])
    assert result.exit_code == 2 and "DE" in result.output, result.output
    assert _files(checkpoint) == before


def test_healthy_recalibration_raises_the_threshold_from_the_stored_one_only(calibrated, cwru_dir, tmp_path):
    checkpoint, _ = calibrated
    stored = read_threshold(checkpoint)
    healthy = tmp_path / "healthy.npz"
    signal = resample_poly(loadmat(cwru_dir / "97.mat")["X097_DE_time"].ravel()[:96000], 1, 4)  # 97.mat is a 48 kHz recording
    np.savez(healthy, DE=signal + 0.5 * signal.std() * np.random.default_rng(0).standard_normal(signal.size), fs=12000.0)
    for _ in range(2):  # twice: the second starts from the threshold before any recalibration, not from the first's
        result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--healthy", str(healthy)])
        assert result.exit_code == 0, result.output
        again = read_threshold(checkpoint)
        assert again.recalibration["how"] == "threshold" and again.recalibration["files"] == ["healthy.npz"]
        assert again.recalibration["threshold_before"] == stored.threshold and again.threshold >= stored.threshold
    assert "recalibrated (threshold)" in " ".join(result.output.split())


def test_a_detector_of_another_checkpoint_is_refused(calibrated, tmp_path, cwru_dir):
    checkpoint, _ = calibrated
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    data = bytearray((copy / DETECTOR_FILE).read_bytes())
    data[-40] ^= 1
    (copy / DETECTOR_FILE).write_bytes(bytes(data))
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "97.mat"), "--checkpoint", str(copy)])
    assert result.exit_code == 2 and "not the detector openset.json was calibrated with" in result.output
