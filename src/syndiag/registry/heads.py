"""The cloud-edge registry: edge -> cloud head updates as artefacts: export a head package, validate it on the cloud, keep every version, roll back (§3.5)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from syndiag.errors import DataError

HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"
REGISTRY = "registry.json"


def class_list_hash(class_names: list[str], prompts: list[str]) -> str:
    """Identity of a label space: class order and descriptions."""
    return hashlib.sha256(json.dumps([class_names, prompts]).encode()).hexdigest()[:16]


def _atomic_folder(target: Path, write) -> Path:
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(staging)
        if target.exists():
            raise DataError(f"{target} exists already; versions are never overwritten")
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_json(path: Path, data: dict) -> None:
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    staging.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(staging, path)


def read_state(root: Path) -> dict[str, Any]:
    """The registry's state (active version and history); an empty one when none has been written yet."""
    path = Path(root) / REGISTRY
    if not path.is_file():
        return {"active": None, "history": []}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: corrupt registry ({exc})") from None


def next_version(state: dict[str, Any]) -> str:
    """The version after the highest one in ``state``'s history: v0000 for the first (the cloud's initial head)."""
    numbers = [int(e["version"][1:]) for e in state["history"] if e["version"][1:].isdigit()]
    return f"v{max(numbers, default=-1) + 1:04d}"


@dataclass
class HeadPackage:
    """A classification head and what the cloud needs to judge it."""

    weight: torch.Tensor
    bias: torch.Tensor
    meta: dict[str, Any]

    @classmethod
    def from_head(cls, head: nn.Linear, *, version: str, parent: str | None, class_names: list[str], prompts: list[str],
                  backbones: dict[str, str], metrics: dict[str, float]) -> "HeadPackage":
        meta = {
            "version": version,
            "parent_version": parent,
            "class_names": list(class_names),
            "class_list_hash": class_list_hash(class_names, prompts),
            "backbones": backbones,
            "in_features": head.in_features,
            "n_classes": head.out_features,
            "metrics": metrics,
            "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return cls(head.weight.detach().clone(), head.bias.detach().clone(), meta)

    def save(self, folder: Path) -> Path:
        def write(staging: Path) -> None:
            save_file({"weight": self.weight.contiguous(), "bias": self.bias.contiguous()}, str(staging / HEAD_WEIGHTS))
            (staging / HEAD_META).write_text(json.dumps(self.meta, indent=1), encoding="utf-8")

        return _atomic_folder(Path(folder), write)

    @classmethod
    def load(cls, folder: Path) -> "HeadPackage":
        folder = Path(folder)
        try:
            meta = json.loads((folder / HEAD_META).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / HEAD_WEIGHTS))
        except FileNotFoundError as exc:
            raise DataError(f"{folder}: not a head package ({exc.filename} missing)") from None
        except Exception as exc:
            raise DataError(f"{folder}: corrupt head package ({type(exc).__name__}: {exc})") from None
        if set(tensors) != {"weight", "bias"} or not isinstance(meta, dict):
            raise DataError(f"{folder}: a head package holds exactly 'weight' and 'bias', found {sorted(tensors)}")
        return cls(tensors["weight"], tensors["bias"], meta)


@dataclass
class Decision:
    accepted: bool
    version: str
    reasons: list[str]
    accuracy_before: float | None = None
    accuracy_after: float | None = None


@torch.inference_mode()
def head_accuracy(weight: torch.Tensor, bias: torch.Tensor, features: torch.Tensor, labels: np.ndarray) -> float:
    """Accuracy of the linear head (weight, bias) on fixed features, computed where the features are."""
    logits = features @ weight.to(features.device).T + bias.to(features.device)
    return float((logits.argmax(1).cpu().numpy() == labels).mean())


