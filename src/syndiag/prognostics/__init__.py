"""Prognostics: health indicators of run-to-failure units, onset detection, degradation stages (RUL builds on them)."""
