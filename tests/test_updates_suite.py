"""The updates suite (Fig. 4) keyed like the table suites: a seed is done only with a clean line of its cell hash, and
the report shows the newest line per seed. The stages are stand-ins that write the lines the real ones write."""

from types import SimpleNamespace

import pytest

import syndiag.workflows.cells as cells
import syndiag.workflows.suites as suites
from syndiag.config import BenchmarkConfig
from syndiag.config.run import RunConfig
from syndiag.errors import SyndiagError
from syndiag.evaluation.benchmark_report import write_report
from syndiag.evaluation.metrics import append_result, read_results, run_record
from syndiag.workflows.cells import Cell, cell_hash, collaboration_material

CLEAN, DIRTY = "0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98+dirty"


class Bench:
    """What the updates suite reads of the harness, on no data."""

    def __init__(self, tmp_path, recipe: RunConfig):
        self.tmp, self.recipe, self.identity = tmp_path, recipe, "data-identity"
        self.settings = BenchmarkConfig(recipe=tmp_path / "recipe.yaml", seeds=[0, 1])
        self.dataset = SimpleNamespace(meta={"source": "test data"})

    def results_file(self, suite):
        return self.tmp / "results" / f"{suite}_cwru_test.jsonl"

    def collaboration_dir(self, seed):
        return self.tmp / "work" / f"seed{seed}"

    def pretrained_checkpoint(self, seed):
        return self.tmp / "work" / "pretrained"


def line(config, method, commit, accuracy=0.9):
    metrics = ({"teacher_accuracy": accuracy, "student_accuracy": accuracy} if method == "Syn-Diag-online-update"
               else {"accuracy": accuracy})
    extra = {"initial": {"teacher_accuracy": 0.5, "student_accuracy": 0.4},
             "cycles": [{"cycle": 1, "accepted": True, "teacher_accuracy": accuracy, "student_accuracy": accuracy,
                         "gradient_consistency": 0.2}]} if method == "Syn-Diag-online-update" else {}
    return run_record(method=method, backbone="tiny", dataset="cwru", conditions={"source": ["1730rpm"], "target": "1730rpm"}, k=5,
                      seed=config.seed, profile="test", config_hash=config.config_hash(), metrics=metrics, train_seconds=1.0,
                      eval_seconds=0.0, git_commit=commit, **extra)


@pytest.fixture
def stages(monkeypatch):
    """Stand-in stages (each appends the line the real one appends) under a chosen commit; returns the calls."""
    state = {"commit": CLEAN, "calls": [], "accuracy": 0.9}
    monkeypatch.setattr(cells, "current_commit", lambda: state["commit"])
    monkeypatch.setattr(suites, "current_commit", lambda: state["commit"])
    monkeypatch.setattr(suites, "check_committed_code", lambda results, allow_dirty: None)
    monkeypatch.setattr(suites, "finetune_task", lambda config, dataset, seed: SimpleNamespace(k=5, source=["1730rpm"], target="1730rpm"))

    def stage(name, method=None):
        def run(config, *args, **kwargs):
            state["calls"].append((name, config.seed))
            if method:
                append_result(config.results_file, line(config, method, state["commit"], state["accuracy"]))
        return run

    monkeypatch.setattr(suites, "run_finetune", stage("finetune"))
    monkeypatch.setattr(suites, "run_evaluate", stage("evaluate", "Syn-Diag-Cloud"))
    monkeypatch.setattr(suites, "run_distill", stage("distill", "Syn-Diag-Edge"))
    monkeypatch.setattr(suites, "run_online_updates", stage("updates", "Syn-Diag-online-update"))
    return state


def old_lines(bench, seed):
    """A seed's three lines as the updates suite wrote them before it was keyed: no suite, no cell hash, +dirty."""
    config = bench.recipe.model_copy(update={"seed": seed})
    for method in suites.UPDATE_LINES:
        append_result(bench.results_file("updates"), line(config, method, DIRTY, accuracy=0.7))


def test_an_unkeyed_dirty_seed_is_refused_then_rerun_and_a_clean_keyed_one_is_done(tmp_path, stages):
    bench = Bench(tmp_path, RunConfig())
    old_lines(bench, 0)
    with pytest.raises(SyndiagError, match="--rerun-mismatched"):
        suites.updates_suite(bench, None)
    assert stages["calls"] == [] and len(read_results(bench.results_file("updates"))) == 3

    assert suites.updates_suite(bench, None, rerun_mismatched=True) == (2, 0)
    assert [name for name, seed in stages["calls"] if seed == 0] == ["finetune", "evaluate", "distill", "updates"]
    new = read_results(bench.results_file("updates"))[3:]
    assert [r["method"] for r in new] == list(suites.UPDATE_LINES) * 2
    expected = {seed: cell_hash(Cell("updates", "Syn-Diag-online-update", seed, 5, "1730rpm", "1730rpm"), "data-identity",
                                bench.recipe, bench.settings, []) for seed in (0, 1)}
    assert all(r["suite"] == "updates" and r["cell_hash"] == expected[r["seed"]] and r["commit"] == CLEAN for r in new)
    assert expected[0] != expected[1]
    assert not (bench.collaboration_dir(0) / "updates_lines.jsonl").exists()

    stages["calls"].clear()
    assert suites.updates_suite(bench, None) == (0, 0) and stages["calls"] == []

    text = write_report(tmp_path / "results", tmp_path / "B.md").read_text()
    section = text.split("## Fig. 4")[1]
    assert "3 older line(s) of the same cells superseded" in section and "runs: 6" in section and "+dirty" not in section
    assert "| 0 | 1730rpm, 5-shot | 0.9000 | 0.9000 | 0.5000 → 0.9000 |" in section and "0.7000" not in section


