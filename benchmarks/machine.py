"""Provenance for the benchmark scripts: command, commit, machine, time (see syndiag.evaluation.provenance)."""

from syndiag.evaluation.provenance import provenance

__all__ = ["provenance"]
