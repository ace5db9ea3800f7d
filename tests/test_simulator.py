import numpy as np
import pytest
import yaml
from scipy.signal import hilbert

from syndiag.config.data import SimulatorOptions
from syndiag.data.cwru_classes import CWRU_LOADS, condition_name, cwru_classes
from syndiag.data.simulator import (
    DRIVE_END_6205,
    FAN_END_6203,
    RecordingChain,
    simulate_cwru_like,
    simulate_recording,
    write_recordings,
)
from syndiag.errors import DataError

FS = 12000.0
CLASS_NAMES = [
    "normal",
    "DE_IR007", "DE_IR014", "DE_IR021", "DE_B007", "DE_B014", "DE_B021", "DE_OR007", "DE_OR014", "DE_OR021",
    "FE_IR007", "FE_IR014", "FE_IR021", "FE_B007", "FE_B014", "FE_B021", "FE_OR007", "FE_OR014", "FE_OR021",
]


def simulate(label, load=0, channels=("DE", "FE"), seed=0, seconds=2.0, fs=FS, snr_db=10.0):
    return simulate_recording(label, load, list(channels), fs, seconds, np.random.default_rng(seed), snr_db)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def envelope_peak_hz(x, fs, low=10.0, high=1000.0):
    squared_envelope = np.abs(hilbert(x)) ** 2
    spectrum = np.abs(np.fft.rfft(squared_envelope - squared_envelope.mean()))
    freqs = np.fft.rfftfreq(x.size, 1 / fs)
    band = (freqs > low) & (freqs < high)
    return float(freqs[band][np.argmax(spectrum[band])])


def test_the_simulated_rig_uses_the_shipped_cwru_bearing_geometries():
    assert DRIVE_END_6205.orders()["BPFI"] == pytest.approx(5.4152, abs=1e-3)
    assert FAN_END_6203.orders()["2xBSF"] == pytest.approx(3.9874, abs=1e-3)


def test_classes_are_the_19_cwru_states_in_order():
    classes = cwru_classes()
    assert [c.name for c in classes] == CLASS_NAMES
    prompts = {c.name: c.prompt for c in classes}
    assert prompts["normal"] == "normal operation"
    assert prompts["DE_IR007"] == "inner race fault at motor end with diameter 0.007 inches"
    assert prompts["FE_B014"] == "ball fault at fan end with diameter 0.014 inches"
    assert prompts["DE_OR021"] == "outer race fault at motor end with diameter 0.021 inches"
    assert len(set(prompts.values())) == 19


def test_condition_names_follow_shaft_speed():
    assert CWRU_LOADS == {0: 1797, 1: 1772, 2: 1750, 3: 1730}
    assert [condition_name(load) for load in range(4)] == ["1797rpm", "1772rpm", "1750rpm", "1730rpm"]
    with pytest.raises(DataError, match="load"):
        condition_name(4)


@pytest.mark.parametrize(
    ("label", "row", "defect_hz"),
    [
        ("DE_IR021", 0, DRIVE_END_6205.frequencies(1797 / 60)["BPFI"]),
        ("DE_OR021", 0, DRIVE_END_6205.frequencies(1797 / 60)["BPFO"]),
        ("DE_B021", 0, DRIVE_END_6205.frequencies(1797 / 60)["2xBSF"]),
        ("FE_IR021", 1, FAN_END_6203.frequencies(1797 / 60)["BPFI"]),
        ("FE_OR007", 1, FAN_END_6203.frequencies(1797 / 60)["BPFO"]),
    ],
)
def test_squared_envelope_spectrum_peaks_at_the_defect_frequency(label, row, defect_hz):
    x = simulate(label)[row]
    assert envelope_peak_hz(x, FS) == pytest.approx(defect_hz, rel=0.02)


def test_normal_envelope_has_no_bearing_line():
    x = simulate("normal")[0]
    fault_peak = envelope_peak_hz(simulate("DE_IR021")[0], FS)
    squared_envelope = np.abs(hilbert(x)) ** 2
    spectrum = np.abs(np.fft.rfft(squared_envelope - squared_envelope.mean()))
    freqs = np.fft.rfftfreq(x.size, 1 / FS)
    near = np.abs(freqs - fault_peak) < 1.0
    band = (freqs > 10) & (freqs < 1000)
    assert spectrum[near].max() < 5 * np.median(spectrum[band])


