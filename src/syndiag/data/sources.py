"""Which recordings a data config points at: real data under a data root, or the embedded simulator."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from syndiag.config.data import DataConfig
from syndiag.data.paths import dataset_folder, files_under, require_folder
from syndiag.data.recording import RecordingSet
from syndiag.data.seu import load_seu
from syndiag.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class Source:
    """A resolved dataset: its name, a cheap fingerprint of its inputs, and how to load it."""

    name: str
    description: str
    fingerprint: dict[str, Any]
    load: Callable[[], RecordingSet]


def _file_stats(paths: list[Path], config: DataConfig) -> list[list[Any]]:
    """Path, size and mtime of each input file; with ``cache_content_hash`` also the sha256 of its bytes, so a file
    rewritten with the same size and mtime is noticed too."""
    rows: list[list[Any]] = []
    for path in sorted(paths):
        try:
            info = path.stat()
            row: list[Any] = [str(path.resolve()), info.st_size, info.st_mtime_ns]
            if config.cache_content_hash:
                row.append(_sha256(path))
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        rows.append(row)
    return rows


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def simulated(config: DataConfig) -> bool:
    """Whether ``config`` reads the embedded simulator: ``dataset: simulated``, or CWRU without a data root."""
    return config.dataset == "simulated" or (config.dataset == "cwru" and config.resolved_data_root() is None)


def resolve_source(config: DataConfig) -> Source:
    """The recordings ``config`` asks for; CWRU without a data root means the simulated CWRU-like rig."""
    root = config.resolved_data_root()
    if root is not None:
        require_folder(root, "data root")
    if simulated(config):
        # defers scipy.signal and scipy.io: a dataset's reader is imported only when that dataset is read
        from syndiag.data.simulator import simulate_cwru_like

        why = "" if config.dataset == "simulated" else " (no data root given: --data-root or $SYNDIAG_DATA)"
        return Source(
            name="simulated-cwru",
            description=f"simulated CWRU-like bearing rig{why}",
            fingerprint={"simulator": config.simulator.model_dump(), "cwru": config.cwru.model_dump()},
            load=lambda: simulate_cwru_like(config.simulator, list(config.cwru.channels), list(config.cwru.loads)),
        )
    if config.dataset == "cwru":
        # defers scipy.io, as above
        from syndiag.data.cwru import find_cwru_files, load_cwru

        folder = dataset_folder(root, "cwru")
        return Source(
            name="cwru",
            description=f"CWRU .mat files under {folder}",
            fingerprint={"files": _file_stats(list(find_cwru_files(folder).values()), config), "cwru": config.cwru.model_dump()},
            load=lambda: load_cwru(folder, config.cwru),
        )
    if config.dataset == "seu":
        if root is None:
            raise DataError("dataset 'seu' needs a data root (--data-root or $SYNDIAG_DATA) holding the SEU CSV files")
        folder = dataset_folder(root, "seu")
        return Source(
            name="seu",
            description=f"SEU gearbox CSV files under {folder}",
            fingerprint={"files": _file_stats(files_under(require_folder(folder, "SEU data folder"), ".csv"), config), "seu": config.seu.model_dump()},
            load=lambda: load_seu(folder, config.seu),
        )
    # defers scipy.signal, as above
    from syndiag.data.custom import custom_spec_path, load_custom

    spec = custom_spec_path(config)
    return Source(
        name=f"custom-{spec.stem}",
        description=f"recordings listed in {spec}",
        fingerprint={"spec": str(spec.resolve()), "content": "loaded"},
        load=lambda: load_custom(spec),
    )


def sensor_recordings(config: DataConfig, images: bool = True) -> RecordingSet:
    """The recordings of ``config`` with every sensor channel, for the sensor model: a custom spec's declared sensors and
    frames, CWRU's with speed and severity, or the simulated rig's with speed, severity and (``images``) thermal frames;
    each matches the dataset :func:`~syndiag.data.prepare.prepare` makes of ``config``."""
    if config.dataset == "custom":
        from syndiag.data.custom import custom_sensor_set  # defers scipy.signal: a reader is imported for its dataset only

        return custom_sensor_set(config)
    if simulated(config):
        from syndiag.data.simulated_sensors import simulated_sensor_set  # defers scipy.signal, as above

        return simulated_sensor_set(config, images)
    if config.dataset == "cwru":
        from syndiag.data.cwru import cwru_sensor_set  # defers scipy.io, as above

        return cwru_sensor_set(config)
    raise ConfigError(f"data.dataset: the sensor model reads cwru (or its simulator) or custom so far, not {config.dataset!r}")


def recordings_digest(recordings: RecordingSet) -> str:
    """Content hash of every signal, label and condition (for sources whose files are not listed up front)."""
    digest = hashlib.sha256()
    for rec in recordings.recordings:
        digest.update(f"{rec.label}|{rec.condition}|{rec.fs}|{tuple(rec.channels)}|{rec.signal.shape}".encode())
        digest.update(rec.signal.tobytes())
    return digest.hexdigest()
