"""Which recordings a data config points at: real data under a data root, or the embedded simulator."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from syndiag.config.data import DataConfig
from syndiag.data.recording import RecordingSet
from syndiag.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Source:
    """A resolved dataset: its name, a cheap fingerprint of its inputs, and how to load it."""

    name: str
    description: str
    fingerprint: dict[str, Any]
    load: Callable[[], RecordingSet]


def _file_stats(paths: list[Path]) -> list[list[Any]]:
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(paths)]


def dataset_folder(root: Path, name: str) -> Path:
    """``root/name`` when it exists (a data root holding several datasets), else ``root`` itself."""
    return root / name if (root / name).is_dir() else root


def resolve_source(config: DataConfig) -> Source:
    """The recordings ``config`` asks for; CWRU without a data root means the simulated CWRU-like rig."""
    root = config.resolved_data_root()
    if root is not None and not root.is_dir():
        raise DataError(f"data root not found: {root}")
    if config.dataset == "simulated" or (config.dataset == "cwru" and root is None):
        from syndiag.data.simulator import simulate_cwru_like

        why = "" if config.dataset == "simulated" else " (no data root given: --data-root or $SYNDIAG_DATA)"
        return Source(
            name="simulated-cwru",
            description=f"simulated CWRU-like bearing rig{why}",
            fingerprint={"simulator": config.simulator.model_dump(), "cwru": config.cwru.model_dump()},
            load=lambda: simulate_cwru_like(config.simulator, list(config.cwru.channels), list(config.cwru.loads)),
        )
    if config.dataset == "cwru":
        from syndiag.data.cwru import find_cwru_files, load_cwru

        folder = dataset_folder(root, "cwru")
        return Source(
            name="cwru",
            description=f"CWRU .mat files under {folder}",
            fingerprint={"files": _file_stats(list(find_cwru_files(folder).values())), "cwru": config.cwru.model_dump()},
            load=lambda: load_cwru(folder, config.cwru),
        )
    if config.dataset == "seu":
        from syndiag.data.seu import load_seu

        if root is None:
            raise DataError("dataset 'seu' needs a data root (--data-root or $SYNDIAG_DATA) holding the SEU CSV files")
        folder = dataset_folder(root, "seu")
        return Source(
            name="seu",
            description=f"SEU gearbox CSV files under {folder}",
            fingerprint={"files": _file_stats(list(folder.rglob("*.csv"))), "seu": config.seu.model_dump()},
            load=lambda: load_seu(folder, config.seu),
        )
    from syndiag.data.custom import load_custom

    spec = Path(config.spec).expanduser()
    if not spec.is_absolute() and root is not None and not spec.exists():
        spec = root / spec
    if not spec.is_file():
        raise DataError(f"dataset spec not found: {spec}")
    return Source(
        name=f"custom-{spec.stem}",
        description=f"recordings listed in {spec}",
        fingerprint={"spec": str(spec.resolve()), "content": "loaded"},
        load=lambda: load_custom(spec),
    )


def recordings_digest(recordings: RecordingSet) -> str:
    """Content hash of every signal, label and condition (for sources whose files are not listed up front)."""
    digest = hashlib.sha256()
    for rec in recordings.recordings:
        digest.update(f"{rec.label}|{rec.condition}|{rec.fs}|{rec.channels}|{rec.signal.shape}".encode())
        digest.update(rec.signal.tobytes())
    return digest.hexdigest()
