"""Structured findings of a report (issue 20): what the classifier says, what the signal's physics says, whether they
agree, the ISO zone, RUL and alarms when given, and the recommendation drawn from the rule table. Every statement of the
written part must be traceable to this dict (report/grounding.py)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import yaml

FAULT_WORDS = {"inner_race": "inner race", "outer_race": "outer race", "ball": "ball", "cage": "cage", "normal": "normal"}
LOCATION_WORDS = {"drive end": ("drive end", "motor end", "drive-end"), "fan end": ("fan end", "fan-end")}


def fault_of(description: str) -> dict[str, Any]:
    """Fault type, location and defect diameter read from a class description ("inner race fault at motor end with
    diameter 0.007 inches", "normal operation"); None where it says nothing."""
    text = description.lower()
    fault = next((key for key, word in FAULT_WORDS.items() if word in text), None)
    location = next((loc for loc, words in LOCATION_WORDS.items() if any(w in text for w in words)), None)
    diameter = re.search(r"(\d+\.\d+)\s*inch", text)
    return {"fault_type": fault, "location": location, "diameter_in": float(diameter.group(1)) if diameter else None}


def rule_table() -> dict[str, Any]:
    return yaml.safe_load(resources.files("syndiag.report").joinpath("recommendations.yaml").read_text(encoding="utf-8"))


def unchecked_lines(evidence: dict) -> list[dict]:
    """The fault types' characteristic lines (the cage's left aside) that the envelope spectrum could not show."""
    return [line for fault, line in evidence["lines"].items() if fault != "cage" and not line.get("checked", True)]


def impulsive(evidence: dict) -> bool:
    """Whether the evidence names its fault from an impulsive envelope with no race line (a ball, tentatively), not a line."""
    return evidence["strongest"] != "none" and evidence.get("strongest_basis", "").startswith("impulsive")


def evidence_words(evidence: dict) -> str:
    """What the evidence's verdict rests on, in a few words: its line, or an impulsive envelope with no race line."""
    strongest = evidence["strongest"]
    if impulsive(evidence):
        return f"an impulsive envelope with no race line ({FAULT_WORDS[strongest]}, tentative)"
    return f"{evidence['lines'][strongest]['line']} ({FAULT_WORDS[strongest]})"


def verdict_scores(evidence: dict) -> list[tuple[str, float]]:
    """The fault types the verdict compares (the checked lines of inner race, outer race and ball; the cage's left aside)
    with their harmonic scores (``score``: the mean log2 peak-to-floor ratio over the line's harmonics), highest first
    (a tie in the order of the lines, as the verdict breaks it): the first is the verdict where its first harmonic
    stands out (physics/evidence.py :func:`verdict`)."""
    scored = [(fault, float(line["score"])) for fault, line in evidence["lines"].items()
              if fault != "cage" and line.get("checked", True) and line.get("score") is not None]
    return sorted(scored, key=lambda pair: -pair[1])


def agreement(diagnosis: dict | None, evidence: dict) -> dict[str, Any]:
    """Does the envelope spectrum back the classifier's fault type? (None when there is no classifier, it says normal,
    or its line could not be checked: then the note says why.)"""
    strongest = evidence["strongest"]
    if diagnosis is None or diagnosis.get("fault_type") in (None, "normal"):
        return {"classifier": None if diagnosis is None else diagnosis.get("fault_type"), "evidence": strongest, "agree": None}
    said = diagnosis["fault_type"]
    line = evidence["lines"][said]
    if not line.get("checked", True):
        return {"classifier": said, "evidence": strongest, "agree": None,
                "note": f"the model says {FAULT_WORDS[said]}, but its {line['line']} line could not be checked: {line['not_checkable']}"}
    agree = strongest == said
    if agree and impulsive(evidence):
        note = f"the envelope is impulsive with no race line standing out, as the classifier's {FAULT_WORDS[said]} fault would make it (tentative)"
    elif agree:
        note = f"the envelope spectrum shows the {evidence['lines'][said]['line']} lines the classifier's {FAULT_WORDS[said]} fault predicts"
    elif strongest == "none":
        note = (f"the model says {FAULT_WORDS[said]}, but no characteristic line stands out of the envelope spectrum "
                f"(no peak at {evidence['lines'][said]['line']})")
    else:
        note = (f"the model says {FAULT_WORDS[said]}, but the envelope spectrum's strongest evidence is "
                f"{evidence_words(evidence)}, not {evidence['lines'][said]['line']}")
    return {"classifier": said, "evidence": strongest, "agree": agree, "note": note}


def recommendation(diagnosis: dict | None, unknown: dict | None, evidence: dict, agree: dict, alarm: dict | None = None) -> dict[str, Any]:
    """Urgency and actions from the rule table for the fault type (the classifier's; "unknown" when the open-set verdict
    says so, or when an anomaly alarm is on and nothing types it; "unchecked" when no classifier names a fault and the
    evidence could not check every line; the evidence's when there is no classifier) and the ISO zone, plus a
    confirmation step on disagreement."""
    table = rule_table()
    said = (diagnosis or {}).get("fault_type")
    if unknown is not None and unknown.get("unknown"):
        basis = "unknown"
    elif diagnosis is None and evidence["strongest"] == "none" and (alarm or {}).get("on"):
        basis = "unknown"  # an anomaly the evidence cannot type
    elif said in (None, "normal") and evidence["strongest"] == "none" and unchecked_lines(evidence):
        basis = "unchecked"
    elif diagnosis is not None and diagnosis.get("fault_type") in table["rules"]:
        basis = diagnosis["fault_type"]
    else:
        basis = evidence["strongest"] if evidence["strongest"] in table["rules"] else "normal"
    rule = table["rules"][basis][evidence["iso_zone"]]
    actions = list(rule["actions"])
    if agree.get("agree") is False:
        actions.insert(0, "confirm the diagnosis by a second technique before any intervention: " + agree["note"])
    actions[:0] = [f"check the shaft speed before acting on this report: {w}" for w in evidence.get("warnings", [])]
    return {"basis": basis, "zone": evidence["iso_zone"], "urgency": rule["urgency"], "actions": actions, "practice": table["practice"]}


def build_findings(source: str, seconds: float, fs: float, evidence: dict, diagnosis: dict | None = None, unknown: dict | None = None,
                   severity: dict | None = None, rul: dict | None = None, alarm: dict | None = None) -> dict[str, Any]:
    agree = agreement(diagnosis, evidence)
    return {"source": source, "recording_seconds": round(seconds, 3), "fs_hz": fs, "diagnosis": diagnosis, "unknown": unknown,
            "severity": severity, "rul": rul, "alarm": alarm, "evidence": evidence, "agreement": agree,
            "recommendation": recommendation(diagnosis, unknown, evidence, agree, alarm)}