def test_a_dirty_line_with_the_matching_hash_is_done_only_for_a_dirty_run(tmp_path, stages):
    bench = Bench(tmp_path, RunConfig())
    bench.settings = BenchmarkConfig(recipe=tmp_path / "recipe.yaml", seeds=[0])
    stages["commit"] = DIRTY
    assert suites.updates_suite(bench, None) == (1, 0)
    assert read_results(bench.results_file("updates"))[-1]["commit"] == DIRTY
    assert suites.updates_suite(bench, None) == (0, 0)  # from uncommitted code still: nothing better to replace it with

    stages["commit"] = CLEAN
    with pytest.raises(SyndiagError, match="--rerun-mismatched"):
        suites.updates_suite(bench, None)
    stages["calls"].clear()
    assert suites.updates_suite(bench, None, rerun_mismatched=True) == (1, 0)
    assert [name for name, _ in stages["calls"]] == ["finetune", "evaluate", "distill", "updates"]
    assert read_results(bench.results_file("updates"))[-1]["commit"] == CLEAN


def test_an_interrupted_seed_keeps_its_stages_only_under_the_same_hash_and_commit(tmp_path, stages, monkeypatch):
    bench = Bench(tmp_path, RunConfig())
    bench.settings = BenchmarkConfig(recipe=tmp_path / "recipe.yaml", seeds=[0])
    finish = suites.run_online_updates

    def killed(config, *args, **kwargs):
        raise KeyboardInterrupt

    def attempt(recipe, commit, stop):
        bench.recipe, stages["commit"] = recipe, commit
        monkeypatch.setattr(suites, "run_online_updates", killed if stop else finish)
        stages["calls"].clear()
        if stop:
            with pytest.raises(KeyboardInterrupt):
                suites.updates_suite(bench, None)
        else:
            assert suites.updates_suite(bench, None) == (1, 0)
        return [name for name, _ in stages["calls"]]

    other = RunConfig().model_copy(update={"update": RunConfig().update.model_copy(update={"cycles": 2})})
    assert attempt(other, CLEAN, stop=True) == ["finetune", "evaluate", "distill"]
    assert not bench.results_file("updates").exists()  # a seed's lines go in together, once all three are made
    assert attempt(RunConfig(), CLEAN, stop=True) == ["finetune", "evaluate", "distill"]  # other settings: every stage again
    assert attempt(RunConfig(), DIRTY, stop=True) == ["finetune", "evaluate", "distill"]  # other code: every stage again
    assert attempt(RunConfig(), DIRTY, stop=False) == ["updates"]
    assert [r["method"] for r in read_results(bench.results_file("updates"))] == list(suites.UPDATE_LINES)


def test_the_updates_hash_follows_the_edge_distillation_and_update_settings_and_leaves_the_tables_alone(monkeypatch):
    settings = BenchmarkConfig(recipe="recipe.yaml", seeds=[0])
    recipe = RunConfig()
    updates = Cell("updates", "Syn-Diag-online-update", 0, 5, "1730rpm", "1730rpm")
    table = Cell("table1", "log-spectrum-1NN", 0, 5, "1730rpm", "1730rpm")

    def changed(section, **values):
        return recipe.model_copy(update={section: getattr(recipe, section).model_copy(update=values)})

    base = cell_hash(updates, "d", recipe, settings, [])
    for other in (changed("update", cycles=recipe.update.cycles + 1), changed("distill", epochs=recipe.distill.epochs + 1),
                  changed("edge", lora_r=recipe.edge.lora_r * 2), changed("finetune", shots=recipe.finetune.shots + 1)):
        assert cell_hash(updates, "d", other, settings, []) != base
        if other.finetune == recipe.finetune:
            assert cell_hash(table, "d", other, settings, []) == cell_hash(table, "d", recipe, settings, [])
    assert cell_hash(updates, "d", recipe.model_copy(update={"output_dir": "elsewhere", "device": "cpu"}), settings, []) == base
    assert cell_hash(updates, "other data", recipe, settings, []) != base

    # a setting added later stays out of the hash at the value earlier lines had, as in the recipe's config hash
    monkeypatch.setattr(RunConfig, "HASH_ADDED_LATER", {**RunConfig.HASH_ADDED_LATER, "update.cycles": recipe.update.cycles})
    assert "cycles" not in collaboration_material(recipe)["update"]
    assert collaboration_material(changed("update", cycles=recipe.update.cycles + 1))["update"]["cycles"] == recipe.update.cycles + 1
