"""The cloud-edge registry: edge -> cloud head updates as artefacts: validate a package on the cloud, keep every version, roll back (§3.5).

Packages (``registry/package.py``) are parsed and signatures (``registry/signing.py``) verified before they get
here; :meth:`HeadRegistry.check` then judges a package against the cloud's own head: ``head.json`` field by field
(label space, sizes, version pattern, parent), weights (dtype float32, shape, finite, magnitude) and validation
accuracy. A refused package writes nothing; every path is checked to stay inside the registry root.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from syndiag.atomic import atomic_write_text
from syndiag.errors import DataError
from syndiag.registry.package import (
    HEAD_META,
    HEAD_WEIGHTS,
    VERSION_PATTERN,
    HeadPackage,
    class_list_hash,
    validated_meta,
)

__all__ = ["HEAD_META", "HEAD_WEIGHTS", "REGISTRY", "Decision", "HeadPackage", "HeadRegistry", "class_list_hash", "head_accuracy",
           "next_version", "read_state"]

REGISTRY = "registry.json"
INITIAL = "v0000"
MAX_ABS_WEIGHT = 1e4
MAX_NORM_RATIO = 100.0

_VERSION = re.compile(VERSION_PATTERN)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_state(root: Path) -> dict[str, Any]:
    """The registry's state (active version and history); an empty one when none has been written yet."""
    path = Path(root) / REGISTRY
    if not path.is_file():
        return {"active": None, "history": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: corrupt registry ({exc})") from None
    history = state.get("history") if isinstance(state, dict) else None
    if not (isinstance(history, list) and all(isinstance(e, dict) and isinstance(e.get("version"), str) for e in history)
            and (state.get("active") is None or isinstance(state.get("active"), str))):
        raise DataError(f"{path}: corrupt registry (expected {{'active': version, 'history': [{{'version': ...}}, ...]}})")
    return state


def next_version(state: dict[str, Any]) -> str:
    """The version after the highest one in ``state``'s history: v0000 for the first (the cloud's initial head)."""
    numbers = [int(e["version"][1:]) for e in state["history"] if _VERSION.fullmatch(e["version"])]
    return f"v{max(numbers, default=-1) + 1:04d}"


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
    """Every head the cloud has accepted, the active one, and the checks a new one must pass.

    ``max_abs_weight`` bounds every weight and bias; ``max_norm_ratio`` bounds the new weight's norm as a multiple of
    the active head's (at least 1).
    """

    def __init__(self, root: Path, class_names: list[str], prompts: list[str], tolerance: float = 0.01,
                 max_abs_weight: float = MAX_ABS_WEIGHT, max_norm_ratio: float = MAX_NORM_RATIO) -> None:
        self.root = Path(root)
        self.class_names, self.prompts, self.tolerance = list(class_names), list(prompts), tolerance
        self.max_abs_weight, self.max_norm_ratio = max_abs_weight, max_norm_ratio

    def state(self) -> dict[str, Any]:
        return read_state(self.root)

    def history(self) -> list[dict[str, Any]]:
        return self.state()["history"]

    @property
    def active(self) -> str | None:
        return self.state()["active"]

    def version_dir(self, version: str) -> Path:
        """``root/version``, for a version of the form vNNNN whose folder resolves inside the registry root."""
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise DataError(f"version {str(version)[:40]!r} is not of the form vNNNN")
        path = self.root / version
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise DataError(f"{path} resolves outside the head registry {self.root}")
        return path

    def _record(self, entries: list[dict[str, Any]]) -> None:
        state = self.state()
        state["history"] += entries
        state["active"] = entries[-1]["version"]
        atomic_write_text(self.root / REGISTRY, json.dumps(state, indent=1))

    def _initial(self, head: nn.Linear, backbones: dict[str, str], metrics: dict[str, float]) -> dict[str, Any]:
        """Write the cloud's own head as v0000 (the first rollback target); return its history entry."""
        package = HeadPackage.from_head(head, version=INITIAL, parent=None, class_names=self.class_names, prompts=self.prompts,
                                        backbones=backbones, metrics=metrics)
        package.save(self.version_dir(INITIAL), replace=True)
        return {"version": INITIAL, "parent_version": None, "status": "initial", "metrics": package.meta["metrics"], "utc": package.meta["utc"]}

    def register_initial(self, head: nn.Linear, backbones: dict[str, str], metrics: dict[str, float]) -> str:
        """Keep the head the cloud was trained with as version v0000, the first rollback target (once)."""
        if self.active is not None:
            return self.active
        self._record([self._initial(head, backbones, metrics)])
        return INITIAL

    def _weight_reasons(self, package: HeadPackage, head: nn.Linear) -> list[str]:
        weight, bias = package.weight, package.bias
        bad = [f"{n} is {t.dtype}" for n, t in (("weight", weight), ("bias", bias)) if t.dtype != torch.float32]
        if bad:
            return [f"dtype check failed: {', '.join(bad)}; a head's weights are float32 exactly"]
        if tuple(weight.shape) != tuple(head.weight.shape) or tuple(bias.shape) != tuple(head.bias.shape):
            return [f"shape check failed: {tuple(weight.shape)}+{tuple(bias.shape)} does not fit the head {tuple(head.weight.shape)}+{tuple(head.bias.shape)}"]
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            return ["finiteness check failed: weights hold NaN or Inf"]
        reasons = []
        largest = max(float(weight.abs().max()), float(bias.abs().max()))
        if largest > self.max_abs_weight:
            reasons.append(f"magnitude check failed: max |w| is {largest:.3g}, above the bound {self.max_abs_weight:g}")
        norm, current = float(torch.linalg.norm(weight)), float(torch.linalg.norm(head.weight.detach()))
        if norm > self.max_norm_ratio * max(current, 1.0):
            reasons.append(f"norm check failed: weight norm {norm:.3g} is more than {self.max_norm_ratio:g}x the active head's {current:.3g}")
        return reasons

    def _meta_reasons(self, meta: Any, head: nn.Linear, expected_parent: str | None, taken: set[str]) -> list[str]:
        try:
            valid = validated_meta(meta, "package")
        except DataError as exc:
            return [str(exc).removeprefix("package: ")]
        reasons = []
        if valid.class_names != self.class_names:
            reasons.append("class_names differ from the cloud's (names or order)")
        if valid.class_list_hash != class_list_hash(self.class_names, self.prompts):
            reasons.append("class list differs from the cloud's (class_list_hash: names, order or descriptions)")
        if (valid.in_features, valid.n_classes) != (head.in_features, head.out_features):
            reasons.append(f"in_features/n_classes {valid.in_features}/{valid.n_classes} do not match the head's {head.in_features}/{head.out_features}")
        try:
            self.version_dir(valid.version)
        except DataError as exc:
            reasons.append(str(exc))
        if valid.version in taken:
            reasons.append(f"version {valid.version!r} exists already")
        if valid.parent_version != expected_parent:
            reasons.append(f"built on {valid.parent_version!r}, the active head is {expected_parent!r}")
        return reasons

    def check(self, package: HeadPackage, head: nn.Linear, features: torch.Tensor, labels: np.ndarray, *, pending_initial: bool = False) -> Decision:
        """head.json against the cloud's model, the weights' dtype, shape, finiteness and size, then no accuracy drop
        beyond ``tolerance`` on the validation buffer. ``pending_initial``: v0000 is registered with this package."""
        meta = package.meta
        version = str(meta.get("version", "?"))[:40] if isinstance(meta, dict) else "?"
        taken = {e["version"] for e in self.history()} | ({INITIAL} if pending_initial else set())
        expected_parent = INITIAL if pending_initial else self.active
        reasons = self._weight_reasons(package, head) + self._meta_reasons(meta, head, expected_parent, taken)
        if reasons:
            return Decision(False, version, reasons)
        before = head_accuracy(head.weight, head.bias, features, labels)
        after = head_accuracy(package.weight, package.bias, features, labels)
        if after < before - self.tolerance:
            reasons.append(f"validation accuracy would fall from {before:.4f} to {after:.4f} (tolerance {self.tolerance})")
        return Decision(not reasons, version, reasons, before, after)

    def submit(self, package: HeadPackage, head: nn.Linear, features: torch.Tensor, labels: np.ndarray, *,
               initial_backbones: dict[str, str] | None = None, signer: str | None = None) -> Decision:
        """Accept ``package`` into ``head`` (in place) if it passes :meth:`check`; a refused head changes nothing.

        On an empty registry, ``initial_backbones`` registers the cloud's current head as v0000 together with the
        accepted package (nothing is written when it is refused). ``signer``: the key id that signed it, recorded.
        """
        pending = self.active is None
        if pending and initial_backbones is None:
            raise DataError(f"{self.root}: no head registered yet (register_initial first)")
        decision = self.check(package, head, features, labels, pending_initial=pending)
        if not decision.accepted:
            return decision
        entries = [self._initial(head, initial_backbones or {}, {})] if pending else []
        package.save(self.version_dir(decision.version), replace=True)  # not in the history: at most a crashed import's leftover
        with torch.no_grad():
            head.weight.copy_(package.weight)
            head.bias.copy_(package.bias)
        entries.append({"version": decision.version, "parent_version": package.meta["parent_version"], "status": "accepted",
                        "metrics": package.meta["metrics"], "validation_before": decision.accuracy_before,
                        "validation_after": decision.accuracy_after, "signed_by": signer, "utc": _now()})
        self._record(entries)
        return decision

    def rollback(self, version: str, head: nn.Linear) -> None:
        """Make an earlier accepted version the active head again."""
        known = {entry["version"] for entry in self.history()}
        if version not in known:
            raise DataError(f"unknown head version {str(version)[:40]!r}; known: {', '.join(sorted(known))}")
        package = HeadPackage.load(self.version_dir(version))
        if tuple(package.weight.shape) != tuple(head.weight.shape) or tuple(package.bias.shape) != tuple(head.bias.shape):
            raise DataError(f"{self.version_dir(version)}: shape {tuple(package.weight.shape)} does not fit the head {tuple(head.weight.shape)}")
        with torch.no_grad():
            head.weight.copy_(package.weight)
            head.bias.copy_(package.bias)
        self._record([{"version": version, "parent_version": self.active, "status": "rollback", "utc": _now()}])

    def next_version(self) -> str:
        return next_version(self.state())
