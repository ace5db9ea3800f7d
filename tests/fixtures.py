"""Writers of small data files in the formats the loaders read, shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

SEU_HEADER = (
    "Data Acquisition Properties",
    "Acquisition Time\t2018/03/12 10:22:31",
    "Sample Rate (Hz)\t5120",
    "Channels\t8",
    "Channel Names\tCH1\tCH2\tCH3\tCH4\tCH5\tCH6\tCH7\tCH8",
    "Units\tg\tg\tg\tg\tNm\tg\tg\tg",
    "Gearbox\tDrivetrain Dynamics Simulator",
    "Speed-load\t20 Hz\t0 V",
    "Sensor\tPCB 608A11",
    "Block Size\t1024",
    "Samples per channel\t1048560",
    "Coupling\tAC",
    "Window\tNone",
    "Comment\tgear subset",
    "Operator\tSEU",
    "Index\t1\t2\t3\t4\t5\t6\t7",
)


def write_seu_fixture(
    path: Path,
    n_rows: int,
    rng: np.random.Generator,
    sep: str = "\t",
    header_lines: int = 16,
    trailing_sep: bool = False,
    newline: str = "\n",
) -> np.ndarray:
    """Write an SEU gearbox CSV (text header, then 8 numeric columns) and return the (n_rows, 8) table written."""
    table = np.round(rng.standard_normal((n_rows, 8)), 6)
    header = [SEU_HEADER[i % len(SEU_HEADER)] for i in range(header_lines)]
    end = sep if trailing_sep else ""
    rows = [sep.join(repr(float(v)) for v in row) + end for row in table]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(header + rows) + newline).encode("latin-1"))
    return table


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    """Write a YAML dataset spec."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def write_csv(path: Path, table: np.ndarray, delimiter: str = ",", header: list[str] | None = None) -> Path:
    """Write a (rows, columns) table as delimited text, with an optional header row."""
    lines = [delimiter.join(header)] if header is not None else []
    lines += [delimiter.join(repr(float(v)) for v in row) for row in table]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
