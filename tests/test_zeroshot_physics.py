"""Zero-shot classes from their description by physics (issue 30): the parse, the defect-line evidence, the attribute
transfer, and the routes on a small real CWRU slice."""

import numpy as np
import pytest
import yaml
from conftest import small_config
from test_cli_models import recipe
from test_unknown_suites import unknown_bench

from syndiag.config.openset import OpenSetConfig, ZeroShotSplit
from syndiag.data.prepare import prepare
from syndiag.errors import ConfigError
from syndiag.evaluation.metrics import read_results
from syndiag.models.baselines import log_spectrum
from syndiag.models.zeroshot_physics import FaultDescription, attribute_scores, line_scores, parse_description, window_evidence
from syndiag.physics.bearings import bearing
from syndiag.workflows.zeroshot import run_zeroshot_suite
from syndiag.workflows.zeroshot_combined import COMBINED_ROUTES, run_zeroshot_combined
from syndiag.workflows.zeroshot_physics import condition_rpm, physics_record, split_descriptions


def test_parse_names_type_location_size_and_refuses_what_is_missing():
    assert parse_description("outer race fault at fan end with diameter 0.021 inches", "x") == FaultDescription("outer_race", "fan_end", 0.021)
    assert parse_description("Ball fault, drive-end bearing, 0.5 mm", "x") == FaultDescription("ball", "drive_end", pytest.approx(0.5 / 25.4))
    assert parse_description("normal operation", "x").fault is None
    with pytest.raises(ConfigError, match="split 'a', class FE_B014.*does not name one fault type") as missing_type:
        parse_description("a fault at the fan end", "split 'a', class FE_B014")
    assert "one location (" not in str(missing_type.value)
    with pytest.raises(ConfigError, match="does not name one location") as missing_location:
        parse_description("inner race fault, 0.014 inches", "x")
    assert "one fault type (" not in str(missing_location.value)
    with pytest.raises(ConfigError, match="several"):
        parse_description("inner race or outer race fault at the fan end", "x")
    with pytest.raises(ConfigError, match="no shaft speed"):
        condition_rpm("3HP")


def test_an_impact_train_at_the_drive_end_bpfo_shows_on_its_line_and_location():
    fs, rpm = 12000.0, 1730.0
    bpfo = bearing("cwru-drive-end").frequencies(rpm / 60)["BPFO"]
    t = np.arange(8 * 512) / fs
    rng = np.random.default_rng(0)
    impacts = np.zeros_like(t)
    impacts[(np.arange(0, t[-1], 1 / bpfo) * fs).astype(int)] = 1.0
    ringing = np.convolve(impacts, np.exp(-np.arange(60) / 8) * np.sin(2 * np.pi * 3000 * np.arange(60) / fs))[: t.size]
    de = 5 * ringing + 0.05 * rng.standard_normal(t.size)
    fe = 0.05 * rng.standard_normal(t.size)
    windows = np.stack([np.stack([de, fe])[:, i * 512:(i + 1) * 512] for i in range(8)])
    evidence = window_evidence(windows, fs, ["DE", "FE"], rpm)
    lines = {k: v.mean() for k, v in evidence.items() if not k.startswith("rms")}
    assert max(lines, key=lines.get) == "outer_race@drive_end"
    described = [FaultDescription("outer_race", "drive_end", 0.007), FaultDescription("outer_race", "fan_end", 0.007)]
    scores = line_scores(evidence, described)
    assert (scores[:, 0] > scores[:, 1]).all()
    with pytest.raises(ConfigError, match="no channel FE"):
        window_evidence(windows[:, :1], fs, ["DE"], rpm)