@pytest.mark.parametrize("kind", ["IR", "B", "OR"])
@pytest.mark.parametrize("end", ["DE", "FE"])
def test_amplitude_grows_with_defect_diameter(end, kind):
    row = 0 if end == "DE" else 1
    levels = [rms(simulate(f"{end}_{kind}{size}", seed=3)[row]) for size in ("007", "014", "021")]
    assert levels[0] < levels[1] < levels[2]


def test_faults_are_louder_than_normal_and_strongest_at_their_own_end():
    normal = simulate("normal")
    de_fault = simulate("DE_B007")
    fe_fault = simulate("FE_B007")
    assert rms(de_fault[0]) > 1.5 * rms(normal[0])
    assert rms(fe_fault[1]) > 1.5 * rms(normal[1])
    assert rms(de_fault[0]) / rms(de_fault[1]) > rms(normal[0]) / rms(normal[1])
    assert rms(fe_fault[1]) / rms(fe_fault[0]) > rms(normal[1]) / rms(normal[0])


def test_same_seed_gives_identical_signals_and_another_seed_does_not():
    a = simulate("DE_IR014", load=2, seed=7)
    b = simulate("DE_IR014", load=2, seed=7)
    c = simulate("DE_IR014", load=2, seed=8)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_a_channel_does_not_depend_on_which_others_are_asked_for():
    both = simulate("FE_OR014", channels=("DE", "FE"))
    assert np.array_equal(simulate("FE_OR014", channels=("DE",))[0], both[0])
    assert np.array_equal(simulate("FE_OR014", channels=("FE",))[0], both[1])
    assert np.array_equal(simulate("FE_OR014", channels=("FE", "DE")), both[::-1])


def spectral_peak_hz(x, fs, low=1000.0):
    spectrum = np.abs(np.fft.rfft(x - x.mean()))
    freqs = np.fft.rfftfreq(x.size, 1 / fs)
    band = freqs > low
    return float(freqs[band][np.argmax(spectrum[band])])


def test_another_recording_chain_moves_the_housing_mode_and_scales_the_gain():
    rig = simulate_recording("DE_OR021", 0, ["DE"], FS, 2.0, np.random.default_rng(3), 60.0)
    same = simulate_recording("DE_OR021", 0, ["DE"], FS, 2.0, np.random.default_rng(3), 60.0, RecordingChain())
    louder = simulate_recording("DE_OR021", 0, ["DE"], FS, 2.0, np.random.default_rng(3), 60.0, RecordingChain(gain=2.0))
    moved = simulate_recording("DE_OR021", 0, ["DE"], FS, 2.0, np.random.default_rng(3), 60.0, RecordingChain(resonance_scale=1.3))
    assert np.array_equal(rig, same)
    assert np.allclose(louder, 2.0 * rig)
    assert spectral_peak_hz(rig[0], FS) == pytest.approx(3500.0, rel=0.05)
    assert spectral_peak_hz(moved[0], FS) == pytest.approx(3500.0 * 1.3, rel=0.05)
    assert envelope_peak_hz(moved[0], FS) == pytest.approx(envelope_peak_hz(rig[0], FS), rel=0.02)


@pytest.mark.parametrize("field", ["resonance_scale", "gain"])
def test_a_recording_chain_refuses_a_non_positive_factor(field):
    with pytest.raises(DataError, match=field):
        RecordingChain(**{field: 0.0})


@pytest.mark.parametrize("fs", [12000.0, 48000.0, 8000.0, 2000.0])
def test_shape_and_finiteness(fs):
    x = simulate("DE_OR021", channels=("DE", "FE"), seconds=0.5, fs=fs, snr_db=0.0)
    assert x.shape == (2, round(0.5 * fs))
    assert x.dtype == np.float64
    assert np.isfinite(x).all()
    assert (rms(x[0]) > 0) and (rms(x[1]) > 0)


def test_noise_level_follows_snr():
    clean = simulate("normal", snr_db=60.0)[0]
    noisy = simulate("normal", snr_db=0.0)[0]
    assert rms(noisy) == pytest.approx(np.sqrt(2) * rms(clean), rel=0.05)


@pytest.mark.parametrize(
    ("label", "load", "channels", "match"),
    [
        ("DE_IR028", 0, ["DE"], "unknown CWRU class"),
        ("bogus", 0, ["DE"], "unknown CWRU class"),
        ("normal", 5, ["DE"], "load"),
        ("normal", 0, ["BA"], "channel"),
        ("normal", 0, [], "channel"),
        ("normal", 0, ["DE", "DE"], "duplicate"),
    ],
)
def test_bad_requests_raise_data_error(label, load, channels, match):
    with pytest.raises(DataError, match=match):
        simulate_recording(label, load, channels, FS, 0.5, np.random.default_rng(0), 10.0)


