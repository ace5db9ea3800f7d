import hashlib
import json
import shutil
import stat
from collections import Counter

import numpy as np
import pytest
import scipy.io
import yaml
from figures import confusion_drawn, drawn, labelled_lines, record_figures
from safetensors.torch import load_file, save_file
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.evaluation.metrics import read_results
from syndiag.registry.package import PackageFiles
from syndiag.registry.signing import load_private_key, sign

runner = CliRunner()


def recipe(tmp_path, backbone):
    config = {
        "profile": "test",
        "seed": 1,
        "output_dir": str(tmp_path / "run"),
        "results_file": str(tmp_path / "results.jsonl"),
        "data": {
            "dataset": "cwru",
            "cache_dir": str(tmp_path / "cache"),
            "window": {"per_class": 6},
            "spectrogram": {"image_size": 64, "n_scales": 32},
            "cwru": {"channels": ["DE"], "loads": [2, 3]},
            "simulator": {"seconds": 1.0},
        },
        "model": {"backbone": str(backbone), "extractor_stem": 8, "extractor_widths": [8, 16], "visual_grid": 2,
                  "input_prompts": 2, "deep_prompts": 2, "deep_prompt_every": 1, "lora_r": 4},
        "pretrain": {"shots": 2, "epochs": 2, "batch_size": 8, "tsne_test_per_class": 2, "time_shift": True},
        "finetune": {"shots": 2, "source": "1730rpm", "epochs": 2, "batch_size": 4},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_pretrain_finetune_evaluate_diagnose(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    config = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    result = runner.invoke(app, ["pretrain", "--config", str(config)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert (run / "alignment_tsne.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "pretrained" / "model.safetensors").is_file()
    pool = json.loads((run / "pretrained" / "config.json").read_text())["pool_size"]
    for panel in drawn(saved, "alignment_tsne.png").axes[:2]:  # per class its pool points, then its 2 test points
        assert sum(len(c.get_offsets()) for c in panel.collections[::2]) == pool and [len(c.get_offsets()) for c in panel.collections[1::2]] == [2] * 19

    result = runner.invoke(app, ["finetune", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "(38 windows)" in result.output
    noisy = ["finetune", "--config", str(config), "--checkpoint", str(run / "pretrained"), "--set", f"output_dir={tmp_path / 'noisy'}"]
    result = runner.invoke(app, [*noisy, "--set", "finetune.noise_snr_db=[-4, 10]"])
    assert result.exit_code == 0, result.output
    assert "(76 windows)" in result.output and (tmp_path / "noisy" / "finetuned" / "model.safetensors").is_file()
    result = runner.invoke(app, [*noisy, "--set", "finetune.noise_snr_db=[10, -4]"])
    assert result.exit_code == 2 and "noise_snr_db" in result.output
    meta = json.loads((run / "finetuned" / "config.json").read_text())
    assert meta["task"] == {"k": 2, "seed": 1, "source": "1730rpm", "target": "1730rpm"} and meta["channels"] == ["DE"]

    result = runner.invoke(app, ["evaluate", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["k"] == 2 and record["test_samples"] == 19 * 3
    assert record["method"] == "Syn-Diag-Cloud" and record["profile"] == "test" and len(record["config_hash"]) == 12
    assert read_results(tmp_path / "results.jsonl")[-1]["metrics"] == record["metrics"]
    per_class, accuracy = confusion_drawn(saved, "confusion-19way-2shot-1730rpm-seed1.png", 19)  # every test window once
    assert per_class == [3] * 19 and record["metrics"]["accuracy"] == pytest.approx(accuracy)

    result = runner.invoke(app, ["evaluate", "--config", str(config), "--target", "1750rpm", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conditions"] == {"source": ["1730rpm"], "target": "1750rpm"}

    result = runner.invoke(app, ["diagnose", str(cwru_dir / "108.mat"), "--checkpoint", str(run / "finetuned"), "--json", "-k", "4", "--per-window"])
    assert result.exit_code == 0, result.output
    diagnosis = json.loads(result.stdout)
    assert len(diagnosis["top"]) == 4 and diagnosis["windows"] > 400
    assert sum(s["windows"] for s in diagnosis["segments"]) == diagnosis["windows"] == len(diagnosis["per_window"])
    assert diagnosis["prediction"] == diagnosis["top"][0]["class"]
    top = [t["probability"] for t in diagnosis["top"]]
    assert top == sorted(top, reverse=True) and top[0] == diagnosis["probability"] and sum(top) <= 1.0 + 1e-6
    per_class = Counter(w["class"] for w in diagnosis["per_window"])  # the majority: the class most windows have
    majority = diagnosis["majority"]
    assert per_class[majority["class"]] == majority["windows"] == max(per_class.values())
    assert majority["share"] == pytest.approx(majority["windows"] / diagnosis["windows"], abs=1e-4)
    prompts = dict(zip(meta["class_names"], meta["prompts"]))
    assert diagnosis["description"] == prompts[diagnosis["prediction"]]

    result = runner.invoke(app, ["export", "--checkpoint", str(run / "finetuned"), "--out", str(run / "onnx")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "108.mat"), "--checkpoint", str(run / "onnx"), "--json", "-k", "4", "--per-window"])
    assert result.exit_code == 0, result.output
    by_onnx = json.loads(result.stdout)
    assert [w["class"] for w in by_onnx["per_window"]] == [w["class"] for w in diagnosis["per_window"]]
    assert abs(by_onnx["probability"] - diagnosis["probability"]) < 1e-4

    windows = scipy.io.loadmat(str(cwru_dir / "108.mat"))["X108_DE_time"].ravel()[: 512 * 3].reshape(3, 1, 512)
    np.save(tmp_path / "windows.npy", windows)
    result = runner.invoke(app, ["diagnose", str(tmp_path / "windows.npy"), "--checkpoint", str(run / "finetuned"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["windows"] == 3

    bad = windows.copy()
    bad[1, 0, 7] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    result = runner.invoke(app, ["diagnose", str(tmp_path / "bad.npy"), "--checkpoint", str(run / "finetuned")])
    assert result.exit_code == 2 and "NaN/Inf" in result.output
    np.save(tmp_path / "short.npy", windows[:, :, :100])
    result = runner.invoke(app, ["diagnose", str(tmp_path / "short.npy"), "--checkpoint", str(run / "finetuned")])
    assert result.exit_code == 2


def test_model_commands_refuse_bad_input(tmp_path):
    config = recipe(tmp_path, tmp_path / "no-such-model")
    result = runner.invoke(app, ["evaluate", "--config", str(config)])
    assert result.exit_code == 2 and "not a syndiag checkpoint" in result.output
    result = runner.invoke(app, ["pretrain", "--config", str(config)])
    assert result.exit_code == 2 and "could not be loaded" in result.output
    result = runner.invoke(app, ["finetune", "--config", str(config), "--set", "finetune.epochs=0"])
    assert result.exit_code == 2 and "finetune.epochs" in result.output
    result = runner.invoke(app, ["diagnose", str(tmp_path / "missing.mat"), "--checkpoint", str(tmp_path)])
    assert result.exit_code == 2


@pytest.mark.slow
def test_distill_update_and_head_exchange_commands(tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    config = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    raw = yaml.safe_load(config.read_text())
    raw["edge"] = {"backbone": str(save_tiny_backbone(tmp_path / "tiny-bert", kind="encoder", hidden=16)), "lora_r": 2,
                   "input_prompts": 2, "deep_prompts": 2, "deep_prompt_every": 1}
    raw["distill"] = {"unlabelled_per_class": 1, "epochs": 2, "batch_size": 8}
    raw["update"] = {"cycles": 2, "new_per_class": 1, "epochs": 2, "validation_per_class": 1, "tolerance": 1.0}
    raw["data"]["window"]["per_class"] = 10
    config.write_text(yaml.safe_dump(raw))
    for step in (["pretrain"], ["finetune"], ["distill"]):
        result = runner.invoke(app, [*step, "--config", str(config)])
        assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert json.loads((run / "edge" / "config.json").read_text())["model"] == "syndiag-edge"
    edge_line = read_results(tmp_path / "results.jsonl")[-1]
    assert edge_line["method"] == "Syn-Diag-Edge"
    assert edge_line["distill_losses"] == [round(x, 5) for x in json.loads((run / "edge" / "config.json").read_text())["losses"]]
    assert len(edge_line["distill_losses"]) == 2

    result = runner.invoke(app, ["update", "--config", str(config), "--cycles", "2"])
    assert result.exit_code == 0, result.output
    assert (run / "update_curves.png").read_bytes()[:4] == b"\x89PNG"
    record = read_results(tmp_path / "results.jsonl")[-1]
    assert record["method"] == "Syn-Diag-online-update" and len(record["cycles"]) == 2
    accuracy, agreement = (labelled_lines(ax) for ax in drawn(saved, "update_curves.png").axes[:2])
    cycles, initial = record["cycles"], record["initial"]
    assert accuracy["teacher (cloud)"][1] == pytest.approx([initial["teacher_accuracy"], *(c["teacher_accuracy"] for c in cycles)])
    assert accuracy["student (edge)"][1] == pytest.approx([initial["student_accuracy"], *(c["student_accuracy"] for c in cycles)])
    assert agreement["||grad_S - grad_T|| / ||grad_T||"][1] == pytest.approx([c["gradient_consistency"] for c in cycles])
    assert agreement["cos(grad_S, grad_T)"][1] == pytest.approx([c["gradient_cosine"] for c in cycles])

    result = runner.invoke(app, ["head", "history", "--config", str(config)])
    assert result.exit_code == 0 and "v0000" in result.output and "initial" in result.output

    keys = tmp_path / "edge-keys"
    result = runner.invoke(app, ["head", "keygen", "--out", str(keys)])
    assert result.exit_code == 0, result.output
    key_id = result.output.split()[2]
    private, public = keys / f"{key_id}.key", keys / f"{key_id}.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(public.stat().st_mode) == 0o644

    export = ["head", "export", "--config", str(config)]
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "nokey")])
    assert result.exit_code == 2 and "--key" in result.output and not (tmp_path / "nokey").exists()
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "nokey"), "--unsigned"])
    assert result.exit_code == 2 and "require_signed" in result.output and not (tmp_path / "nokey").exists()
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "pkg"), "--key", str(private)])
    assert result.exit_code == 0 and "signed" in result.output, result.output
    meta = json.loads((tmp_path / "pkg" / "head.json").read_text())
    assert json.loads((tmp_path / "pkg" / "signature.json").read_text())["key_id"] == key_id

    def import_(package):
        return runner.invoke(app, ["head", "import", str(package), "--config", str(config)])

    registry_before = (run / "heads" / "registry.json").read_bytes()
    model_before = (run / "finetuned" / "model.safetensors").read_bytes()
    result = import_(tmp_path / "pkg")
    assert result.exit_code == 3 and f"signed by key {key_id}, which the cloud does not trust" in result.output
    result = runner.invoke(app, ["head", "trust", str(public), "--config", str(config)])
    assert result.exit_code == 0 and key_id in result.output

    tampered, resigned, junk = (tmp_path / name for name in ("tampered", "resigned", "junk"))
    shutil.copytree(tmp_path / "pkg", tampered)
    tensors = load_file(str(tampered / "head.safetensors"))
    tensors["weight"][0, 0] = float("nan")
    save_file(tensors, str(tampered / "head.safetensors"))
    result = import_(tampered)
    assert result.exit_code == 3 and "head.safetensors changed after signing" in result.output
    files = PackageFiles.read(tampered)
    described = {**json.loads(files.meta), "weights_sha256": hashlib.sha256(files.weights).hexdigest()}  # a compromised edge
    sign(PackageFiles(json.dumps(described).encode(), files.weights), load_private_key(private)).write(resigned)
    result = import_(resigned)
    assert result.exit_code == 3 and "NaN or Inf" in result.output
    shutil.copytree(tmp_path / "pkg", junk)
    (junk / "signature.json").write_text("[]")
    result = import_(junk)
    assert result.exit_code == 2 and "must hold a JSON object" in result.output
    assert (run / "finetuned" / "model.safetensors").read_bytes() == model_before
    assert (run / "heads" / "registry.json").read_bytes() == registry_before

    active = json.loads(registry_before)["active"]
    # the accepted package goes over HTTP, as from an edge to `syndiag serve --set role=cloud`
    import httpx
    from fastapi.testclient import TestClient

    from syndiag.config.run import RunConfig
    from syndiag.service.app import create_app

    token = runner.invoke(app, ["head", "token", "--config", str(config)]).output.strip().splitlines()[-1]
    (tmp_path / "token").write_text(token)
    client = TestClient(create_app(None, None, RunConfig.from_yaml(config)))
    files = PackageFiles.read(tmp_path / "pkg")
    fields = {"meta": ("head.json", files.meta), "weights": ("head.safetensors", files.weights), "signature": ("signature.json", files.signature)}
    assert client.post("/heads", files=fields).status_code == 401
    assert client.post("/heads", files=fields, headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    forged = {**fields, "weights": ("head.safetensors", PackageFiles.read(tampered).weights)}
    refused = client.post("/heads", files=forged, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and "changed after signing" in refused.json()["detail"]
    assert (run / "heads" / "registry.json").read_bytes() == registry_before
    original_post = httpx.post
    httpx.post = lambda url, **kw: client.post(url.removeprefix("http://cloud:8000"), **{k: v for k, v in kw.items() if k != "timeout"})
    try:
        result = runner.invoke(app, ["head", "push", "http://cloud:8000", "--package", str(tmp_path / "pkg"), "--token-file", str(tmp_path / "token")])
    finally:
        httpx.post = original_post
    assert result.exit_code == 0 and f"accepted head {meta['version']}" in result.output, result.output
    assert client.get("/heads", headers={"Authorization": f"Bearer {token}"}).json()["active"] == meta["version"]
    entry = json.loads((run / "heads" / "registry.json").read_text())["history"][-1]
    assert entry["signed_by"] == key_id and meta["parent_version"] == active
    assert (run / "heads" / meta["version"] / "signature.json").is_file()

    result = runner.invoke(app, ["head", "rollback", "v0000", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "heads" / "registry.json").read_text())["active"] == "v0000"
    assert json.loads((run / "finetuned" / "config.json").read_text())["head_version"] == "v0000"
    result = runner.invoke(app, ["head", "rollback", "v0099", "--config", str(config)])
    assert result.exit_code == 2 and "unknown head version" in result.output

    result = runner.invoke(app, ["head", "revoke", key_id, "--config", str(config)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "pkg2"), "--key", str(private)])
    assert result.exit_code == 0, result.output
    result = import_(tmp_path / "pkg2")
    assert result.exit_code == 3 and "which was revoked" in result.output
    result = runner.invoke(app, ["head", "keys", "--config", str(config)])
    assert result.exit_code == 0 and f"revoked: {key_id}" in result.output