class HeadRegistry:
    """Every head the cloud has accepted, the active one, and the checks a new one must pass."""

    def __init__(self, root: Path, class_names: list[str], prompts: list[str], tolerance: float = 0.01) -> None:
        self.root = Path(root)
        self.class_names, self.prompts, self.tolerance = list(class_names), list(prompts), tolerance

    def state(self) -> dict[str, Any]:
        return read_state(self.root)

    def history(self) -> list[dict[str, Any]]:
        return self.state()["history"]

    @property
    def active(self) -> str | None:
        return self.state()["active"]

    def _record(self, entry: dict[str, Any], activate: bool) -> None:
        state = self.state()
        state["history"].append(entry)
        if activate:
            state["active"] = entry["version"]
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(self.root / REGISTRY, state)

    def register_initial(self, head: nn.Linear, backbones: dict[str, str], metrics: dict[str, float]) -> str:
        """Keep the head the cloud was trained with as version v0000, the first rollback target."""
        if self.active is not None:
            return self.active
        package = HeadPackage.from_head(head, version="v0000", parent=None, class_names=self.class_names, prompts=self.prompts, backbones=backbones, metrics=metrics)
        package.save(self.root / "v0000")
        self._record({"version": "v0000", "parent_version": None, "status": "initial", "metrics": metrics, "utc": package.meta["utc"]}, activate=True)
        return "v0000"

    def check(self, package: HeadPackage, head: nn.Linear, features: torch.Tensor, labels: np.ndarray) -> Decision:
        """Shapes, label space, finiteness, then no accuracy drop beyond ``tolerance`` on the validation buffer."""
        meta, reasons = package.meta, []
        version = str(meta.get("version", "?"))
        if tuple(package.weight.shape) != tuple(head.weight.shape) or tuple(package.bias.shape) != tuple(head.bias.shape):
            reasons.append(f"shape {tuple(package.weight.shape)}+{tuple(package.bias.shape)} does not fit the head {tuple(head.weight.shape)}+{tuple(head.bias.shape)}")
        if meta.get("class_list_hash") != class_list_hash(self.class_names, self.prompts):
            reasons.append("class list differs from the cloud's (names, order or descriptions)")
        if not (torch.isfinite(package.weight).all() and torch.isfinite(package.bias).all()):
            reasons.append("weights hold NaN or Inf")
        if (self.root / version).exists() or not version.startswith("v"):
            reasons.append(f"version {version!r} exists already or is not of the form vNNNN")
        if meta.get("parent_version") != self.active:
            reasons.append(f"built on {meta.get('parent_version')!r}, the active head is {self.active!r}")
        if reasons:
            return Decision(False, version, reasons)
        before = head_accuracy(head.weight, head.bias, features, labels)
        after = head_accuracy(package.weight, package.bias, features, labels)
        if after < before - self.tolerance:
            reasons.append(f"validation accuracy would fall from {before:.4f} to {after:.4f} (tolerance {self.tolerance})")
        return Decision(not reasons, version, reasons, before, after)

    def submit(self, package: HeadPackage, head: nn.Linear, features: torch.Tensor, labels: np.ndarray) -> Decision:
        """Accept ``package`` into ``head`` (in place) if it passes :meth:`check`; a refused head changes nothing."""
        decision = self.check(package, head, features, labels)
        if not decision.accepted:
            return decision
        package.save(self.root / decision.version)
        with torch.no_grad():
            head.weight.copy_(package.weight)
            head.bias.copy_(package.bias)
        self._record({"version": decision.version, "parent_version": package.meta.get("parent_version"), "status": "accepted",
                      "metrics": package.meta.get("metrics", {}), "validation_before": decision.accuracy_before,
                      "validation_after": decision.accuracy_after, "utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}, activate=True)
        return decision

    def rollback(self, version: str, head: nn.Linear) -> None:
        """Make an earlier accepted version the active head again."""
        known = {entry["version"] for entry in self.history()}
        if version not in known:
            raise DataError(f"unknown head version {version!r}; known: {', '.join(sorted(known))}")
        package = HeadPackage.load(self.root / version)
        with torch.no_grad():
            head.weight.copy_(package.weight)
            head.bias.copy_(package.bias)
        self._record({"version": version, "parent_version": self.active, "status": "rollback",
                      "utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}, activate=True)

    def next_version(self) -> str:
        return next_version(self.state())
