"""The openset (trained models, leave-one-family-out) and zeroshot (classes from text) suites on a tiny recipe."""

import math

import numpy as np
import pytest
import yaml
from figures import drawn, labelled_lines, record_figures
from test_cli_models import recipe
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.evaluation.metrics import read_results

runner = CliRunner()


def unknown_bench(tmp_path, cwru_dir, suite_recipe: dict):
    run_recipe = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    raw = yaml.safe_load(run_recipe.read_text())
    raw["data"]["data_root"] = str(cwru_dir.parent)
    raw["data"]["cwru"]["loads"] = [0, 3]
    raw["data"]["cwru"]["channels"] = ["DE", "FE"]
    raw["finetune"]["epochs"] = 1
    raw["edge"] = {"backbone": str(save_tiny_backbone(tmp_path / "tiny-bert", kind="encoder", hidden=16))}
    run_recipe.write_text(yaml.safe_dump(raw))
    (tmp_path / "openset.yaml").write_text(yaml.safe_dump({"seeds": [0], "shots": 1, **suite_recipe}))
    sensor = {"channels": [{"name": "DE", "kind": "vibration", "fs": 12000, "length": 512},
                           {"name": "FE", "kind": "vibration", "fs": 12000, "length": 512}, {"name": "speed", "kind": "speed", "fs": 1, "length": 1}],
              "model": {"backbone": raw["model"]["backbone"], "input_prompts": 1, "deep_prompts": 1,
                        "encoder": {"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64}, "adapter": {"queries": 2, "heads": 2}},
              "align": {"shots": 2, "epochs": 1, "batch_size": 16}, "finetune": {"epochs": 1, "min_steps": 2, "batch_size": 8}}
    (tmp_path / "sensor.yaml").write_text(yaml.safe_dump(sensor))
    bench = {"recipe": str(run_recipe), "openset_recipe": str(tmp_path / "openset.yaml"), "out_dir": str(tmp_path / "results"),
             "work_dir": str(tmp_path / "work"), "profile": "test", "sensor_recipe": str(tmp_path / "sensor.yaml")}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    return tmp_path / "bench.yaml"


@pytest.mark.slow
def test_openset_and_zeroshot_suites_run_resume_and_hold_out_what_they_say(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    config = unknown_bench(tmp_path, cwru_dir, {"families": ["ball"], "pairs": [["1730rpm", "1797rpm"]],
                                                "splits": [{"name": "swap", "new": ["FE_B014", "DE_B021"]}],
                                                "zeroshot_backbones": ["cloud", "sensor"], "pretrain_conditions": ["1730rpm"]})
    report = tmp_path / "BENCHMARKS.md"
    for suite in ("openset", "zeroshot"):
        result = runner.invoke(app, ["benchmark", "--config", str(config), "--suite", suite, "--allow-dirty", "--report", str(report)])
        assert result.exit_code == 0, result.output
    text = report.read_text()
    assert "## Unknown faults, trained models" in text and "## Zero-shot fault classes" in text and "| sensor-model | Mahalanobis |" in text
    assert (tmp_path / "results" / "openset_trained_cwru_test_roc.png").read_bytes()[:4] == b"\x89PNG"
    openset = read_results(tmp_path / "results" / "openset_trained_cwru_test.jsonl")
    assert {r["method"] for r in openset} == {"Syn-Diag-Cloud", "prototypes", "sensor-model"}
    for record in openset:
        assert not set(record["known_classes"]) & set(record["unknown_classes"])
        assert all("_B0" in name for name in record["unknown_classes"]) and len(record["unknown_classes"]) == 6
        for score, metrics in record["metrics"].items():  # the AUROC is the area under the ROC curve stored beside it
            fpr, tpr = (np.asarray(record["roc"][score][k]) for k in ("fpr", "tpr"))
            area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
            assert metrics["auroc"] == pytest.approx(area, abs=0.03) and metrics["unknown_windows"] > 0 and metrics["known_windows"] > 0
        assert record["roc"]["msp"]["fpr"][0] == 0.0 and record["roc"]["msp"]["tpr"][-1] == 1.0
    roc = drawn(saved, "openset_trained_cwru_test_roc.png").axes[0]
    curves = labelled_lines(roc)
    assert roc.get_title() == "held out: ball" and len(curves) == 3 * 4  # each method's four scores
    drawn_tpr = curves["Syn-Diag-Cloud, max softmax"][1]
    assert drawn_tpr == pytest.approx(np.mean([r["roc"]["msp"]["tpr"] for r in openset if r["method"] == "Syn-Diag-Cloud"], axis=0))
    zeroshot = read_results(tmp_path / "results" / "zeroshot_cwru_test.jsonl")
    assert {(r["backbone"], r["text_source"]) for r in zeroshot} == {("cloud", "language-model"), ("cloud", "random-tokens"),
                                                                     ("sensor", "language-model")}
    for record in zeroshot:
        assert record["new_classes"] == ["FE_B014", "DE_B021"] and math.isclose(record["chance"]["all"], 1 / 19)
        assert set(record["metrics"]) == {"text", "random_vectors", "one_real_example"}
    again = runner.invoke(app, ["benchmark", "--config", str(config), "--suite", "zeroshot", "--allow-dirty", "--report", str(report)])
    assert again.exit_code == 0 and "0 cell(s) run" in again.output
