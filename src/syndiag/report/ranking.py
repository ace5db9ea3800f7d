"""Ranking the physics evidence against the classifier (issue 31): each verdict weighed on one 0-1 scale (the
classifier's probability; for the envelope spectrum's strongest line, the share of its amplitude above the floor,
1 - 1/ratio: 0.67 at 3x, 0.99 at 100x), the stronger one leads the report and its fault type sets the rule-table row;
a line far above the floor raises the urgency (report/recommendations.yaml ``ranking``). The open-set verdict is
always stated."""

from __future__ import annotations

from typing import Any

from syndiag.report.findings import FAULT_WORDS, rule_table


def line_weight(ratio: float) -> float:
    """The share of a line's amplitude that stands above the floor (0 at or below it)."""
    return max(0.0, 1.0 - 1.0 / ratio) if ratio > 0 else 0.0


def ranking(findings: dict[str, Any]) -> dict[str, Any]:
    """The verdicts (classifier, envelope spectrum, open-set check) with their weights, strongest first, and the fault
    type of the leading one; ``open_set`` always says what the open-set check found (or that there was none)."""
    d, e, u = findings.get("diagnosis"), findings["evidence"], findings.get("unknown")
    verdicts = []
    if d is not None and d.get("fault_type"):
        verdicts.append({"source": "classifier", "fault_type": d["fault_type"], "weight": round(float(d["probability"]), 3),
                         "basis": f"probability {d['probability']:.2f}"})
    if e["strongest"] != "none":
        ratio = float(e["strongest_ratio"])
        verdicts.append({"source": "envelope spectrum", "fault_type": e["strongest"], "weight": round(line_weight(ratio), 3),
                         "basis": f"{e['lines'][e['strongest']]['line']} line {ratio:.1f} times the floor"})
    verdicts.sort(key=lambda v: -v["weight"])
    if u is None:
        open_set = "no open-set check (the classifier has no calibrated threshold)" if d is not None else "no classifier"
    else:
        open_set = "unknown: unlike every trained fault class" if u.get("unknown") else "within the trained classes"
    leading = verdicts[0] if verdicts else None
    agree = len({v["fault_type"] for v in verdicts}) <= 1
    if leading is None or agree or len(verdicts) < 2:
        note = None
    else:
        other = verdicts[1]
        note = (f"the {leading['source']} ({FAULT_WORDS[leading['fault_type']]}, {leading['basis']}) outweighs the {other['source']} "
                f"({FAULT_WORDS[other['fault_type']]}, {other['basis']})")
    return {"verdicts": verdicts, "leading": None if leading is None else leading["source"],
            "fault_type": None if leading is None else leading["fault_type"], "note": note, "open_set": open_set}


def apply_ranking(findings: dict[str, Any]) -> dict[str, Any]:
    """``findings`` with ``ranking`` added and the recommendation re-drawn from the leading verdict: on a disagreement
    the stronger verdict's fault type is the rule-table row (an unknown open-set verdict stays the basis); a line at or
    above the table's ``escalate_ratio`` raises the urgency to at least its ``escalate_to``; where the envelope spectrum
    already shows the basis fault's line, "confirm with an envelope spectrum" becomes trending that line."""
    ranked = ranking(findings)
    rec = dict(findings["recommendation"])
    table = rule_table()
    rules = table["ranking"]
    zone = findings["evidence"]["iso_zone"]
    if rec["basis"] not in ("unknown", "unchecked") and ranked["fault_type"] in table["rules"] and ranked["fault_type"] != rec["basis"] \
            and ranked["note"] is not None:
        rec["basis"] = ranked["fault_type"]
        rule = table["rules"][rec["basis"]][zone]
        confirm = [a for a in rec["actions"] if a.startswith(("confirm the diagnosis", "check the shaft speed"))]
        rec.update(urgency=rule["urgency"], actions=confirm + list(rule["actions"]))
    e = findings["evidence"]
    order = rules["urgency_order"]
    if e["strongest"] != "none" and float(e["strongest_ratio"]) >= rules["escalate_ratio"] and e["strongest"] == rec["basis"] \
            and order.index(rec["urgency"]) < order.index(rules["escalate_to"]):
        rec["urgency"] = rules["escalate_to"]
        first = [a for a in rec["actions"] if a.startswith(("confirm the diagnosis", "check the shaft speed"))]
        rest = [a for a in rec["actions"] if a not in first and not a.startswith("confirm with an envelope spectrum")]
        rec["actions"] = first + [rules["escalate_action"].format(line=e["lines"][e["strongest"]]["line"], ratio=float(e["strongest_ratio"]))] + rest
    if e["strongest"] == rec["basis"] and not str(e.get("strongest_basis", "")).startswith("impulsive"):
        shown = rules["shown_action"].format(line=e["lines"][e["strongest"]]["line"], ratio=float(e["strongest_ratio"]))
        rec["actions"] = [shown if a.startswith("confirm with an envelope spectrum") else a for a in rec["actions"]]
    rec["ranking"] = ranked["note"]
    return {**findings, "ranking": ranked, "recommendation": rec}
