import json
import tracemalloc

import numpy as np
import pytest
from tiny_checkpoint import FS, NAMES, PROMPTS, data_section, onnx_folder
from typer.testing import CliRunner

import syndiag.serving.predictor as predictor_module
import syndiag.serving.stream as stream_module
import syndiag.workflows.inference as inference_module
from syndiag.cli import app
from syndiag.cli.common import ProgressLines
from syndiag.config.data import SpectrogramConfig, WindowConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.meta import read_meta
from syndiag.data.model_input import read_signal
from syndiag.serving.diagnosis import diagnose
from syndiag.serving.predictor import SpectrogramPredictor
from syndiag.serving.stream import WindowStream, array_windows, open_windows
from syndiag.serving.summary import segments_of
from syndiag.workflows.inference import diagnose_file


def window_array(signal, window, source):
    """Every window of a signal (channels, n), or of a window array, as the diagnosis cuts them."""
    stream = array_windows(signal, window, source)
    return stream.block(0, stream.count)


@pytest.mark.parametrize("length, step", [(64, 16), (64, 64), (64, 100), (64, 32)])
def test_a_recording_is_cut_every_window_step(length, step):
    signal = np.arange(2 * 1000, dtype=np.float64).reshape(2, 1000)
    windows = window_array(signal, WindowConfig(length=length, step=step), "rec")
    starts = list(range(0, 1000 - length + 1, step))
    assert windows.shape == (len(starts), 2, length) and windows.dtype == np.float32
    np.testing.assert_array_equal(windows[:, 0, 0], starts)
    np.testing.assert_array_equal(windows[-1], signal[:, starts[-1] : starts[-1] + length])


def test_windows_pass_through_and_short_or_mismatched_input_is_refused():
    windows = np.zeros((3, 1, 64))
    assert window_array(windows, WindowConfig(length=64, step=7), "w").shape == (3, 1, 64)
    with pytest.raises(DataError, match="the model expects 64"):
        window_array(np.zeros((3, 1, 32)), WindowConfig(length=64), "w")
    with pytest.raises(DataError, match="shorter than one window"):
        window_array(np.zeros((1, 63)), WindowConfig(length=64), "w")


# --- streaming, segments, non-finite outputs (issue 14, items 3 and 5) ---------------------------------------------

runner = CliRunner()
SPEC = SpectrogramConfig(n_scales=8, image_size=16)


def stub():
    """A classifier that gives [0.8, 0.1, 0.1] to bright images (index 255 -> red) and [0.05, 0.9, 0.05] to dark ones."""
    def classify(images):
        red = images[:, 0, 0, 0] > 64
        return np.where(red[:, None], [[0.8, 0.1, 0.1]], [[0.05, 0.9, 0.05]]).astype(np.float32)
    return classify


def sign_images(windows, config, chunk=32):
    """Stand-in spectrograms: all 255 where a window's mean is negative, else 0 (so the stub sees the sign)."""
    return np.where(np.asarray(windows).mean(axis=(1, 2)) < 0, 255, 0).astype(np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)