def test_simulated_set_has_one_recording_per_class_and_load():
    options = SimulatorOptions(seconds=0.5, seed=1)
    recset = simulate_cwru_like(options, ["DE", "FE"], [0, 3])
    assert recset.name == "simulated-cwru"
    assert recset.class_names == CLASS_NAMES
    assert recset.conditions == ["1797rpm", "1730rpm"]
    assert len(recset.recordings) == 19 * 2
    for condition in recset.conditions:
        for label in CLASS_NAMES:
            (rec,) = recset.cell(condition, label)
            assert rec.source == f"simulated:{label}@{condition}"
            assert tuple(rec.channels) == ("DE", "FE")
            assert rec.fs == 12000.0
            assert rec.signal.shape == (2, 6000)
            assert any("simulated" in note for note in rec.notes)
    assert any("simulated" in note for note in recset.notes)


def test_a_cell_is_reproducible_whatever_other_loads_are_requested():
    options = SimulatorOptions(seconds=0.5, seed=4)
    alone = simulate_cwru_like(options, ["DE"], [2])
    with_others = simulate_cwru_like(options, ["DE"], [0, 2, 3])
    for label in ("normal", "DE_IR007", "FE_OR021"):
        assert np.array_equal(alone.cell("1750rpm", label)[0].signal, with_others.cell("1750rpm", label)[0].signal)
    other_seed = simulate_cwru_like(SimulatorOptions(seconds=0.5, seed=5), ["DE"], [2])
    assert not np.allclose(alone.cell("1750rpm", "DE_IR007")[0].signal, other_seed.cell("1750rpm", "DE_IR007")[0].signal)


def test_simulated_set_rejects_bad_loads():
    with pytest.raises(DataError):
        simulate_cwru_like(SimulatorOptions(seconds=0.5), ["DE"], [0, 7])
    with pytest.raises(DataError, match="duplicate"):
        simulate_cwru_like(SimulatorOptions(seconds=0.5), ["DE"], [1, 1])


def test_write_recordings_round_trip(tmp_path):
    loads = [0, 1]
    recset = simulate_cwru_like(SimulatorOptions(seconds=0.25, seed=2), ["DE", "FE"], loads)
    spec_path = write_recordings(recset, tmp_path / "out")
    assert spec_path == tmp_path / "out" / "dataset.yaml"

    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    assert spec["name"] == "simulated-cwru"
    assert spec["classes"] == [{"name": c.name, "prompt": c.prompt} for c in cwru_classes()]
    assert len(spec["recordings"]) == 19 * len(loads)
    assert spec["recordings"][0] == {
        "files": "normal_1797rpm.npz",
        "label": "normal",
        "condition": "1797rpm",
        "channels": ["DE", "FE"],
        "fs": 12000,
    }

    for entry, rec in zip(spec["recordings"], recset.recordings, strict=True):
        assert entry["files"] == f"{rec.label}_{rec.condition}.npz"
        assert (entry["label"], entry["condition"]) == (rec.label, rec.condition)
        with np.load(spec_path.parent / entry["files"], allow_pickle=False) as archive:
            assert sorted(archive.files) == ["DE", "FE", "fs"]
            assert float(archive["fs"]) == rec.fs
            assert np.array_equal(archive["DE"], rec.signal[0])
            assert np.array_equal(archive["FE"], rec.signal[1])

    names = sorted(p.name for p in spec_path.parent.iterdir())
    assert len(names) == 19 * len(loads) + 1
    assert not [n for n in names if n.startswith(".") or "tmp" in n]


def test_write_recordings_overwrites_a_previous_run(tmp_path):
    first = simulate_cwru_like(SimulatorOptions(seconds=0.25, seed=0), ["DE"], [0])
    second = simulate_cwru_like(SimulatorOptions(seconds=0.25, seed=1), ["DE"], [0])
    write_recordings(first, tmp_path)
    write_recordings(second, tmp_path)
    with np.load(tmp_path / "DE_IR007_1797rpm.npz") as archive:
        assert np.array_equal(archive["DE"], second.cell("1797rpm", "DE_IR007")[0].signal[0])
