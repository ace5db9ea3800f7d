"""A file given to `syndiag diagnose`: read by its own variables, channels mapped and named, rate checked, all
before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from syndiag.config.data import DataConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.meta import read_meta
from syndiag.data.model_input import read_signal
from syndiag.serving.predictor import SpectrogramPredictor
from syndiag.workflows import inference

runner = CliRunner()
RNG = np.random.default_rng(0)


def column(n: int) -> np.ndarray:
    return RNG.standard_normal((n, 1))


def fake_checkpoint(folder: Path, channels: list[str], fs: float = 12000.0) -> Path:
    """A checkpoint folder whose config.json says what the model needs; no weights (the loader is stubbed)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = DataConfig.from_dict({"window": {"length": 64, "step": 64}, "spectrogram": {"image_size": 8, "n_scales": 4}})
    meta = {"model": "syndiag-edge", "channels": channels, "fs": fs, "data": data.model_dump(mode="json"),
            "class_names": ["normal", "fault"], "prompts": ["normal operation", "a fault"]}
    (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"")  # never read: the `loads` fixture stubs the model
    return folder


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stub the model loader: record each load, classify everything as 'fault'."""
    calls: list[str] = []

    def load_predictor(checkpoint, device="cpu", dtype="float32", meta=None):
        calls.append(str(checkpoint))
        return SpectrogramPredictor(read_meta(checkpoint), lambda images: np.tile([0.25, 0.75], (len(images), 1)), Path(checkpoint))

    monkeypatch.setattr(inference, "load_predictor", load_predictor)
    return calls


# --- item 7: any original CWRU file, --channels -----------------------------------------------------------------


def test_the_original_99_mat_is_read_by_its_own_variables_not_the_x098_copy(tmp_path: Path) -> None:
    own, other = column(4000), np.ones((8000, 1))
    scipy.io.savemat(tmp_path / "99.mat", {"X098_DE_time": other, "X098_FE_time": other, "X099_DE_time": own,
                                           "X099_FE_time": own, "X099RPM": 1750.0})
    signal, _ = read_signal(tmp_path / "99.mat", ["DE"], None, 48000.0)
    np.testing.assert_array_equal(signal[0], own.ravel())


def test_a_cwru_file_under_another_name_is_read_by_its_variables(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "12k_DE_B007_0.mat", {"X118_DE_time": column(3000), "X118_FE_time": column(3000)})
    signal, fs = read_signal(tmp_path / "12k_DE_B007_0.mat", ["DE", "FE"], None, 12000.0)
    assert signal.shape == (2, 3000) and fs == 12000.0


def test_channels_option_maps_the_files_channels_onto_the_models(tmp_path: Path, loads: list[str]) -> None:
    de, fe = column(2000), column(2000)
    scipy.io.savemat(tmp_path / "299.mat", {"X299_DE_time": de, "X299_FE_time": fe})
    checkpoint = fake_checkpoint(tmp_path / "model", ["DE"])
    by_fe, _ = read_signal(tmp_path / "299.mat", ["DE"], None, 12000.0, select="FE")
    np.testing.assert_array_equal(by_fe[0], fe.ravel())
    by_name, _ = read_signal(tmp_path / "299.mat", ["DE"], None, 12000.0, select="X299_FE_time")
    np.testing.assert_array_equal(by_name[0], fe.ravel())
    by_glob, _ = read_signal(tmp_path / "299.mat", ["DE"], None, 12000.0, select=["X*_FE_time"])
    np.testing.assert_array_equal(by_glob[0], fe.ravel())

    from syndiag.cli import app

    result = runner.invoke(app, ["diagnose", str(tmp_path / "299.mat"), "--checkpoint", str(checkpoint),
                                 "--channels", "FE", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["prediction"] == "fault" and loads == [str(checkpoint)]
    result = runner.invoke(app, ["diagnose", str(tmp_path / "299.mat"), "--checkpoint", str(checkpoint),
                                 "--channels", "DE,FE"])
    assert result.exit_code == 2 and "needs 1 channel (DE); --channels names 2" in result.output


# --- item 8: a --fs that contradicts the file or the catalogue ----------------------------------------------


def test_fs_contradicting_the_catalogue_is_refused_naming_both(tmp_path: Path, cwru_dir: Path) -> None:
    scipy.io.savemat(tmp_path / "122.mat", {"X122_DE_time": column(9600)})
    with pytest.raises(DataError, match=r"--fs 12000 Hz contradicts the CWRU catalogue \(CWRU 122 .*48k.*\): 48000 Hz"):
        read_signal(tmp_path / "122.mat", ["DE"], 12000.0, 12000.0)
    with pytest.raises(DataError, match=r"108\.mat: --fs 48000 Hz contradicts the CWRU catalogue .*: 12000 Hz"):
        read_signal(cwru_dir / "108.mat", ["DE"], 48000.0, 12000.0)
    signal, _ = read_signal(tmp_path / "122.mat", ["DE"], 48000.0, 12000.0)  # agreeing is fine
    assert signal.shape == (1, 2400)


def test_fs_contradicting_the_files_own_fs_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", DE=column(4800).ravel(), fs=np.float64(48000))
    with pytest.raises(DataError, match=r"--fs 12000 Hz contradicts the file's own 'fs' value: 48000 Hz"):
        read_signal(tmp_path / "a.npz", ["DE"], 12000.0, 12000.0)
    assert read_signal(tmp_path / "a.npz", ["DE"], None, 12000.0)[0].shape == (1, 1200)


# --- item 6: a .npy recording needs --fs, whatever its shape --------------------------------------------------


@pytest.mark.parametrize("shape", [(3000,), (1, 3000), (3000, 1)])
def test_a_npy_recording_without_fs_is_refused(tmp_path: Path, shape: tuple[int, ...]) -> None:
    np.save(tmp_path / "rec.npy", RNG.standard_normal(shape))
    with pytest.raises(DataError, match=r"rec\.npy: a \.npy array records no sampling rate; pass --fs"):
        read_signal(tmp_path / "rec.npy", ["DE"], None, 12000.0)
    assert read_signal(tmp_path / "rec.npy", ["DE"], 6000.0, 12000.0)[0].shape == (1, 6000)


def test_npy_windows_stay_at_the_models_rate(tmp_path: Path) -> None:
    np.save(tmp_path / "w.npy", RNG.standard_normal((3, 2, 64)))
    assert read_signal(tmp_path / "w.npy", ["DE", "FE"], None, 12000.0)[0].shape == (3, 2, 64)
    with pytest.raises(DataError, match="windows at 48000 Hz, the model was trained at 12000 Hz"):
        read_signal(tmp_path / "w.npy", ["DE", "FE"], 48000.0, 12000.0)
    with pytest.raises(DataError, match=r"hold 2 channel\(s\).*the model needs 1 channel \(DE\)"):
        read_signal(tmp_path / "w.npy", ["DE"], None, 12000.0)


# --- item 9: the input is checked before the model loads ----------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "format", "channel", "nan", "short"])
def test_bad_input_is_refused_before_the_model_loads(tmp_path: Path, loads: list[str], case: str) -> None:
    checkpoint = fake_checkpoint(tmp_path / "model", ["DE"])
    x = column(1000)
    if case == "nan":
        x[500] = np.nan
    if case == "short":
        x = x[:10]
    path = tmp_path / ("rec.xyz" if case == "format" else "rec.npz")
    if case != "missing":
        with open(path, "wb") as handle:
            np.savez(handle, **({"FE": x.ravel()} if case == "channel" else {"DE": x.ravel()}), fs=np.float64(12000))
    expected = {"missing": "file not found", "format": "unknown file type", "channel": "no key 'DE'",
                "nan": "NaN/Inf", "short": "shorter than one window"}[case]
    with pytest.raises(DataError, match=expected):
        inference.diagnose_file(path, checkpoint)
    assert loads == []
    if case == "channel":
        assert inference.diagnose_file(path, checkpoint, channels="FE").label == "fault"
        assert loads == [str(checkpoint)]


def test_a_folder_without_a_model_description_is_named_before_any_model_loads(tmp_path: Path, loads: list[str]) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(ConfigError, match="model: not a syndiag model folder .needs config.json"):
        inference.diagnose_file(tmp_path / "rec.npz", tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text('{"model": "syndiag-cloud", "class_names": ["a"]}')
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="invalid model description: class_names: List should have at least 2 items"):
        inference.diagnose_file(tmp_path / "rec.npz", tmp_path / "model")
    assert loads == []


# --- item 10: a model on DE + FE given a one-channel file -----------------------------------------------------


def test_a_two_channel_model_given_one_channel_names_both_sides(tmp_path: Path) -> None:
    np.savez(tmp_path / "de_only.npz", DE=column(3000).ravel(), fs=np.float64(12000))
    with pytest.raises(DataError, match=r"the model needs 2 channels \(DE, FE\); no key 'FE'; the file holds DE .*--channels"):
        read_signal(tmp_path / "de_only.npz", ["DE", "FE"], None, 12000.0)
    scipy.io.savemat(tmp_path / "3001.mat", {"X3001_DE_time": column(3000), "X3001RPM": 1797.0})
    with pytest.raises(DataError, match=r"needs 2 channels \(DE, FE\), read as X3001_DE_time, X3001_FE_time; this file "
                                        r"\(CWRU 3001 .*\) holds X3001_DE_time, X3001RPM: no X3001_FE_time"):
        read_signal(tmp_path / "3001.mat", ["DE", "FE"], None, 12000.0)
    np.save(tmp_path / "one.npy", column(3000).ravel())
    with pytest.raises(DataError, match=r"holds 1 channel\(s\); the model needs 2 channels \(DE, FE\)"):
        read_signal(tmp_path / "one.npy", ["DE", "FE"], 12000.0, 12000.0)


def test_csv_channels_by_header_name_or_all_columns(tmp_path: Path) -> None:
    (tmp_path / "named.csv").write_text("time,DE,FE\n" + "".join(f"{i},{i % 7},{i % 5}\n" for i in range(200)))
    signal, _ = read_signal(tmp_path / "named.csv", ["FE", "DE"], 12000.0, 12000.0)
    np.testing.assert_array_equal(signal[0], np.arange(200) % 5)
    (tmp_path / "plain.csv").write_text("".join(f"{i % 3},{i % 4}\n" for i in range(200)))
    assert read_signal(tmp_path / "plain.csv", ["DE", "FE"], 12000.0, 12000.0)[0].shape == (2, 200)
    with pytest.raises(DataError, match=r"needs 1 channel \(DE\); the file has 2 unnamed columns"):
        read_signal(tmp_path / "plain.csv", ["DE"], 12000.0, 12000.0)
    assert read_signal(tmp_path / "plain.csv", ["DE"], 12000.0, 12000.0, select="1")[0].shape == (1, 200)
