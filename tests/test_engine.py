"""The training engine: data parallel over 2 gloo processes equals one process, accumulation, resumable epochs, one writer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from syndiag.atomic import atomic_folder, atomic_write_text
from syndiag.evaluation.metrics import append_result
from syndiag.training.engine import Engine, train_epochs

TESTS = Path(__file__).resolve().parent


def launch(out: Path, processes: int, strategy: str = "ddp", accumulation: int = 1, stop: int | None = None) -> None:
    """torchrun --standalone --nproc_per_node N tests/engine_worker.py OUT ...; with ``stop`` the workers must stop there (exit 3)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               str(TESTS / "engine_worker.py"), str(out), strategy, str(accumulation), *([str(stop)] if stop is not None else [])]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if stop is None:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    else:
        assert result.returncode != 0 and "exitcode: 3" in result.stderr and "SIGABRT" not in result.stderr, result.stderr[-3000:]


def largest_difference(a: Path, b: Path) -> float:
    first, second = load_file(a / "params.safetensors"), load_file(b / "params.safetensors")
    assert first.keys() == second.keys() and len(first) > 30
    return max((first[k] - second[k]).abs().max().item() for k in first)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("one-process")
    launch(out, 1)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_train_like_one(single, tmp_path, strategy):
    launch(tmp_path, 2, strategy)
    assert largest_difference(single, tmp_path) < 1e-5
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["steps"] == 20
    assert (tmp_path / "split-0.txt").read_text() == (tmp_path / "split-1.txt").read_text()
    sharded = {(tmp_path / f"sharded-{r}.txt").read_text() for r in (0, 1)}
    assert sharded == ({"2"} if strategy == "fsdp" else {"0"})
    assert not any((tmp_path / "train-state").iterdir()), "the training state is removed once the stage completes"


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_an_interrupted_run_resumes_to_the_same_parameters(single, tmp_path, processes):
    launch(tmp_path, processes, accumulation=2, stop=13)
    assert len(list((tmp_path / "train-state").glob("train-*.pt"))) == 1 and not (tmp_path / "params.safetensors").exists()
    launch(tmp_path, processes, accumulation=2)
    assert largest_difference(single, tmp_path) < 1e-5


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    x = torch.randn(30, 6, generator=torch.Generator().manual_seed(5))
    y = torch.arange(30) % 3

    def loss_of(batch, step, total):
        return F.cross_entropy(model(x[torch.from_numpy(batch)]), y[torch.from_numpy(batch)])

    return model, loss_of


def train(engine, stop_at=None, seed=0):
    model, loss_of = tiny_problem(seed)

    def progress(step, total, loss):
        if step == stop_at:
            raise KeyboardInterrupt

    losses, steps = train_epochs(list(model.parameters()), np.arange(30), loss_of, epochs=3, batch_size=7, lr=1e-2, weight_decay=0.1,
                                 generator=torch.Generator().manual_seed(3), progress=progress, engine=engine)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]), losses, steps


def test_gradient_accumulation_gives_the_same_update_as_the_whole_batch():
    whole, losses, steps = train(Engine())
    accumulated, accumulated_losses, accumulated_steps = train(Engine(grad_accumulation=3))
    assert steps == accumulated_steps == 15
    assert torch.allclose(whole, accumulated, atol=1e-6) and np.allclose(losses, accumulated_losses, atol=1e-6)
    assert not torch.allclose(whole, train(Engine(), seed=1)[0], atol=1e-3), "a different start gives different weights"


def test_epochs_resume_after_an_interruption(tmp_path):
    uninterrupted, losses, _ = train(Engine())
    with pytest.raises(KeyboardInterrupt):
        train(Engine(state_dir=tmp_path), stop_at=8)
    assert len(list(tmp_path.glob("train-*.pt"))) == 1
    resumed, resumed_losses, steps = train(Engine(state_dir=tmp_path))
    assert steps == 15 and torch.equal(uninterrupted, resumed) and resumed_losses == pytest.approx(losses)
    assert not list(tmp_path.glob("train-*.pt"))


def test_float16_loss_scaling_trains_like_float32():
    plain, _, _ = train(Engine())
    scaled, _, _ = train(Engine(loss_scaling=True))
    assert torch.allclose(plain, scaled, atol=1e-5)


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    atomic_write_text(tmp_path / "a.txt", "x")
    append_result(tmp_path / "r.jsonl", {"a": 1})
    with atomic_folder(tmp_path / "folder") as staging:
        (staging / "f").write_text("x")
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("RANK", "0")
    append_result(tmp_path / "r.jsonl", {"a": 1})
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 1


def test_gradient_checkpointing_recomputes_the_same_gradients():
    from test_cloud import NAMES, PROMPTS, images, tiny_config
    from tiny import tiny_backbone

    from syndiag.errors import ConfigError
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.training.engine import checkpoint_activations

    def gradients(checkpointed: bool):
        torch.manual_seed(0)
        model = SynDiagCloud(tiny_config(lora_dropout=0.0), tiny_backbone("decoder"), NAMES, PROMPTS).train()
        if checkpointed:
            checkpoint_activations(model)
            assert model.lm.get_base_model().is_gradient_checkpointing
        F.cross_entropy(model(images(4)), torch.tensor([0, 1, 2, 0])).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = gradients(False), gradients(True)
    assert plain.keys() == checkpointed.keys() and any("lora" in n for n in plain)
    assert all(torch.allclose(plain[n], checkpointed[n], atol=1e-6) for n in plain)
    with pytest.raises(ConfigError, match="no language model"):
        checkpoint_activations(torch.nn.Linear(2, 2))
