import json

import numpy as np
import pytest
import yaml
from figures import bar_heights, drawn, errorbar_series, image_data, labelled_lines, record_figures
from test_cli_models import recipe
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config import BenchmarkConfig
from syndiag.errors import ConfigError
from syndiag.evaluation.benchmark_report import (
    bootstrap_interval,
    cell_text,
    compute_lines,
    correct_vector,
    margin_section,
    paired_difference,
    provenance_lines,
)
from syndiag.evaluation.metrics import read_results

runner = CliRunner()
METHODS = ["Syn-Diag-Cloud", "Syn-Diag-Cloud 2x steps", "Syn-Diag w/o LoRA", "prototypes", "prototypes +noise", "CNN", "log-spectrum-1NN", "envelope-SVM"]


def bench_config(tmp_path, cwru_dir):
    run_recipe = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    raw = yaml.safe_load(run_recipe.read_text())
    raw["data"]["data_root"] = str(cwru_dir.parent)
    raw["pretrain"]["epochs"] = 1
    raw["finetune"]["epochs"] = 1
    raw["data"]["window"]["per_class"] = 10
    raw["edge"] = {"backbone": str(save_tiny_backbone(tmp_path / "tiny-bert", kind="encoder", hidden=16)), "lora_r": 2,
                   "input_prompts": 2, "deep_prompts": 2, "deep_prompt_every": 1}
    raw["distill"] = {"unlabelled_per_class": 1, "epochs": 1, "batch_size": 8}
    raw["update"] = {"cycles": 3, "new_per_class": 1, "epochs": 1, "validation_per_class": 1, "tolerance": 1.0}
    run_recipe.write_text(yaml.safe_dump(raw))
    config = {
        "recipe": str(run_recipe), "seeds": [0], "shots": [1, 2], "conditions": ["1730rpm"], "methods": METHODS,
        "cross_shots": 1, "cross_methods": ["log-spectrum-1NN"], "noise_snr_db": [0.0],
        "noise_shots": [2], "method_shots": {"Syn-Diag w/o LoRA": [1], "Syn-Diag-Cloud 2x steps": [1], "prototypes +noise": [2]},
        "image_baselines": {"CNN": {"name": "cnn", "image_size": 32, "cnn_widths": [8, 16]}},
        "baseline_training": {"pretrain_epochs": 1, "finetune_epochs": 1, "batch_size": 16},
        "out_dir": str(tmp_path / "results"), "work_dir": str(tmp_path / "work"), "resources_rounds": 1, "resources_repeats": 2,
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_benchmark_runs_every_method_on_the_same_splits_resumes_and_reports(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    config = bench_config(tmp_path, cwru_dir)
    report = tmp_path / "BENCHMARKS.md"
    args = ["benchmark", "-c", str(config), "--report", str(report)]
    result = runner.invoke(app, [*args, "--budget-minutes", "0.000001"])
    assert result.exit_code == 0, result.output
    assert "13 left" in result.output.replace("\n", " ") and report.is_file()

    result = runner.invoke(app, [*args, "--suite", "all", "--set", "recipe.update.cycles=2"])
    assert result.exit_code == 0, result.output
    assert "table2 skipped" in result.output
    records = read_results(tmp_path / "results" / "table1_cwru_test.jsonl")
    assert sorted({r["method"] for r in records}) == sorted(METHODS) and len(records) == 13
    assert [r["k"] for r in records if r["method"] == "Syn-Diag w/o LoRA"] == [1]
    steps = {(r["method"], r["k"]): r.get("train_steps") for r in records}
    assert steps[("Syn-Diag-Cloud 2x steps", 1)] == 2 * steps[("Syn-Diag-Cloud", 1)] > 0
    support = {(r["method"], r["k"]): r["train_windows"] for r in records}
    assert support[("prototypes", 2)] == 19 * 2 and support[("prototypes +noise", 2)] == 2 * 19 * 2
    for r in records:
        assert r["test_samples"] == 19 * 5 and correct_vector(r).size == 19 * 5
        assert correct_vector(r).mean() == pytest.approx(r["metrics"]["accuracy"])
        if r["k"] == 2:
            right = r["accuracy_under_noise"]["0"] * 19 * 5  # a share of the same 95 test windows, noisy
            assert set(r["accuracy_under_noise"]) == {"0"} and right == pytest.approx(round(right)) and r["accuracy_under_noise"]["0"] <= 1
        else:
            assert r["accuracy_under_noise"] == {}
        assert r["commit"] and r["machine"]["cores"] >= 1
    cross = read_results(tmp_path / "results" / "table3_cwru_test.jsonl")
    assert {(r["conditions"]["source"][0], r["conditions"]["target"]) for r in cross} == {("1730rpm", "1750rpm"), ("1750rpm", "1730rpm")}
    assert all(r["accuracy_under_noise"] == {} for r in cross)
    (seed_dir,) = (tmp_path / "work").glob("cwru-*/seed0")
    assert (seed_dir / "pretrained" / "model.safetensors").is_file()
    assert len(list(seed_dir.glob("cnn-*-pool.safetensors"))) == 1
    assert all(r["pretrained_commit"] for r in records if r["method"] in ("Syn-Diag-Cloud", "prototypes"))
    cnn = [r for r in records if r["method"] == "CNN"]
    assert cnn[0]["pretrain_seconds"] == cnn[1]["pretrain_seconds"] > 0

    updates = [r for r in read_results(tmp_path / "results" / "updates_cwru_test.jsonl") if r["method"] == "Syn-Diag-online-update"]
    assert len(updates) == 1 and len(updates[0]["cycles"]) == 2 and updates[0]["machine"]["cores"] >= 1
    resources = json.loads((tmp_path / "results" / "resources_cwru_test.json").read_text())
    assert {"cloud", "edge", "cloud-onnx", "edge-onnx", "edge-onnx-int8"} <= set(resources) and resources["rounds"] == 1
    assert resources["edge-onnx-int8"]["onnx_file_mb"] < resources["edge-onnx"]["onnx_file_mb"]
    assert set(resources["accuracy"]) == {"cloud-onnx", "edge-onnx", "edge-onnx-int8", "task"}
    evaluated = {r["method"]: r["metrics"]["accuracy"] for r in read_results(tmp_path / "results" / "updates_cwru_test.jsonl")
                 if r["method"] in ("Syn-Diag-Cloud", "Syn-Diag-Edge")}
    # the ONNX exports score the test windows of the models' task as the PyTorch models did (a window may flip on rounding)
    assert resources["accuracy"]["cloud-onnx"] == pytest.approx(evaluated["Syn-Diag-Cloud"], abs=1 / 95)
    assert resources["accuracy"]["edge-onnx"] == pytest.approx(evaluated["Syn-Diag-Edge"], abs=1 / 95)
    assert 0 < resources["edge_over_cloud"]["parameters_total"] and resources["commit"]
    assert (tmp_path / "results" / "resources_cwru_test.png").read_bytes()[:4] == b"\x89PNG"
    parameters, rss = drawn(saved, "resources_cwru_test.png").axes[:2]
    kinds = ("cloud", "edge", "cloud-onnx", "edge-onnx", "edge-onnx-int8")
    drawn_parameters = {kind.replace("\n", "-"): height for kind, height in bar_heights(parameters).items()}
    assert drawn_parameters == pytest.approx({k: resources[k]["parameters_total"] * 1e-6 for k in kinds if "parameters_total" in resources[k]})
    assert parameters.get_title() == "parameters (M)" and rss.get_title() == "peak RSS (MB)"

    result = runner.invoke(app, [*args, "--suite", "table1"])
    assert result.exit_code == 0 and "0 cell(s) run, 0 left" in result.output
    result = runner.invoke(app, [*args, "--suite", "updates"])  # 3 update cycles, not the 2 its lines were made with
    assert result.exit_code == 2 and "never reused" in result.output and "--rerun-mismatched" in result.output
    result = runner.invoke(app, [*args, "--suite", "updates", "--set", "recipe.update.cycles=2"])
    assert result.exit_code == 0 and "0 cell(s) run, 0 left" in result.output
    assert {r["cell_hash"] for r in read_results(tmp_path / "results" / "updates_cwru_test.jsonl")} == {updates[0]["cell_hash"]}
    assert len(read_results(tmp_path / "results" / "table1_cwru_test.jsonl")) == 13
    text = report.read_text()
    assert "## Table 1" in text and "## Table 3" in text and "| Syn-Diag w/o LoRA |" in text and "SNR 0 dB" in text
    assert "1730rpm → 1750rpm" in text
    full = drawn(saved, "table1_1730rpm_accuracy_vs_k.png").axes[0]
    expected = {m: [(r["k"], r["metrics"]["accuracy"]) for r in records if r["method"] == m and r["conditions"]["target"] == "1730rpm"]
                for m in METHODS}
    plotted = errorbar_series(full)
    assert sorted(plotted) == sorted(METHODS)
    for method, (k, accuracy) in plotted.items():
        assert k.tolist() == [k for k, _ in sorted(expected[method])] and accuracy == pytest.approx([a for _, a in sorted(expected[method])])
    assert "## Fig. 4" in text and "| 0 | 1730rpm, 2-shot |" in text and "## Fig. 5" in text and "| edge-onnx |" in text
    assert (tmp_path / "results" / "updates_cwru_test_seed0.png").read_bytes()[:4] == b"\x89PNG"
    curves = labelled_lines(drawn(saved, "updates_cwru_test_seed0.png").axes[0])
    update = updates[0]
    assert curves["teacher (cloud)"][0].tolist() == [0, 1, 2]
    assert curves["teacher (cloud)"][1] == pytest.approx([update["initial"]["teacher_accuracy"], *(c["teacher_accuracy"] for c in update["cycles"])])
    assert curves["student (edge)"][1] == pytest.approx([update["initial"]["student_accuracy"], *(c["student_accuracy"] for c in update["cycles"])])


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_windows():
    rng = np.random.default_rng(0)

    def record(n, p):
        correct = rng.random(n) < p
        return {"correct": np.packbits(correct).tobytes().hex(), "test_samples": n, "accuracy": correct.mean()}

    small = [record(50, 0.8) for _ in range(3)]
    large = [record(5000, 0.8) for _ in range(3)]
    low, high = bootstrap_interval(small, replicates=500)
    assert low <= np.mean([r["accuracy"] for r in small]) <= high
    large_low, large_high = bootstrap_interval(large, replicates=500)
    assert large_high - large_low < high - low
    assert correct_vector(small[0]).size == 50


def test_paired_margin_separates_a_better_method_and_ties_an_identical_one():
    rng = np.random.default_rng(1)

    def cell(method, seed, correct):
        return {"method": method, "seed": seed, "k": 1, "conditions": {"source": ["1730rpm"], "target": "1730rpm"},
                "correct": np.packbits(correct).tobytes().hex(), "test_samples": correct.size}

    reference, worse, same, other_split = [], [], [], []
    for seed in range(3):
        truth = rng.random(400) < 0.9
        reference.append(cell("Syn-Diag-Cloud", seed, truth))
        worse.append(cell("CNN", seed, truth & (rng.random(400) < 0.8)))
        same.append(cell("prototypes", seed, truth.copy()))
    other_split.append(cell("ViT", 7, truth))
    better = paired_difference(worse, reference, replicates=500)
    assert better["interval"][0] > 0 and better["seeds"] == [0, 1, 2]
    assert paired_difference(same, reference, replicates=500) == {"mean": 0.0, "interval": (0.0, 0.0), "seeds": [0, 1, 2]}
    assert paired_difference(other_split, reference) is None
    lines = margin_section(reference + worse + same + other_split)
    assert lines[-2] == "| above / tied / below | | 1 / 0 / 0 | 0 / 1 / 0 |"
    assert "| CNN | prototypes |" in lines[2] and "ViT" not in lines[2]


def test_a_cell_with_fewer_seeds_than_the_table_names_them():
    cell = {"mean": 0.9, "std": 0.01, "interval": (0.88, 0.92), "seeds": [0, 1]}
    assert cell_text(cell, full_seeds=3) == "0.9000 ± 0.0100 (seeds 0, 1) [0.880, 0.920]"
    assert cell_text(cell, full_seeds=2) == "0.9000 ± 0.0100 [0.880, 0.920]"
    assert cell_text({**cell, "seeds": [2]}, full_seeds=3) == "0.9000 (seed 2 only) [0.880, 0.920]"


def test_compute_counts_shared_pretraining_once_and_splits_cells_by_method():
    def cell(target, method, seed, seconds, pretraining=0.0):
        return {"conditions": {"source": [target], "target": target}, "method": method, "seed": seed, "train_seconds": 1.0,
                "eval_seconds": 1.0, "cell_seconds": seconds + pretraining, "pretraining_in_cell_seconds": pretraining,
                "pretrain_seconds": 600.0}
    records = [cell("1730rpm", "Syn-Diag-Cloud", 0, 120, pretraining=600), cell("1730rpm", "CNN", 0, 60),
               cell("1797rpm", "Syn-Diag-Cloud", 0, 180), cell("1797rpm", "CNN", 0, 60), cell("1797rpm", "log-spectrum-1NN", 0, 4)]
    lines = compute_lines(records)
    assert lines[0].startswith("- compute, 1730rpm: 2 cells, 13 min in all (10 min of it")
    assert lines[1] == "  - cells by method, pretraining left out: Syn-Diag-Cloud 2 min, CNN 1 min"
    assert lines[2].startswith("- compute, 1797rpm: 3 cells, 14 min")
    assert lines[3].endswith("CNN 1 min, log-spectrum-1NN 4 s")
    assert lines[4].startswith("- compute, all conditions: 5 cells, 17 min in all (10 min of it")
    assert lines[5] == "  - cells by method, pretraining left out: Syn-Diag-Cloud 5 min, CNN 2 min, log-spectrum-1NN 4 s"
    assert compute_lines(records, per_condition=False)[0].startswith("- compute, all pairs: 5 cells, 17 min")


def test_bad_benchmark_configs_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown method"):
        BenchmarkConfig.from_dict({"methods": ["Syn-Diag-Cloud", "GPT-7"]})
    with pytest.raises(ConfigError, match="unknown method"):
        BenchmarkConfig.from_dict({"methods": ["GPT-7 +noise"]})
    with pytest.raises(ConfigError, match="image_baselines"):
        BenchmarkConfig.from_dict({"methods": ["CNN"], "image_baselines": {}})
    with pytest.raises(ConfigError, match="image_baselines"):
        BenchmarkConfig.from_dict({"methods": ["ViT +noise"], "image_baselines": {}})
    with pytest.raises(ConfigError, match="train_noise_snr_db"):
        BenchmarkConfig.from_dict({"methods": ["CNN +noise"], "train_noise_snr_db": [10, -4]})
    assert BenchmarkConfig.from_dict({"methods": ["CNN +noise"], "method_shots": {"CNN +noise": [5]}}).train_noise_snr_db == (-4.0, 10.0)
    with pytest.raises(ConfigError, match="method_shots"):
        BenchmarkConfig.from_dict({"method_shots": {"GPT-7": [1]}})
    path = tmp_path / "b.yaml"
    path.write_text(json.dumps({"seeds": []}))
    result = runner.invoke(app, ["benchmark", "-c", str(path), "--report", str(tmp_path / "B.md")])
    assert result.exit_code == 2 and "seeds" in result.output
    result = runner.invoke(app, ["benchmark", "-c", str(path), "--suite", "table9"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["benchmark", "--profile", "gpu", "--report", str(tmp_path / "B.md")])
    assert result.exit_code == 2 and "--profile" in result.output
    with pytest.raises(ConfigError, match="collaboration_dir"):
        BenchmarkConfig.from_dict({"collaboration_dir": "runs/collab"})


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_shipped_benchmark_profiles_are_valid_from_any_working_directory(profile, tmp_path, monkeypatch):
    from syndiag.config import RunConfig

    monkeypatch.chdir(tmp_path)
    settings = BenchmarkConfig.from_yaml(f"configs/benchmark/{profile}.yaml")
    assert set(settings.cross_methods) <= set(settings.methods)
    assert RunConfig.from_yaml(settings.recipe).profile == profile
    assert all(set(shots) <= set(settings.shots) for shots in settings.method_shots.values())


@pytest.mark.slow
def test_table2_runs_on_seu_files_and_reports_beside_the_papers_numbers(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    from fixtures import write_seu_fixture

    from syndiag.data.seu import SEU_CLASSES

    rng = np.random.default_rng(0)
    seu = tmp_path / "seu" / "gearset"
    for fault in SEU_CLASSES:
        for code in ("20_0", "30_2"):
            write_seu_fixture(seu / f"{fault.name}_{code}.csv", 6000, rng)
    seu_config = tmp_path / "seu.yaml"
    seu_config.write_text(yaml.safe_dump({
        "dataset": "seu", "data_root": str(tmp_path / "seu"), "cache_dir": str(tmp_path / "cache"),
        "window": {"per_class": 6}, "spectrogram": {"image_size": 64, "n_scales": 32}}))
    config = bench_config(tmp_path, cwru_dir)
    raw = yaml.safe_load(config.read_text())
    raw.update({"methods": ["Syn-Diag-Cloud", "log-spectrum-1NN"], "shots": [1], "table2_data": str(seu_config)})
    config.write_text(yaml.safe_dump(raw))
    report = tmp_path / "BENCHMARKS.md"
    result = runner.invoke(app, ["benchmark", "-c", str(config), "--suite", "table2", "--report", str(report)])
    assert result.exit_code == 0, result.output
    records = read_results(tmp_path / "results" / "table2_seu-gearset_test.jsonl")
    assert sorted((r["conditions"]["target"], r["method"]) for r in records) == [
        ("20Hz-0V", "Syn-Diag-Cloud"), ("20Hz-0V", "log-spectrum-1NN"), ("30Hz-2V", "Syn-Diag-Cloud"), ("30Hz-2V", "log-spectrum-1NN")]
    assert all(r["test_samples"] == 5 * 3 for r in records)
    assert len(list((tmp_path / "work").glob("seu-gearset-*/seed0/pretrained/model.safetensors"))) == 1
    text = report.read_text()
    assert "## Table 2: SEU gearbox 5-way" in text and "0.9167" in text
    plotted = {m: (k.tolist(), y.tolist()) for m, (k, y) in errorbar_series(drawn(saved, "table2_20Hz-0V_accuracy_vs_k.png").axes[0]).items()}
    assert plotted == {r["method"]: ([1.0], [pytest.approx(r["metrics"]["accuracy"])]) for r in records if r["conditions"]["target"] == "20Hz-0V"}
    for r in records:
        assert len(r["class_names"]) == 5 and np.asarray(r["confusion"]).sum() == r["test_samples"]
        assert np.trace(np.asarray(r["confusion"])) == round(r["metrics"]["accuracy"] * r["test_samples"])
    (cloud,) = [r for r in records if r["conditions"]["target"] == "30Hz-2V" and r["method"] == "Syn-Diag-Cloud"]
    confusion = np.asarray(cloud["confusion"])
    shares = image_data(drawn(saved, "table2_30Hz-2V_1shot_confusion_Syn-Diag-Cloud.png").axes[0])
    assert np.allclose(shares, confusion / confusion.sum(axis=1, keepdims=True))
    assert "table2_30Hz-2V_1shot_confusion_log-spectrum-1NN.png" in text

    (seu / "Miss_30_2.csv").unlink()
    result = runner.invoke(app, ["benchmark", "-c", str(config), "--suite", "table2", "--report", str(report), "--set", "seeds=[1]"])
    assert result.exit_code == 2 and "Miss_30_2.csv" in result.output


def test_provenance_names_each_commit_short_with_its_runs_and_keeps_the_dirty_mark():
    sha = "0123456789abcdef0123456789abcdef01234567"
    records = [{"commit": c, "machine": {"cpu": "AMD EPYC", "cores": 2}, "command": "syndiag benchmark", "data": "cwru", "profile": "cpu"}
               for c in (sha, sha, sha + "+dirty")]
    lines = provenance_lines(records)
    assert "- commit(s), runs each: 0123456789 (2), 0123456789+dirty (1)" in lines
    assert "- machine: AMD EPYC, 2 cores" in lines and lines[-2] == "- profile(s): cpu; runs: 3"
    assert lines[-1].startswith("- **1 of 3 run(s) marked +dirty**")
    assert not any("marked +dirty" in line for line in provenance_lines(records[:2]))


def window_bench(tmp_path, data_root=None):
    """A cheap harness config: one window baseline, one seed, 1-shot, on the simulator or the real files."""
    data = {"cache_dir": str(tmp_path / "cache"), "window": {"per_class": 6}, "spectrogram": {"image_size": 16, "n_scales": 8},
            "cwru": {"loads": [3]}, "simulator": {"seconds": 1.0}}
    if data_root is not None:
        data["data_root"] = str(data_root)
    run_recipe = tmp_path / "recipe.yaml"
    run_recipe.write_text(yaml.safe_dump({"profile": "test", "data": data}))
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"recipe": str(run_recipe), "seeds": [0], "shots": [1], "methods": ["log-spectrum-1NN"],
                                    "cross_methods": ["log-spectrum-1NN"], "noise_snr_db": [], "out_dir": str(tmp_path / "results"),
                                    "work_dir": str(tmp_path / "work")}))
    return path


def test_cells_are_keyed_by_what_produced_them_and_data_stays_apart(tmp_path, cwru_dir):
    args = ["benchmark", "-c", str(window_bench(tmp_path)), "--report", str(tmp_path / "B.md")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    simulated = read_results(tmp_path / "results" / "table1_simulated-cwru_test.jsonl")
    assert len(simulated) == 1 and len(simulated[0]["cell_hash"]) == 16

    result = runner.invoke(app, [*args, "--data-root", str(cwru_dir.parent)])
    assert result.exit_code == 0 and "1 cell(s) run" in result.output, result.output
    real = read_results(tmp_path / "results" / "table1_cwru_test.jsonl")
    assert len(real) == 1 and real[0]["data_identity"] != simulated[0]["data_identity"]
    assert "Table 1: simulated-cwru 19-way" in (tmp_path / "B.md").read_text()

    result = runner.invoke(app, [*args, "--data-root", str(cwru_dir.parent)])
    assert result.exit_code == 0 and "0 cell(s) run, 0 left" in result.output

    changed = [*args, "--data-root", str(cwru_dir.parent), "--set", "recipe.data.window.length=256"]
    result = runner.invoke(app, changed)
    assert result.exit_code == 2 and "never reused" in result.output and "--rerun-mismatched" in result.output
    assert len(read_results(tmp_path / "results" / "table1_cwru_test.jsonl")) == 1
    result = runner.invoke(app, [*changed, "--rerun-mismatched"])
    assert result.exit_code == 0 and "1 cell(s) run" in result.output, result.output
    lines = read_results(tmp_path / "results" / "table1_cwru_test.jsonl")
    assert len(lines) == 2 and lines[0]["cell_hash"] != lines[1]["cell_hash"]
    assert "runs: 1" in (tmp_path / "B.md").read_text().split("Table 1: CWRU")[1].split("##")[0]

    result = runner.invoke(app, [*args, "--data-root", str(cwru_dir.parent), "--set", "recipe.seed=7"])
    assert result.exit_code == 0 and "0 cell(s) run" in result.output, "the cell's seed, not the recipe's, draws its task"


def test_the_harness_refuses_to_append_to_committed_results_from_a_dirty_tree(tmp_path, monkeypatch):
    import subprocess

    from syndiag.evaluation import provenance

    results = tmp_path / "results"
    results.mkdir()
    (results / "table1_simulated-cwru_test.jsonl").write_text("")
    subprocess.run(["git", "init", "-q", str(results)], check=True)
    subprocess.run(["git", "-C", str(results), "add", "table1_simulated-cwru_test.jsonl"], check=True)
    monkeypatch.setattr(provenance, "current_commit", lambda: "0123456789abcdef+dirty")
    args = ["benchmark", "-c", str(window_bench(tmp_path)), "--report", str(tmp_path / "B.md")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "uncommitted changes" in result.output and "--allow-dirty" in result.output
    assert (results / "table1_simulated-cwru_test.jsonl").read_text() == ""
    result = runner.invoke(app, [*args, "--allow-dirty"])
    assert result.exit_code == 0, result.output
    assert read_results(results / "table1_simulated-cwru_test.jsonl")[0]["commit"].endswith("+dirty")


def test_a_benchmark_config_finds_its_recipe_beside_it_from_any_directory(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "my-recipe.yaml").write_text("profile: mine\n")
    (folder / "bench.yaml").write_text("recipe: my-recipe.yaml\nseeds: [0]\n")
    monkeypatch.chdir(tmp_path)
    settings = BenchmarkConfig.from_yaml(folder / "bench.yaml")
    assert settings.recipe == folder / "my-recipe.yaml"
    assert BenchmarkConfig.from_yaml("benchmark/cpu").recipe.is_file()


def test_noise_rows_list_each_cell_and_level_and_nothing_without_noise():
    from syndiag.evaluation.benchmark_report import noise_rows

    base = {"std": 0.0, "interval": (0.0, 1.0), "seeds": [0], "train_seconds": 1.0}
    summary = {("1730rpm", "1730rpm", 5, "Sensor-model"): {**base, "mean": 0.95, "noise": {"0": 0.61, "-4": 0.37}},
               ("1730rpm", "1730rpm", 5, "prototypes"): {**base, "mean": 0.98, "noise": {"0": 0.42, "-4": 0.23}},
               ("1797rpm", "1730rpm", 5, "prototypes"): {**base, "mean": 0.90, "noise": {}}}
    lines = noise_rows(summary)
    assert "| SNR 0 dB | SNR -4 dB |" in lines[3]
    assert "| 1730rpm → 1730rpm | 5 | Sensor-model | 0.9500 | 0.6100 | 0.3700 |" in lines
    assert not any("1797rpm" in line for line in lines)
    assert noise_rows({key: {**value, "noise": {}} for key, value in summary.items()}) == []


def test_a_measured_child_reports_its_own_peak_memory_not_its_parents():
    import subprocess
    import sys

    ballast = bytearray(300 * 2**20)
    ballast[:: 4096] = b"\x01" * len(ballast[:: 4096])
    code = "from syndiag.evaluation.resources import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 5 < child < 200, f"the child's peak {child} MB includes its 300 MB parent"
    del ballast


def test_an_image_baselines_initial_weights_are_its_seeds_whatever_ran_before(tmp_path, cwru_dir, monkeypatch):
    """The CNN cell built its network before seeding, so its start (and its numbers) changed from process to process."""
    import torch

    import syndiag.workflows.benchmark as benchmark_module
    from syndiag.config.benchmark import BenchmarkConfig
    from syndiag.workflows.benchmark import Benchmark

    class Started(Exception):
        pass

    starts = []

    def capture(model, *args, **kwargs):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        raise Started

    monkeypatch.setattr(benchmark_module, "train_image_baseline", capture)
    bench = Benchmark(BenchmarkConfig.from_yaml(bench_config(tmp_path, cwru_dir)))
    for stir in (1, 7):
        torch.rand(stir * 1000)  # whatever ran before: the global generator moved
        with pytest.raises(Started):
            bench.train_image_baseline("CNN", bench.dataset, None, seed=3)
    assert starts[0].keys() == starts[1].keys() and all(torch.equal(starts[0][k], starts[1][k]) for k in starts[0])


def test_only_changed_code_marks_a_result_dirty(tmp_path, monkeypatch):
    import shutil
    import subprocess

    import syndiag.commit as commit

    repo = tmp_path / "repo"
    (repo / "src" / "syndiag").mkdir(parents=True)
    (repo / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(commit.__file__, repo / "src" / "syndiag" / "commit.py")
    (repo / "benchmarks" / "results" / "t.jsonl").write_text("{}\n")
    (repo / "benchmarks" / "bench_x.py").write_text("x = 1\n")
    run = lambda *args: subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("-c", "user.email=a@b", "-c", "user.name=a", "add", ".")
    run("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "x")
    monkeypatch.setattr(commit, "__file__", str(repo / "src" / "syndiag" / "commit.py"))
    assert not commit.current_commit().endswith("+dirty")
    (repo / "benchmarks" / "results" / "t.jsonl").write_text("{}\n{}\n")
    assert not commit.current_commit().endswith("+dirty")  # a results file the run appends to
    (repo / "benchmarks" / "bench_x.py").write_text("x = 2\n")
    assert commit.current_commit().endswith("+dirty")


def test_results_written_elsewhere_get_their_report_beside_them_not_over_the_projects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trial").mkdir()
    result = runner.invoke(app, ["benchmark", "--suite", "report", "--set", "out_dir=trial"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "BENCHMARKS.md").exists()
    assert (tmp_path / "trial" / "BENCHMARKS.md").read_text().startswith("# Benchmarks\n")
    assert "trial/BENCHMARKS.md" in result.output.replace("\n", "")