def checkpoint_config(folder, **data):
    folder.mkdir()
    meta = {"model": "syndiag-cloud", "class_names": NAMES, "prompts": PROMPTS, "channels": ["DE"], "fs": FS, "data": data_section(**data)}
    (folder / "config.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(b"")  # never read: these tests give the predictor's classifier
    return folder


def stub_predictor(checkpoint, classify):
    """A cloud model's Predictor over ``classify`` (uint8 spectrograms -> probabilities), with the checkpoint's description."""
    return lambda *args, **kwargs: SpectrogramPredictor(read_meta(checkpoint), classify, checkpoint)


@pytest.mark.parametrize("length, step", [(64, 32), (64, 64), (64, 100), (64, 16)])
@pytest.mark.parametrize("layout", ["1d", "row", "column", "windows"])
def test_memory_mapped_blocks_are_the_windows_of_the_in_memory_reader(tmp_path, length, step, layout):
    signal = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    array = {"1d": signal, "row": signal[None], "column": signal[:, None], "windows": signal[: 15 * length].reshape(15, 1, length)}[layout]
    np.save(tmp_path / "x.npy", array)
    window = WindowConfig(length=length, step=step)
    fs = None if layout == "windows" else FS
    expected = window_array(read_signal(tmp_path / "x.npy", ["DE"], fs, FS)[0], window, "x")
    stream = open_windows(tmp_path / "x.npy", ["DE"], fs, FS, window, read_in_memory=lambda: pytest.fail("read into memory"))
    assert stream.count == len(expected)
    got = np.concatenate([block for _, block in stream.blocks(7)])
    np.testing.assert_array_equal(got, expected)
    in_memory = array_windows(read_signal(tmp_path / "x.npy", ["DE"], fs, FS)[0], window, "x")
    np.testing.assert_array_equal(np.concatenate([b for _, b in in_memory.blocks(5)]), expected)


def test_two_channel_recordings_stream_like_they_read(tmp_path):
    signal = np.random.default_rng(1).standard_normal((2, 900))
    window = WindowConfig(length=64, step=48)
    for name, array in (("rows", signal), ("columns", signal.T.copy())):
        np.save(tmp_path / f"{name}.npy", array)
        expected = window_array(read_signal(tmp_path / f"{name}.npy", ["DE", "FE"], FS, FS)[0], window, name)
        stream = open_windows(tmp_path / f"{name}.npy", ["DE", "FE"], FS, FS, window, read_in_memory=lambda: pytest.fail("in memory"))
        np.testing.assert_array_equal(stream.block(0, stream.count), expected)


def test_npy_files_the_stream_cannot_take_go_to_the_in_memory_reader(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(1000, np.float32))
    read = []
    window = WindowConfig(length=64, step=32)
    for fs in (None, 24000.0):  # no rate, or one to resample from
        open_windows(tmp_path / "x.npy", ["DE"], fs, FS, window, read_in_memory=lambda: read.append(1) or (np.zeros((1, 500)), FS))
    open_windows(tmp_path / "x.npy", ["DE"], FS, FS, window, read_in_memory=lambda: read.append(1) or (np.zeros((1, 500)), FS), mmap=False)
    assert len(read) == 3


def test_nan_in_a_memory_mapped_recording_is_refused_before_any_window(tmp_path):
    signal = np.zeros(50_000, np.float32)
    signal[[123, 40_000]] = [np.nan, np.inf]
    np.save(tmp_path / "x.npy", signal)
    with pytest.raises(DataError, match="2 NaN/Inf value.*first at sample 123"):
        open_windows(tmp_path / "x.npy", ["DE"], FS, FS, WindowConfig(length=64), lambda: None).check(chunk=10_000)


def test_a_long_recording_is_streamed_in_blocks_and_summarised_as_segments(tmp_path, monkeypatch):
    """First half class A (negative samples), second half class B: two segments at the right times; the windows cut at
    once never exceed the block size, spectrograms never the batch size, and the file is never read whole."""
    n, half, length, step, block = 24_000, 12_000, 64, 32, 50
    signal = np.concatenate([-np.ones(half), np.ones(n - half)]).astype(np.float32)
    np.save(tmp_path / "rec.npy", signal)
    checkpoint = checkpoint_config(tmp_path / "ck", length=length, step=step)
    cut, spans, batches = [], [], []
    monkeypatch.setattr(stream_module, "CHECK_CHUNK", 1000)  # the NaN/Inf check reads 1000 samples at a time
    real_block, real_span = WindowStream.block, stream_module._npy_span
    monkeypatch.setattr(WindowStream, "block", lambda self, a, b: cut.append(len(w := real_block(self, a, b))) or w)
    monkeypatch.setattr(stream_module, "_npy_span", lambda *args: spans.append(len((s := real_span(*args))[0])) or s)
    monkeypatch.setattr(predictor_module, "spectrogram_images", lambda w, c: batches.append(len(w)) or sign_images(w, c))
    monkeypatch.setattr(stream_module, "read_input", lambda *a, **k: pytest.fail("the recording was read into memory"))
    monkeypatch.setattr(inference_module, "load_predictor", stub_predictor(checkpoint, stub()))
    progress = []
    result = diagnose_file(tmp_path / "rec.npy", checkpoint, fs=FS, block_size=block, progress=lambda d, t: progress.append((d, t)))

    count = (n - length) // step + 1
    assert result.windows == count == sum(cut) and max(cut) <= block and max(batches) <= 64
    assert max(spans) <= max(1000, (block - 1) * step + length)
    assert progress[-1] == (count, count) and len(progress) == -(-count // block)
    first_b = (half - length // 2) // step  # the first window with no more samples in the first half than the second
    boundary = first_b * step / FS
    a, b = result.segments
    assert (a.label, a.first_window, a.last_window, a.windows) == ("normal", 0, first_b - 1, first_b)
    assert (b.label, b.first_window, b.last_window, b.windows) == ("DE_IR007", first_b, count - 1, count - first_b)
    assert a.start_s == 0.0 and a.end_s == b.start_s == pytest.approx(boundary) and b.end_s == pytest.approx(n / FS)
    assert a.mean_confidence == pytest.approx(0.8) and b.mean_confidence == pytest.approx(0.9)
    assert result.majority == ("DE_IR007", count - first_b, pytest.approx((count - first_b) / count))
    summary = result.to_dict()
    assert "per_window" not in summary and summary["segments"][1] == {
        "start_s": round(boundary, 6), "end_s": 2.0, "class": "DE_IR007", "mean_confidence": 0.9, "min_confidence": 0.9,
        "windows": count - first_b, "first_window": first_b, "last_window": count - 1}
    rows = result.to_dict(per_window=True)["per_window"]
    assert len(rows) == count and rows[first_b] == {"window": first_b, "start_s": round(boundary, 6), "end_s": round(boundary + length / FS, 6),
                                                    "class": "DE_IR007", "probability": 0.9}


def test_memory_does_not_grow_with_the_recording(tmp_path, monkeypatch):
    """A 6.4 MB recording (the old reader held it as 12.8 MB of float64, plus 6.4 MB of windows) peaks under 1.6 MB."""
    signal = np.random.default_rng(2).standard_normal(1_600_000).astype(np.float32)
    np.save(tmp_path / "rec.npy", signal)
    np.save(tmp_path / "short.npy", signal[:5000])
    checkpoint = checkpoint_config(tmp_path / "ck", length=64, step=64, image_size=16, n_scales=8)
    steady = lambda images: np.tile(np.float32([[0.6, 0.3, 0.1]]), (len(images), 1))
    monkeypatch.setattr(inference_module, "load_predictor", stub_predictor(checkpoint, steady))
    monkeypatch.setattr(stream_module, "CHECK_CHUNK", 50_000)  # the NaN/Inf check's reads: a constant, here small
    diagnose_file(tmp_path / "short.npy", checkpoint, fs=FS)  # warm the filter-bank caches
    tracemalloc.start()
    try:
        result = diagnose_file(tmp_path / "rec.npy", checkpoint, fs=FS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.windows == 25_000 and len(result.segments) == 1
    assert peak < signal.nbytes / 4, f"peak {peak / 1e6:.2f} MB"


def test_segments_of_runs():
    classes = np.array([0, 0, 1, 1, 1, 0])
    confidence = np.array([0.5, 0.7, 0.9, 0.6, 0.9, 0.4], np.float32)
    starts = np.arange(6) * 0.5
    segments = segments_of(classes, confidence, ["a", "b"], starts, 1.0)
    assert [(s.label, s.windows, s.start_s, s.end_s) for s in segments] == [("a", 2, 0.0, 1.0), ("b", 3, 1.0, 2.5), ("a", 1, 2.5, 3.5)]
    assert segments[0].mean_confidence == pytest.approx(0.6) and segments[1].min_confidence == pytest.approx(0.6)
    untimed = segments_of(classes, confidence, ["a", "b"], None, None)
    assert untimed[1].start_s is None and untimed[1].to_dict()["first_window"] == 2
    assert segments_of(classes[:0], confidence[:0], ["a", "b"], None, None) == []


def test_non_finite_model_outputs_are_refused(tmp_path):
    windows = np.random.default_rng(3).standard_normal((5, 1, 64)).astype(np.float32)
    checkpoint = checkpoint_config(tmp_path / "ck", n_scales=8, image_size=16)

    def nan_model(images):
        probs = np.full((len(images), 3), 1 / 3, np.float32)
        probs[-1, 1] = np.nan
        return probs

    with pytest.raises(DataError, match="non-finite output .* 1 of 5 windows, the first window 4 of rec"):
        diagnose(stub_predictor(checkpoint, nan_model)(), windows, "rec")
    with pytest.raises(ConfigError, match="shape"):
        diagnose(stub_predictor(checkpoint, lambda images: np.ones((len(images), 2)))(), windows, "rec")


def test_an_onnx_model_with_non_finite_outputs_is_refused(tmp_path):
    np.save(tmp_path / "rec.npy", np.random.default_rng(4).standard_normal(5000).astype(np.float32))
    good = onnx_folder(tmp_path / "good")
    assert diagnose_file(tmp_path / "rec.npy", good, fs=FS).windows == (5000 - 64) // 32 + 1
    bad = onnx_folder(tmp_path / "bad", scale=[1.0, float("nan"), 1.0])
    with pytest.raises(DataError, match="non-finite output"):
        diagnose_file(tmp_path / "rec.npy", bad, fs=FS)
    result = runner.invoke(app, ["diagnose", str(tmp_path / "rec.npy"), "--checkpoint", str(bad), "--fs", str(FS), "--json"])
    assert result.exit_code == 2 and "non-finite output" in result.output and "NaN" not in result.stdout


def test_the_json_output_never_holds_nan(tmp_path, monkeypatch):
    np.save(tmp_path / "rec.npy", np.zeros(5000, np.float32))
    real = inference_module.diagnose

    def with_nan(*args, **kwargs):
        found = real(*args, **kwargs)
        found.probability = float("nan")
        return found

    monkeypatch.setattr(inference_module, "diagnose", with_nan)
    result = runner.invoke(app, ["diagnose", str(tmp_path / "rec.npy"), "--checkpoint", str(onnx_folder(tmp_path / "ox")), "--fs", str(FS), "--json"])
    assert result.exit_code == 2 and "non-finite number" in result.output and result.stdout == ""


def test_json_summary_per_window_output_and_files(tmp_path):
    np.save(tmp_path / "rec.npy", np.random.default_rng(5).standard_normal(3000).astype(np.float32))
    args = ["diagnose", str(tmp_path / "rec.npy"), "--checkpoint", str(onnx_folder(tmp_path / "ox")), "--fs", str(FS)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert "per_window" not in summary and "window_predictions" not in summary
    assert sum(s["windows"] for s in summary["segments"]) == summary["windows"] == 92
    assert summary["majority"]["class"] in NAMES and 0 < summary["majority"]["share"] <= 1
    result = runner.invoke(app, [*args, "--json", "--per-window", "--per-window-out", str(tmp_path / "w.csv")])
    assert result.exit_code == 0, result.output
    detailed = json.loads(result.stdout)
    assert [r["window"] for r in detailed["per_window"]] == list(range(92)) and detailed["segments"] == summary["segments"]
    lines = (tmp_path / "w.csv").read_text().splitlines()
    assert lines[0] == "window,start_s,end_s,class,probability" and len(lines) == 93 and lines[1].startswith("0,0.0,0.005333,")
    result = runner.invoke(app, [*args, "--per-window-out", str(tmp_path / "w.jsonl")])
    assert result.exit_code == 0 and "segment(s)" in result.stdout and "start s" in result.stdout
    rows = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert rows == detailed["per_window"]
    result = runner.invoke(app, [*args, "--per-window-out", str(tmp_path / "w.txt")])
    assert result.exit_code == 2 and ".csv or .jsonl" in result.output and not (tmp_path / "w.txt").exists()


def test_progress_lines_come_at_intervals(capsys):
    now = [0.0]
    lines = ProgressLines("rec.npy", every=10.0, clock=lambda: now[0])
    for done in range(0, 1000, 100):
        now[0] += 4.0
        lines(done, 1000)
    lines(1000, 1000)
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 3 and printed[0].startswith("rec.npy: 200/1000 windows (20%), 12 s")
