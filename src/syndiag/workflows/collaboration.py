"""The cloud-edge loop as library functions (§3.5): online updates, head packages exported by the edge, imported by the cloud, rollback.

Heads are updated on the CPU: a head is one D x C matrix, and its features are computed once on the models' device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from syndiag.config.run import RunConfig
from syndiag.config.training import UpdateConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.errors import ConfigError, SyndiagError
from syndiag.evaluation.metrics import append_result, run_record
from syndiag.evaluation.update_curves import write_update_curves
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.device import place
from syndiag.models.edge import SynDiagEdge
from syndiag.registry.heads import (
    Decision,
    HeadPackage,
    HeadRegistry,
    head_accuracy,
    next_version,
    read_state,
)
from syndiag.registry.package import PackageFiles
from syndiag.registry.signing import (
    KeyFiles,
    TrustStore,
    generate_key,
    load_private_key,
    sign,
)
from syndiag.training.common import batches, image_batch
from syndiag.training.online_update import (
    CycleResult,
    UpdateRun,
    feature_bank,
    run_updates,
    update_windows,
)
from syndiag.workflows.cloud import edge_dir, finetuned_dir
from syndiag.workflows.session import setup, task_of_checkpoint


def heads_dir(config: RunConfig) -> Path:
    return Path(config.output_dir) / "heads"


def trusted_dir(config: RunConfig) -> Path:
    """The public keys of the edges whose head packages the cloud imports (``<key_id>.pub``; revoked ones in ``revoked/``)."""
    return heads_dir(config) / "trusted"


@dataclass
class Collaboration:
    """The cloud model, the edge model (when asked for), the task they were trained on, and the cloud's head registry."""

    dataset: PreparedDataset
    cloud: SynDiagCloud
    edge: SynDiagEdge | None
    task: FewShotTask
    registry: HeadRegistry


def collaboration(config: RunConfig, with_edge: bool = True) -> Collaboration:
    session = setup(config, finetuned_dir(config))
    cloud = session.model
    task = task_of_checkpoint(session.dataset, cloud.checkpoint_meta, finetuned_dir(config))
    edge = place(SynDiagEdge.from_pretrained(edge_dir(config)), config) if with_edge else None
    registry = HeadRegistry(heads_dir(config), cloud.class_names, cloud.prompts, config.update.tolerance)
    cloud.head.cpu()
    return Collaboration(session.dataset, cloud, edge, task, registry)


def save_cloud_head(config: RunConfig, cloud: SynDiagCloud, registry: HeadRegistry) -> None:
    """Write the cloud checkpoint again with its active head and version."""
    meta = {k: v for k, v in cloud.checkpoint_meta.items() if k not in ("model", "config", "class_names", "prompts")}
    cloud.save_pretrained(finetuned_dir(config), extra={**meta, "head_version": registry.active})


@torch.inference_mode()
def fused_features(model: torch.nn.Module, dataset: PreparedDataset, indices, batch_size: int = 64) -> torch.Tensor:
    """The fused features h of the windows at ``indices``, on the CPU."""
    model.eval()
    return torch.cat([model.features(image_batch(dataset, chunk)).float().cpu() for chunk in batches(indices, batch_size)])


@dataclass
class UpdatesOutcome:
    run: UpdateRun
    active: str | None
    curves_png: Path


def run_online_updates(config: RunConfig, cycles: int | None = None, on_cycle: Callable[[CycleResult], None] | None = None) -> UpdatesOutcome:
    """Online updates: the edge fine-tunes the head on new samples, the cloud validates and swaps it in; curves PNG, one results record.

    Edge and cloud are simulated in this one process: packages go from one to the other in memory, never cross a
    trust boundary, and so are neither signed nor signature-checked (every other check of the registry applies).
    Packages that travel as files go through :func:`export_head` (signed) and :func:`import_head` (verified).
    """
    if cycles is not None:
        stage = UpdateConfig.from_dict({**config.update.model_dump(), "cycles": cycles}, source="--cycles")
        config = config.model_copy(update={"update": stage})
    team = collaboration(config)
    dataset, task = team.dataset, team.task
    stream, validation = update_windows(dataset, task, config.update, task.seed)
    banks = [feature_bank(team.cloud, team.edge, dataset, idx) for idx in (stream, validation, task.test)]
    backbones = {"cloud": config.model.backbone, "edge": config.edge.backbone}
    run = run_updates(team.cloud.head, team.registry, *banks, config.update, task.seed, backbones, progress=on_cycle)
    save_cloud_head(config, team.cloud, team.registry)
    cycles_dicts = [asdict(c) for c in run.cycles]
    initial = {"teacher_accuracy": run.initial_teacher_accuracy, "student_accuracy": run.initial_student_accuracy}
    png = write_update_curves(cycles_dicts, initial, Path(config.output_dir) / "update_curves.png", f"online updates, {task.name}")
    last = run.cycles[-1]
    append_result(Path(config.results_file), run_record(
        method="Syn-Diag-online-update", backbone=f"{config.model.backbone}+{config.edge.backbone}", dataset=dataset.meta["dataset"],
        conditions={"source": list(task.source), "target": task.target}, k=task.k, seed=task.seed, profile=config.profile,
        config_hash=config.config_hash(), metrics={"teacher_accuracy": last.teacher_accuracy, "student_accuracy": last.student_accuracy},
        train_seconds=0.0, eval_seconds=0.0, initial=initial, cycles=cycles_dicts))
    return UpdatesOutcome(run, team.registry.active, png)


