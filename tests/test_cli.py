import json

import numpy as np
import yaml
from figures import drawn, record_figures
from typer.testing import CliRunner

from syndiag.cli import app

runner = CliRunner()


def small(tmp_path):
    return ["--cache-dir", str(tmp_path / "cache"), "--set", "window.per_class=6", "--set", "spectrogram.image_size=32",
            "--set", "cwru.loads=[3]", "--set", "simulator.seconds=1"]


def test_prepare_json_summary_on_real_cwru(tmp_path, shared_data):
    result = runner.invoke(app, ["data", "prepare", "--data-root", str(shared_data), "--json", *small(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dataset"] == "cwru" and summary["windows"] == 19 * 6 and not summary["from_cache"]
    assert summary["counts"]["1730rpm"]["FE_OR021"] == {"pool": 3, "test": 3}
    assert summary["seconds"] >= 0 and summary["cache_bytes"] > 0
    again = json.loads(runner.invoke(app, ["data", "prepare", "--data-root", str(shared_data), "--json", *small(tmp_path)]).stdout)
    assert again["from_cache"] and again["cache_path"] == summary["cache_path"]


def test_prepare_prints_the_count_table(tmp_path):
    result = runner.invoke(app, ["data", "prepare", *small(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "DE_IR007" in result.stdout and "3 / 3" in result.stdout and "windows" in result.stdout


def test_show_writes_a_png_gallery(tmp_path, shared_data, monkeypatch):
    from syndiag.cli.common import load_data_config
    from syndiag.data.prepare import prepare
    from syndiag.data.windowing import TEST

    saved = record_figures(monkeypatch)
    out = tmp_path / "gallery.png"
    result = runner.invoke(app, ["data", "show", "--data-root", str(shared_data), "--out", str(out), *small(tmp_path)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dataset = prepare(load_data_config(None, shared_data, tmp_path / "cache", small(tmp_path)[3::2]))
    panels = [ax for ax in drawn(saved, "gallery.png").axes if ax.get_images()]
    assert [ax.get_title().split("\n")[0] for ax in panels] == list(dataset.class_names) and len(panels) == 19
    for k, ax in enumerate(panels):  # each class's first test window, as the model sees it
        first = np.flatnonzero((dataset.labels == k) & (dataset.conditions == 0) & (dataset.split == TEST))[0]
        assert np.array_equal(ax.get_images()[0].get_array(), dataset.rgb([first])[0])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_list_shows_prompts_and_the_normal_fallback(tmp_path, shared_data):
    result = runner.invoke(app, ["data", "list", "--data-root", str(shared_data), "--set", "cwru.loads=[2]"])
    assert result.exit_code == 0, result.output
    assert "inner race fault at motor end with" in result.stdout and "99.mat" in result.stdout


def test_simulate_then_prepare_as_a_custom_dataset(tmp_path):
    result = runner.invoke(app, ["data", "simulate", "--out", str(tmp_path / "sim"), "--set", "cwru.loads=[0]", "--set", "simulator.seconds=1"])
    assert result.exit_code == 0, result.output
    spec = tmp_path / "sim" / "dataset.yaml"
    assert len(yaml.safe_load(spec.read_text())["recordings"]) == 19
    result = runner.invoke(app, ["data", "prepare", "--json", "--set", "dataset=custom", "--set", f"spec={spec}", *small(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["1797rpm"]["normal"] == {"pool": 3, "test": 3}


def test_bad_inputs_exit_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("window: {length: [\n")
    result = runner.invoke(app, ["data", "prepare", "--config", str(bad)])
    assert result.exit_code == 2 and "not valid YAML" in result.output
    result = runner.invoke(app, ["data", "prepare", "--set", "window.lenght=3"])
    assert result.exit_code == 2 and "lenght" in result.output
    result = runner.invoke(app, ["data", "prepare", "--data-root", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "data root not found" in result.output
    result = runner.invoke(app, ["data", "show", "--condition", "9999rpm", "--out", str(tmp_path / "g.png"), *small(tmp_path)])
    assert result.exit_code == 2 and "unknown condition '9999rpm'" in result.output
    assert not (tmp_path / "g.png").exists()
    result = runner.invoke(app, ["data", "prepare", "--set", "nonsense"])
    assert result.exit_code == 2 and "key=value" in result.output


def test_prepare_reads_the_data_section_of_a_run_recipe(tmp_path):
    from conftest import REPO

    result = runner.invoke(app, ["data", "prepare", "--config", str(REPO / "configs/syndiag/cpu.yaml"), "--json", *small(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dataset"] == "simulated-cwru" and summary["windows"] == 19 * 6
