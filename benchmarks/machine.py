"""Shared by the benchmark scripts: provenance (command, commit, machine, time; see syndiag.evaluation.provenance),
the mean ± 95 % t interval over seeds their tables print, and the table written beside a results file."""

import numpy as np
from scipy import stats

from syndiag.atomic import atomic_write_text
from syndiag.evaluation.metrics import read_results
from syndiag.evaluation.provenance import provenance

__all__ = ["mean_interval", "provenance", "write_table"]


def mean_interval(values, digits: int = 3) -> str:
    """``mean ± half-width`` of the 95 % Student-t interval of the mean; the mean alone for a single value."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return f"{values.mean():.{digits}f}"
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return f"{values.mean():.{digits}f} ± {half:.{digits}f}"


def write_table(results, summary) -> int:
    """``summary(records)`` written beside the results file (same name, .md) when it holds any record; exit status 0."""
    records = list(read_results(results)) if results.is_file() else []
    if records:
        atomic_write_text(results.with_suffix(".md"), summary(records))
    return 0
