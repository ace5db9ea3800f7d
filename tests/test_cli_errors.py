"""Every command, given a representative bad input, names the problem and exits 2: no traceback, no markup read from user text."""

import pytest
import yaml
from typer.testing import CliRunner

from syndiag.cli import app

runner = CliRunner()


def recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"profile": "test", "output_dir": str(tmp_path / "run"), "results_file": str(tmp_path / "r.jsonl"),
                                    "data": {"cache_dir": str(tmp_path / "cache"), "window": {"per_class": 6},
                                             "spectrogram": {"image_size": 16, "n_scales": 8}, "simulator": {"seconds": 1.0}}}))
    return str(path)


CASES = {
    "data list": lambda t: ["data", "list", "--config", str(t / "missing.yaml")],
    "data prepare": lambda t: ["data", "prepare", "--set", "window.length=[1,"],
    "data show": lambda t: ["data", "show", "--set", "window.lenght=3"],
    "data simulate": lambda t: ["data", "simulate", "--out", str(t / "a-file" / "sub")],
    "config show": lambda t: ["config", "show", "nope/nothing"],
    "pretrain": lambda t: ["pretrain", "--config", recipe(t), "--set", "seed=-5"],
    "finetune": lambda t: ["finetune", "--config", recipe(t), "--seed", "-5", "--checkpoint", "none"],
    "evaluate": lambda t: ["evaluate", "--config", recipe(t), "--checkpoint", str(t / "no-checkpoint")],
    "diagnose": lambda t: ["diagnose", str(t / "[bold]x[/].npy"), "--checkpoint", str(t)],
    "export": lambda t: ["export", "--checkpoint", str(t / "no-checkpoint")],
    "benchmark": lambda t: ["benchmark", "--suite", "nope", "--report", str(t / "B.md")],
    "distill": lambda t: ["distill", "--config", recipe(t), "--teacher", str(t / "no-teacher")],
    "update": lambda t: ["update", "--config", recipe(t), "--cycles", "0"],
    "head export": lambda t: ["head", "export", "--config", recipe(t), "--out", str(t / "pkg")],
    "head import": lambda t: ["head", "import", str(t / "no-package"), "--config", recipe(t)],
    "head history": lambda t: ["head", "history", "--config", recipe(t)],
    "head rollback": lambda t: ["head", "rollback", "v0001", "--config", recipe(t)],
}


@pytest.mark.parametrize("command", list(CASES))
def test_every_command_names_bad_input_and_exits_2(command, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = runner.invoke(app, CASES[command](tmp_path))
    assert result.exit_code == 2, f"{command}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output and "error" in result.output.lower()


def test_user_text_is_printed_as_it_is_never_as_markup(tmp_path):
    result = runner.invoke(app, ["data", "list", "--config", str(tmp_path / "[bold]x[/] :x:.yaml")])
    assert result.exit_code == 2 and "[bold]x[/] :x:.yaml" in result.output.replace("\n", "")


def test_an_unreadable_file_is_a_named_error_not_a_traceback(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "cache"))

    monkeypatch.setattr("syndiag.data.prepare.prepare", refuse)
    result = runner.invoke(app, ["data", "prepare", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2 and "permission denied" in result.output and "Traceback" not in result.output


def test_finetune_keeps_a_model_of_another_task_unless_told(tmp_path):
    import json

    from syndiag.errors import SyndiagError
    from syndiag.workflows.cloud import check_overwrite

    folder = tmp_path / "finetuned"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"task": {"k": 5, "seed": 0, "source": "1730rpm", "target": "1730rpm"}}))
    check_overwrite(folder, {"k": 5, "seed": 0, "source": "1730rpm", "target": "1730rpm"}, overwrite=False)
    with pytest.raises(SyndiagError, match="--overwrite"):
        check_overwrite(folder, {"k": 1, "seed": 0, "source": "1730rpm", "target": "1730rpm"}, overwrite=False)
    check_overwrite(folder, {"k": 1, "seed": 0, "source": "1730rpm", "target": "1730rpm"}, overwrite=True)
