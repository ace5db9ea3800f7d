"""Choosing the healthy-only monitor's features, score and alarm rule by leave-one-bearing-out (issue 30, item 4): on
run-to-failure units, a setting is good on a unit when its novelty alarm goes on earlier than the RMS alarm and not
before the onset of the unit's RMS trajectory (:func:`syndiag.prognostics.anomaly.detection_summary`); for each unit
the setting that is good on most of the *other* units is chosen (ties: fewer alarms before onset, fewer units never
alarmed, then the grid's order, the shipped default first) and judged on the unit left out.

Two comparisons: ``same-rule`` (the RMS alarm needs as many snapshots in a row as the novelty alarm, so a shorter
persistence cannot win by itself) and ``rms-3-in-a-row`` (the practitioners' alarm kept at its usual 3 in a row).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from syndiag.config.monitor import MonitorConfig
from syndiag.errors import DataError
from syndiag.prognostics.anomaly import alarm_timeline, detection_summary
from syndiag.prognostics.features import indicator
from syndiag.prognostics.health import health_trajectory
from syndiag.prognostics.units import Unit

FEATURES = ("all", "time", "bands")
METHODS = ("mahalanobis", "knn", "max-z")
SMOOTHING = (1, 3, 5)
PERSISTENCE = (3, 1, 2, 4, 5)
COMPARISONS = {"same-rule": None, "rms-3-in-a-row": 3}
"""The RMS alarm's persistence in each comparison (None: the novelty alarm's own)."""


def grid(comparison: str) -> list[MonitorConfig]:
    """Every setting tried, the shipped default (all features, Mahalanobis, no smoothing, 3 in a row) first."""
    return [MonitorConfig(features=f, method=m, smoothing=s, persistence=p, rms_persistence=COMPARISONS[comparison])
            for f, m, s, p in itertools.product(FEATURES, METHODS, SMOOTHING, PERSISTENCE)]


def setting(config: MonitorConfig) -> str:
    return f"{config.method}, {config.features}, smoothing {config.smoothing}, {config.persistence} in a row"


def earlier_not_false(found: dict) -> bool:
    """The novelty alarm went on, not before the onset, and earlier than the RMS alarm (or the RMS alarm never did)."""
    return (found["novelty_lead_s"] is not None and not found["novelty_false_alarm"]
            and (found["rms_lead_s"] is None or found["novelty_lead_s"] > found["rms_lead_s"]))


def outcomes(units: list[Unit], config: MonitorConfig) -> list[dict]:
    """Each run-to-failure unit's :func:`detection_summary` under ``config``, with ``earlier_not_false``."""
    found = [detection_summary(u, alarm_timeline(u, config)) for u in units]
    return [{**f, "earlier_not_false": earlier_not_false(f)} for f in found]


def rank(found: Iterable[dict]) -> tuple[int, int, int]:
    """Sort key of a setting on some units (smaller is better): most good units, fewest alarms before onset, fewest never alarmed."""
    found = list(found)
    return (-sum(f["earlier_not_false"] for f in found), sum(f["novelty_false_alarm"] for f in found),
            sum(f["novelty_lead_s"] is None for f in found))


def choose(table: list[list[dict]], keep: list[int]) -> int:
    """Index of the best setting of ``table`` (settings x units) on the units ``keep`` (the first of equals)."""
    return min(range(len(table)), key=lambda i: (rank(table[i][k] for k in keep), i))


def leave_one_bearing_out(units: list[Unit], comparison: str) -> dict[str, Any]:
    """Per unit left out: the setting chosen on the others and its outcome there; and the setting chosen on all."""
    configs = grid(comparison)
    table = [outcomes(units, c) for c in configs]
    held = []
    for i, unit in enumerate(units):
        chosen = choose(table, [k for k in range(len(units)) if k != i])
        held.append({"unit": unit.name, "setting": setting(configs[chosen]), "monitor": configs[chosen].model_dump(),
                     "others_good": -rank(table[chosen][k] for k in range(len(units)) if k != i)[0], **table[chosen][i]})
    final = choose(table, list(range(len(units))))
    return {"comparison": comparison, "settings_tried": len(configs), "held_out": held,
            "held_out_good": sum(h["earlier_not_false"] for h in held), "held_out_false": sum(h["novelty_false_alarm"] for h in held),
            "final": configs[final].model_dump(), "final_setting": setting(configs[final]), "final_on_learning": table[final],
            "default_on_learning": table[0]}


def truncated_summary(unit: Unit, config: MonitorConfig) -> dict[str, Any]:
    """For a unit stopped before failure (a test bearing): when each alarm went on, how long before the record's end
    and, with the unit's actual RUL, before failure; the onset of its RMS trajectory within the record, if any, and
    whether the novelty alarm went on before it (or with no onset in the record at all). A unit too short for the
    reference is reported with the reason, not scored."""
    try:
        timeline = alarm_timeline(unit, config)
    except DataError as error:
        return {"unit": unit.name, "record_s": float(unit.time_s[-1]), "actual_rul_s": unit.actual_rul_s, "not_monitored": str(error)}
    onset = health_trajectory(indicator(unit.features, "rms")).onset
    end = float(unit.time_s[-1])
    found = {"unit": unit.name, "record_s": end, "actual_rul_s": unit.actual_rul_s, "onset_s": None if onset is None else float(unit.time_s[onset])}
    for name, first in (("novelty", timeline.first_alarm), ("rms", timeline.first_rms_alarm)):
        at = None if first is None else float(unit.time_s[first])
        found[f"{name}_alarm_s"] = at
        found[f"{name}_before_end_s"] = None if at is None else end - at
        found[f"{name}_before_failure_s"] = None if at is None or unit.actual_rul_s is None else end - at + unit.actual_rul_s
        found[f"{name}_before_onset"] = bool(first is not None and (onset is None or first < onset))
    return found
