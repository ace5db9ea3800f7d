"""Simulated thermal images (LLaVA-for-Sensors article, 'thermal imaging'): the hot spot, each window's latest frame, PNG files."""

from functools import cache

import numpy as np
import pytest
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.data import DataConfig
from syndiag.data.recording import Channel, FaultClass, Recording, RecordingSet
from syndiag.data.sensor_images import ImageFrame, window_images
from syndiag.data.sensor_windows import sensor_windows, sensor_windows_for
from syndiag.data.simulated_sensors import (
    CRACK_CLASS,
    crack_recording,
    simulated_frames,
    simulated_sensor_set,
)
from syndiag.data.simulator import SIMULATED_NOTE
from syndiag.data.thermal import (
    celsius_of,
    read_frames,
    render,
    thermal_image,
    write_frames,
)
from syndiag.errors import DataError

SIDE = 64
LEFT, RIGHT = (slice(None), slice(0, SIDE // 2)), (slice(None), slice(SIDE // 2, SIDE))


def brightness(image: np.ndarray) -> np.ndarray:
    """Pixel brightness of an 'inferno' image (its lightness rises monotonically with temperature)."""
    return np.asarray(image, dtype=np.float64).mean(axis=-1)


@cache
def mean_frame(label: str, load: int, frames: int = 6, seed: int = 3) -> np.ndarray:
    """Temperatures read back from the colours of a few frames, averaged."""
    rng = np.random.default_rng(seed)
    return np.mean([celsius_of(thermal_image(label, load, rng)) for _ in range(frames)], axis=0)


def hot_excess(label: str, load: int, half) -> float:
    """How much hotter (degrees C) the hottest pixels of one half are than in the healthy rig at the same load."""
    excess = mean_frame(label, load) - mean_frame("normal", load)
    return float(np.sort(excess[half].ravel())[-20:].mean())


def test_the_hot_spot_sits_on_the_faulty_housing_and_grows_with_diameter_and_load():
    for label, hot, cold in (("DE_IR014", LEFT, RIGHT), ("FE_IR014", RIGHT, LEFT), ("FE_B007", RIGHT, LEFT)):
        assert hot_excess(label, 1, hot) > 3 * max(hot_excess(label, 1, cold), 1.0), label
        excess = mean_frame(label, 1) - mean_frame("normal", 1)
        column = np.unravel_index(np.argmax(excess), excess.shape)[1]
        assert (column < SIDE // 2) == label.startswith("DE"), (label, column)
    sizes = [hot_excess(f"DE_OR{size}", 0, LEFT) for size in ("007", "014", "021")]
    assert sizes[0] < sizes[1] < sizes[2] and sizes[0] > 2
    loads = [hot_excess("FE_IR014", load, RIGHT) for load in (0, 1, 2, 3)]
    assert loads == sorted(loads) and loads[3] > 1.3 * loads[0]
    assert hot_excess("normal", 2, LEFT) == 0.0


def test_the_background_warms_with_load_and_frames_are_noisy_but_seeded():
    medians = [float(np.median(celsius_of(thermal_image("normal", load, np.random.default_rng(0))))) for load in (0, 1, 2, 3)]
    assert medians == sorted(medians) and medians[3] - medians[0] > 1.0
    housings = [float(np.percentile(brightness(thermal_image("normal", load, np.random.default_rng(0))), 90)) for load in (0, 3)]
    assert housings[1] > housings[0] + 10  # brighter colours, not only hotter numbers
    a, b = (thermal_image("DE_B021", 2, np.random.default_rng(7)) for _ in range(2))
    assert a.dtype == np.uint8 and a.shape == (SIDE, SIDE, 3) and np.array_equal(a, b)
    rng = np.random.default_rng(7)
    assert not np.array_equal(thermal_image("DE_B021", 2, rng), thermal_image("DE_B021", 2, rng))
    field = np.linspace(15.0, 85.0, SIDE * SIDE).reshape(SIDE, SIDE)
    assert np.abs(celsius_of(render(field)) - np.clip(field, 20.0, 80.0)).max() <= 60 / 255 / 2 + 1e-9
    off_map = render(field).astype(np.int16) + np.array([2, -1, 1], np.int16)  # colours slightly off the colormap
    assert np.abs(celsius_of(np.clip(off_map, 0, 255).astype(np.uint8)) - np.clip(field, 20.0, 80.0)).max() < 1.5
    with pytest.raises(DataError, match="unknown CWRU class"):
        thermal_image("DE_XX007", 0, rng)


def _recording(frames, label="normal", seconds=10.0, fs=100.0):
    rng = np.random.default_rng(0)
    return Recording(channels={"x": rng.standard_normal(int(seconds * fs))}, specs={"x": Channel("x", "vibration", fs)},
                           start_s={"x": 0.0}, label=label, condition="c", source=f"hand:{label}", images=frames, duration_s=seconds)


def _solid(value):
    return np.full((4, 4, 3), value, dtype=np.uint8)


def test_a_window_sees_the_latest_frame_at_or_before_its_end_and_none_before_the_first():
    frames = [(6.0, _solid(60)), (2.0, _solid(20)), (4.0, _solid(40))]  # out of order on purpose
    found = window_images([_recording(frames)], np.zeros(6, np.int64), np.array([0.5, 1.999, 2.0, 3.99, 4.0, 100.0]))
    assert found["present"].tolist() == [False, False, True, True, True, True]
    assert found["images"][:, 0, 0, 0].tolist() == [0, 0, 20, 20, 40, 60]
    assert window_images([_recording([])], np.zeros(2, np.int64), np.array([1.0, 2.0])) is None

    layout = [Channel("x", "vibration", 100.0, 50)]
    recset = RecordingSet("hand", [FaultClass("normal", "normal")], ["c"], [_recording(frames)])
    windows = sensor_windows(recset, layout, window_seconds=0.5, per_class=16, step_seconds=0.25)
    expected = np.array([max([v for t, v in ((2.0, 20), (4.0, 40), (6.0, 60)) if t <= end], default=0) for end in windows.end_s])
    assert (windows.end_s < 2.0).any() and (windows.end_s >= 6.0).any()
    assert windows.images[:, 0, 0, 0].tolist() == expected.tolist()
    assert windows.image_present.tolist() == (windows.end_s >= 2.0).tolist()
    assert windows.meta["images"]["windows_without"] == int((windows.end_s < 2.0).sum())
    part = windows.subset([0, len(windows) - 1])
    assert part.images.shape == (2, 4, 4, 3) and part.image_present.tolist() == windows.image_present[[0, -1]].tolist()
    plain = sensor_windows(RecordingSet("hand", recset.classes, ["c"], [_recording([])]), layout, 0.5, 16)
    assert plain.images is None and plain.image_present is None
    with pytest.raises(DataError, match=r"\(H, W, 3\) uint8"):
        _recording([(1.0, np.zeros((4, 4), np.uint8))])
    with pytest.raises(DataError, match="not a finite"):
        _recording([(float("nan"), _solid(1))])


def test_simulated_windows_align_with_the_prepared_dataset_and_say_they_are_simulated(tmp_path):
    from syndiag.data.prepare import prepare

    data = DataConfig(dataset="simulated", cache_dir=tmp_path / "cache", window={"per_class": 10},
                      spectrogram={"image_size": 16, "n_scales": 8}, simulator={"seconds": 2.0}, cwru={"channels": ["DE", "FE"], "loads": [3]})
    dataset = prepare(data)
    sensor_set = simulated_sensor_set(data)
    assert any(SIMULATED_NOTE in note for note in sensor_set.notes) and all(SIMULATED_NOTE in r.notes for r in sensor_set.recordings)
    layout = [Channel("DE", "vibration", 12000.0, 512), Channel("FE", "vibration", 12000.0, 512), Channel("speed", "speed", 1.0, 1)]
    windows = sensor_windows_for(dataset, sensor_set, layout)
    assert windows.meta["verified"] == ["DE", "FE"] and any(SIMULATED_NOTE in note for note in windows.meta["notes"])
    assert windows.images.shape == (len(windows), 64, 64, 3) and windows.images.dtype == np.uint8
    assert windows.image_present.tolist() == (windows.end_s >= 0.5).tolist() and windows.image_present.any()
    for i in range(len(windows)):
        rec = sensor_set.recordings[windows.recording[i]]
        seen = [image for t, image in rec.images if t <= windows.end_s[i]]
        assert np.array_equal(windows.images[i], seen[-1] if seen else np.zeros((64, 64, 3), np.uint8))
    labels = np.array(windows.class_names)[windows.labels]
    assert np.allclose(windows.severity[labels == "DE_IR021"], 0.021) and np.all(windows.severity[labels == "normal"] == 0.0)
    assert np.all(windows.signals["speed"] == 1730.0)
    assert sensor_windows_for(dataset, simulated_sensor_set(data, images=False), layout).images is None


def test_frames_round_trip_through_png_and_a_broken_png_is_a_data_error_naming_it(tmp_path):
    frames = {"DE_IR007_1797rpm": [(0.5, thermal_image("DE_IR007", 0, np.random.default_rng(1))), (1.5, _solid(9).repeat(16, 0).repeat(16, 1))]}
    frames["normal_1797rpm"] = [(0.5, thermal_image("normal", 0, np.random.default_rng(2)))]
    index = write_frames(frames, tmp_path / "thermal")
    assert index.read_text(encoding="utf-8").splitlines()[0] == f"# {SIMULATED_NOTE}"
    back = read_frames(tmp_path / "thermal")
    assert sorted(back) == sorted(frames)
    for key, items in frames.items():
        assert [t for t, _ in back[key]] == [t for t, _ in items]
        assert all(np.array_equal(a, b) and b.dtype == np.uint8 for (_, a), (_, b) in zip(items, back[key]))
    broken = tmp_path / "thermal" / "DE_IR007_1797rpm_001.png"
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(DataError, match="DE_IR007_1797rpm_001.png"):
        read_frames(tmp_path / "thermal")
    broken.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="DE_IR007_1797rpm_001.png.*not a readable PNG"):
        read_frames(tmp_path / "thermal")
    broken.unlink()
    with pytest.raises(DataError, match="DE_IR007_1797rpm_001.png"):
        read_frames(tmp_path / "thermal")


def test_data_simulate_writes_thermal_frames_beside_the_recordings(tmp_path):
    out = tmp_path / "sim"
    result = CliRunner().invoke(app, ["data", "simulate", "--out", str(out), "--thermal", "--set", "cwru.loads=[0]", "--set", "simulator.seconds=1"])
    assert result.exit_code == 0, result.output
    assert "thermal" in result.output and (out / "DE_IR007_1797rpm.npz").is_file()
    back = read_frames(out / "thermal")
    expected = simulated_frames(DataConfig(dataset="simulated", simulator={"seconds": 1.0}, cwru={"loads": [0]}))
    assert sorted(back) == sorted(expected) and len(back) == 19
    assert all(np.array_equal(back[k][0][1], expected[k][0][1]) and back[k][0][0] == 0.5 for k in expected)


def test_normal_vibration_with_a_visible_crack_is_representable_and_windowed():
    data = DataConfig(dataset="simulated", simulator={"seconds": 2.0}, cwru={"channels": ["DE", "FE"], "loads": [0]})
    simulated = simulated_sensor_set(data)
    normal = next(r for r in simulated.recordings if r.label == "normal")
    faulty = next(r for r in simulated.recordings if r.label == "DE_IR021")
    cracked = crack_recording(load_hp=0, seconds=2.0, crack_end="DE")
    assert cracked.label == CRACK_CLASS.name and SIMULATED_NOTE in cracked.notes
    assert all(isinstance(image, ImageFrame) and image.label == "crack" for _, image in cracked.images)

    def kurtosis(x):
        x = x - x.mean()
        return float(np.mean(x**4) / np.mean(x**2) ** 2)

    assert abs(kurtosis(cracked.channels["DE"]) - kurtosis(normal.channels["DE"])) < 0.5  # impact-free, like the healthy rig
    assert kurtosis(faulty.channels["DE"]) > kurtosis(cracked.channels["DE"]) + 1.5
    assert 0.7 < np.std(cracked.channels["DE"]) / np.std(normal.channels["DE"]) < 1.4

    crack_image, normal_image = cracked.images[0][1].pixels, normal.images[0][1]
    hot = celsius_of(crack_image) - celsius_of(normal_image) > 6.0
    rows, cols = np.nonzero(hot)
    assert rows.size > 10 and cols.max() < SIDE // 2  # on the drive-end housing only
    spread = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(float)))
    assert spread[1] > 10 * spread[0]  # a thin streak, not a round spot

    layout = [Channel("DE", "vibration", 12000.0, 512), Channel("speed", "speed", 1.0, 1)]
    recset = RecordingSet("crack-demo", [simulated.classes[0], CRACK_CLASS], ["1797rpm"], [normal, cracked])
    windows = sensor_windows(recset, layout, window_seconds=512 / 12000, per_class=8)
    crack_rows = np.array(windows.class_names)[windows.labels] == CRACK_CLASS.name
    assert crack_rows.any() and (~crack_rows).any() and windows.image_present.any()
    shown = windows.image_labels[windows.image_present]
    assert set(shown[crack_rows[windows.image_present]]) == {"crack"} and set(shown[~crack_rows[windows.image_present]]) == {""}
    assert windows.meta["images"]["image_labels"] == ["crack"]
    assert np.all(windows.severity[crack_rows] != windows.severity[crack_rows])  # stated unknown (NaN), not 0