def test_attribute_transfer_composes_the_seen_attributes():
    seen = [FaultDescription("ball", "drive_end", 0.007), FaultDescription("ball", "fan_end", 0.021), FaultDescription("inner_race", "fan_end", 0.014)]
    new = [FaultDescription("ball", "fan_end", 0.014), FaultDescription("ball", "drive_end", 0.021)]
    near_fan_end = np.array([[50.0, 0.0, 1.0]])  # closest to the fan-end classes: the fan-end ball fault
    near_drive_end = np.array([[0.0, 3.0, 60.0]])  # between the drive-end ball 0.007 and the ball 0.021: the drive-end 0.021
    assert attribute_scores(near_fan_end, seen, new).argmax() == 0
    assert attribute_scores(near_drive_end, seen, new).argmax() == 1


@pytest.fixture(scope="module")
def slice_1730(tmp_path_factory, shared_data):
    return prepare(small_config(tmp_path_factory.mktemp("zsp"), data_root=str(shared_data), cwru={"loads": [3], "channels": ["DE", "FE"]}))


def test_routes_on_a_real_slice_and_a_bad_description_refused(slice_1730):
    dataset = slice_1730
    config = OpenSetConfig(seeds=[0])
    split = config.splits[2]  # inner race, ends swapped: the defect lines tell the ends apart
    rows = np.arange(len(dataset))
    evidence = window_evidence(np.asarray(dataset.windows), dataset.fs, list(dataset.meta["channels"]), 1730.0)
    record = physics_record(config, dataset, split, 0, rows, log_spectrum(np.asarray(dataset.windows)), evidence)
    described, swapped = record["metrics"]["described"], record["metrics"]["swapped"]
    assert record["new_classes"] == ["FE_IR007", "DE_IR021"]
    assert described["lines"]["new_among_new"] >= 0.8 > swapped["lines"]["new_among_new"]
    assert described["attributes"]["new"] > swapped["attributes"]["new"]
    assert record["test_windows"] == 19 * 5  # half of the 10 windows per class are test windows
    bad = ZeroShotSplit(name="vague", new=["FE_B014"], descriptions={"FE_B014": "a fault somewhere, 0.014 inches"})
    with pytest.raises(ConfigError, match="split 'vague', class FE_B014.*one fault type .* nor one location"):
        split_descriptions(dataset, bad)


def test_the_language_model_suite_refuses_a_vague_description_before_anything_trains(tmp_path, shared_data):
    run_recipe = recipe(tmp_path, tmp_path / "no-backbone")  # the CLI tests' tiny recipe; its backbone is never loaded here
    bad = ZeroShotSplit(name="vague", new=["DE_B021"], descriptions={"DE_B021": "ball fault, 0.021 inches"})
    config = OpenSetConfig(recipe=run_recipe, splits=[bad], seeds=[0], zeroshot_backbones=["cloud"], work_dir=tmp_path / "work")
    results = tmp_path / "zeroshot.jsonl"
    with pytest.raises(ConfigError, match="split 'vague', class DE_B021.*does not name one location"):
        run_zeroshot_suite(config, results, {"data.data_root": str(shared_data)}, say=lambda _: None, allow_dirty=True)
    assert not results.exists() and not (tmp_path / "work").exists()


@pytest.mark.slow
def test_the_combined_routes_run_on_a_tiny_model_and_resume(tmp_path, shared_data):
    bench = yaml.safe_load(unknown_bench(tmp_path, shared_data / "cwru", {}).read_text())
    config = OpenSetConfig(recipe=bench["recipe"], seeds=[0], splits=[OpenSetConfig().splits[2]], work_dir=tmp_path / "work")
    results = tmp_path / "combined.jsonl"
    assert run_zeroshot_combined(config, results, say=lambda _: None, allow_dirty=True) == (1, 0)
    (record,) = read_results(results)
    assert record["new_classes"] == ["FE_IR007", "DE_IR021"] and record["suite"] == "zeroshot-combined"
    assert set(record["metrics"]["text"]) == set(record["metrics"]["random_vectors"]) == set(COMBINED_ROUTES)
    text = record["metrics"]["text"]
    assert text["language-model, gated"]["seen"] == text["attributes"]["seen"]  # the same gate sends the same windows to the seen classes
    assert run_zeroshot_combined(config, results, say=lambda _: None, allow_dirty=True) == (0, 0)
