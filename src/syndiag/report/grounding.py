"""The grounding check of a report's text (issue 20): every fault type, location, number, characteristic frequency and
ISO zone named in the text must be in the findings (numbers within the rounding the text shows), and the text must
state the fault type and the zone (:func:`omissions`). A text that fails is
never delivered: it is regenerated with tighter decoding, then replaced by the template (report/writer.py). Issue 31 adds
the claim-level check (report/claims.py, :func:`judge`): a sentence with a false claim rejects the text, a sentence that
no finding supports is removed."""

from __future__ import annotations

import math
import re
from typing import Any

from syndiag.report.claim_context import context
from syndiag.report.claims import check_text
from syndiag.report.findings import FAULT_WORDS, LOCATION_WORDS
from syndiag.report.score_claims import SCORE, true_citations

NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(\s*%)?")
FAULT_PATTERN = re.compile(r"\b(inner[- ]race|outer[- ]race|ball|cage)\b", re.IGNORECASE)
LOCATION_PATTERN = re.compile(r"\b(drive[- ]end|motor[- ]end|fan[- ]end)\b", re.IGNORECASE)
LINE_PATTERN = re.compile(r"\b(BPFI|BPFO|BSF|FTF)\b")
ZONE_PATTERN = re.compile(r"\bzone\s+([A-Za-z])\b", re.IGNORECASE)
CONFIRMED = re.compile(r"\b(confirmed|confirms|corroborated|backed)\s+by\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
RESOLUTION = re.compile(r"\bresolution\b", re.IGNORECASE)


def _sentence_at(text: str, position: int) -> str:
    """The sentence of ``text`` that holds the character at ``position`` (split as report/claims.py splits)."""
    start, end = 0, len(text)
    for m in SENTENCE_END.finditer(text):
        if m.end() <= position:
            start = m.end()
        else:
            end = m.start()
            break
    return text[start:end]


def _score_citations(text: str, findings: dict[str, Any]) -> set[int]:
    """Where in ``text`` a fault type is named beside its own harmonic score ("inner race 1.485"): a finding (its score),
    not a claim that it is the fault (report/score_claims.py judges the number)."""
    if not SCORE.search(text):
        return set()
    ctx, ends = context(findings), list(SENTENCE_END.finditer(text))
    spans = zip([0] + [m.end() for m in ends], [m.start() for m in ends] + [len(text)], strict=True)
    return {start + at for start, end in spans for at in true_citations(text[start:end], ctx)}


def numbers_in(value: Any) -> list[float]:
    """Every finite number anywhere in ``value`` (dicts, lists, strings included: "0.007 inches" gives 0.007)."""
    found: list[float] = []
    if isinstance(value, bool) or value is None:
        return found
    if isinstance(value, (int, float)):
        return [float(value)] if math.isfinite(value) else []
    if isinstance(value, str):
        return [float(m.group(1).replace(",", ".")) for m in NUMBER.finditer(value)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    for item in items:
        found += numbers_in(item)
    return found


def _matches(text_value: float, decimals: int, known: list[float]) -> bool:
    tolerance = 0.5 * 10.0 ** (-decimals) + 1e-9
    return any(abs(text_value - v) <= tolerance for v in known)


def allowed_terms(findings: dict[str, Any]) -> dict[str, set[str]]:
    """The fault types, locations, characteristic lines and zone the findings name."""
    diagnosis = findings.get("diagnosis") or {}
    faults = {diagnosis.get("fault_type"), findings["evidence"]["strongest"], findings["agreement"].get("evidence")}
    faults = {FAULT_WORDS[f] for f in faults if f in FAULT_WORDS and f != "normal"}
    locations = set(LOCATION_WORDS.get(diagnosis.get("location"), ()))
    return {"faults": faults, "locations": {loc.replace("-", " ") for loc in locations}, "lines": {"BPFI", "BPFO", "BSF", "FTF"},
            "zone": {findings["evidence"]["iso_zone"]}}


def ungrounded(text: str, findings: dict[str, Any]) -> list[str]:
    """Every statement of ``text`` that the findings do not hold, each named; empty when the text is grounded."""
    problems = []
    terms = allowed_terms(findings)
    # a fault type the resolution cannot tell from the verdict's (evidence.confusable_with) may be named as such: "this
    # 10 Hz resolution cannot tell inner race from ball"; the claim check (report/claims.py) judges how it is named
    twins = {FAULT_WORDS[f] for f in findings["evidence"].get("confusable_with") or () if f in FAULT_WORDS}
    scored = _score_citations(text, findings)
    for match in FAULT_PATTERN.finditer(text):
        word = match.group(1).lower().replace("-", " ")
        if (word in twins and RESOLUTION.search(_sentence_at(text, match.start()))) or match.start() in scored:
            continue
        if word not in terms["faults"]:
            problems.append(f"fault type {match.group(1)!r} is not in the findings ({', '.join(sorted(terms['faults'])) or 'none'})")
    for match in LOCATION_PATTERN.finditer(text):
        word = match.group(1).lower().replace("-", " ")
        if word not in terms["locations"]:
            problems.append(f"location {match.group(1)!r} is not in the findings")
    for match in ZONE_PATTERN.finditer(text):
        if match.group(1).upper() not in terms["zone"]:
            problems.append(f"ISO zone {match.group(1)!r} is not the findings' zone {next(iter(terms['zone']))}")
    if findings["agreement"].get("agree") is not True and CONFIRMED.search(text):
        problems.append("claims the evidence confirms the diagnosis; the findings say it does not (or there is no classifier)")
    known = numbers_in(findings)
    for match in NUMBER.finditer(text):
        raw = match.group(1).replace(",", ".")
        value = float(raw)
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        candidates = [value / 100.0] if match.group(2) else []
        if not (_matches(value, decimals, known) or any(_matches(c, decimals + 2, known) for c in candidates)):
            problems.append(f"number {match.group(0).strip()!r} is not in the findings")
    return problems


def omissions(text: str, findings: dict[str, Any]) -> list[str]:
    """What a delivered text must state and ``text`` does not: the fault type the recommendation rests on (or that no
    fault is seen) and the ISO zone. A text that says nothing wrong but nothing of the findings either is no report."""
    basis = findings["recommendation"]["basis"]
    lowered = text.lower().replace("-", " ")
    problems = []
    if basis in FAULT_WORDS and basis != "normal" and FAULT_WORDS[basis] not in lowered:
        problems.append(f"does not name the fault type ({FAULT_WORDS[basis]})")
    if basis == "unknown" and "unknown" not in lowered:
        problems.append("does not say the fault is unknown")
    if basis == "unchecked" and not re.search(r"\bnot (be )?check", lowered):
        problems.append("does not say that defect lines could not be checked")
    u = findings.get("unknown")
    if u is not None and not (re.search(r"\bunknown\b", lowered) if u.get("unknown") else re.search(r"\bwithin the trained\b|\bopen set\b", lowered)):
        problems.append("does not state the open-set verdict (" + ("unknown" if u.get("unknown") else "within the trained classes") + ")")
    if not re.search(rf"\bzone\s+{findings['evidence']['iso_zone']}\b", text, re.IGNORECASE):
        problems.append(f"does not give the ISO zone ({findings['evidence']['iso_zone']})")
    return problems


def judge(text: str, findings: dict[str, Any], vocabulary: str = "") -> tuple[str | None, list[str], list[str]]:
    """The text to deliver (None: rejected), its problems and the sentences removed. Rejected: a lexical problem
    (:func:`ungrounded`), a sentence with a claim the findings contradict, or, once the unsupported sentences are
    removed, nothing left or an omission (:func:`omissions`). ``vocabulary``: words known grounded (the template's)."""
    checks = check_text(text, findings, vocabulary)
    problems = ungrounded(text, findings) + [f"{c.text!r}: {p}" for c in checks for p in c.false]
    removed = [f"{c.text!r}: {'; '.join(c.unsupported)}" for c in checks if not c.false and not c.supported]
    kept = " ".join(c.text for c in checks if c.supported)
    if not kept:
        problems.append("no sentence a finding supports")
    problems += omissions(kept, findings)
    return (None if problems else kept), problems, removed