def export_head(config: RunConfig, output: Path, parent: str | None = None, key: Path | None = None,
                unsigned: bool = False) -> tuple[HeadPackage, Path]:
    """On the edge: write the edge model's head as a package signed with the private ``key``, numbered after the cloud
    registry's last version. ``unsigned`` writes no signature, allowed only when ``update.require_signed`` is false.

    Loads the edge checkpoint and the data, never the cloud model.
    """
    if unsigned and key is not None:
        raise ConfigError("give either a signing key or unsigned, not both")
    if unsigned and config.update.require_signed:
        raise ConfigError("unsigned head packages are refused while update.require_signed is true; sign with a key "
                          "(syndiag head keygen) or set update.require_signed: false")
    if key is None and not unsigned:
        raise ConfigError("a head package is signed with the edge's private key (syndiag head keygen); give its file")
    private = load_private_key(key) if key is not None else None
    dataset = prepare(config.data)
    edge = place(SynDiagEdge.from_pretrained(edge_dir(config)), config)
    task = task_of_checkpoint(dataset, edge.checkpoint_meta, edge_dir(config))
    stream, _ = update_windows(dataset, task, config.update, task.seed)
    features = fused_features(edge, dataset, stream)
    state = read_state(heads_dir(config))
    if not state["history"]:
        state = {"active": "v0000", "history": [{"version": "v0000"}]}
    head = edge.head.cpu()
    metrics = {"edge_accuracy_on_own_windows": head_accuracy(head.weight, head.bias, features, dataset.labels[stream])}
    package = HeadPackage.from_head(head, version=next_version(state), parent=parent or state["active"], class_names=edge.class_names,
                                    prompts=edge.prompts, backbones={"cloud": config.model.backbone, "edge": config.edge.backbone}, metrics=metrics)
    files = package.to_files()
    package.files = sign(files, private) if private is not None else files
    return package, package.save(output)


def read_head_package(config: RunConfig, package_dir: Path) -> tuple[HeadPackage, str | None]:
    """A package from the edge and the key id that signed it: bounded reads, the signature verified against the
    trusted keys (required unless ``update.require_signed`` is false; a signature present is always checked), then
    head.json and the weights parsed. Raises :class:`~syndiag.registry.signing.UntrustedPackage` or DataError."""
    files = PackageFiles.read(package_dir)
    signer = None
    if files.signature is not None or config.update.require_signed:
        signer = TrustStore(trusted_dir(config)).verify(files, str(package_dir))
    return HeadPackage.from_files(files, str(package_dir)), signer


def import_head(config: RunConfig, package_dir: Path) -> Decision:
    """On the cloud: verify a head package's signature, validate it on the held-out buffer and swap it in.

    A refused head changes nothing on disk: on a first import the cloud's own head becomes v0000 only together
    with an accepted package.
    """
    package, signer = read_head_package(config, package_dir)
    team = collaboration(config, with_edge=False)
    _, validation = update_windows(team.dataset, team.task, config.update, team.task.seed)
    features = fused_features(team.cloud, team.dataset, validation)
    decision = team.registry.submit(package, team.cloud.head, features, team.dataset.labels[validation],
                                    initial_backbones={"cloud": config.model.backbone}, signer=signer)
    if decision.accepted:
        save_cloud_head(config, team.cloud, team.registry)
    return decision


def new_signing_key(out_dir: Path) -> KeyFiles:
    """On the edge: a new Ed25519 key pair, ``<key_id>.key`` (0600) and ``<key_id>.pub`` (0644) in ``out_dir``."""
    return generate_key(out_dir)


def trust_key(config: RunConfig, public_key: Path) -> str:
    """On the cloud: trust packages signed by the edge key whose public half is ``public_key``; its key id."""
    return TrustStore(trusted_dir(config)).trust(public_key)


def revoke_key(config: RunConfig, key_id: str) -> Path:
    """On the cloud: refuse packages signed by ``key_id`` from now on."""
    return TrustStore(trusted_dir(config)).revoke(key_id)


def trusted_keys(config: RunConfig) -> dict[str, list[str]]:
    store = TrustStore(trusted_dir(config))
    return {"trusted": store.trusted(), "revoked": store.revoked()}


def head_history(config: RunConfig) -> dict[str, Any]:
    """The registry's state: every head version the cloud has held, and which is active."""
    state = read_state(heads_dir(config))
    if not state["history"]:
        raise SyndiagError(f"no head registry at {heads_dir(config)}: run syndiag update or head import first")
    return state


def rollback_head(config: RunConfig, version: str) -> None:
    """Make an earlier head version the cloud's active head again."""
    team = collaboration(config, with_edge=False)
    team.registry.rollback(version, team.cloud.head)
    save_cloud_head(config, team.cloud, team.registry)
