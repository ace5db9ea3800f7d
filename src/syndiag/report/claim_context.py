"""What a report's findings hold, in the terms its text is checked against (issue 31): every number by its kind, every
word the findings use, and the claims they make (:class:`Context`), for :mod:`syndiag.report.claims`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from syndiag.report.findings import LOCATION_WORDS, verdict_scores

NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?:\s*(?:to|-|–)\s*\d+(?:\.\d+)?)?\s*(%|hz\b|mm/s|times\b|×|x\b|inch(?:es)?\b|in\b|h\b|"
                    r"hours?\b|rpm\b|s\b|seconds?\b|g\b)?", re.IGNORECASE)
UNITS = {"%": "percent", "hz": "hz", "mm/s": "mm_s", "times": "ratio", "×": "ratio", "x": "ratio", "inch": "inch", "inches": "inch",
         "in": "inch", "h": "hours", "hour": "hours", "hours": "hours", "rpm": "rpm", "s": "seconds", "second": "seconds",
         "seconds": "seconds", "g": "g"}
WORD = re.compile(r"[a-z]+", re.IGNORECASE)
CLAUSE = re.compile(r"[,;()]|\bbut\b|\bwhile\b|\bwhereas\b|\balthough\b", re.IGNORECASE)
FUNCTION = set("""a an the and or of in on at to for by with from as is are was were be been being it its this that these those there
here which who what when where than then so also both each any all some one two three has have had do does did will would should
shall must can could may might please note we our i you your they their them very more most less into over under about within per
after before until between""".split())
NEUTRAL = FUNCTION | set("""fault faults bearing bearings machine motor vibration level levels measured measurement signal recording
report shows show showed shown found finds find detected detect indicates indicate indicating suggests suggest consistent evidence
envelope spectrum spectra line lines peak peaks frequency frequencies characteristic defect defects hz mm rms iso zone classifier model
recommended recommend recommendation action actions urgency next stop its is time times floor above below standing stand stands
out clear clearly strong strongly weak probability diameter inches inch race inner outer ball cage drive fan end side location
located operation condition state normal healthy unknown check checked confirm confirmed confirms diagnosis agree agrees
agreement disagree disagrees disagreement however while but although whereas not no nor none nothing without note says said
predicts predicted classified type kind sign signs monitoring remaining useful life hours alarm alarms severity gives give verdict
standing highest combined harmonic harmonics score scores against ahead""".split())
"""Words of no claim by themselves: function words and the report's own vocabulary (what a note about these findings says)."""


def clause_span(sentence: str, start: int) -> tuple[int, int]:
    """Where the clause (between commas, semicolons, brackets, "but") that holds the character at ``start`` begins and ends."""
    left = max([m.end() for m in CLAUSE.finditer(sentence) if m.end() <= start] or [0])
    right = min([m.start() for m in CLAUSE.finditer(sentence) if m.start() >= start] or [len(sentence)])
    return left, right


def word_stems(word: str) -> set[str]:
    word = word.lower()
    found = {word}
    for suffix in ("ing", "ed", "es", "s", "ly", "ment", "ion", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            found.add(word[: -len(suffix)])
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return [s for item in items for s in _strings(item)]


def _kind_of_key(key: str) -> str | None:
    key = key.lower()
    if key.endswith("hz") or key in ("characteristic_hz", "envelope_band_hz", "spacing_hz"):
        return "hz"
    if "ratio" in key:
        return "ratio"
    if key.endswith("mm_s"):
        return "mm_s"
    if key in ("probability", "score", "threshold"):
        return "probability"
    if key.endswith("_in"):
        return "inch"
    if key == "rpm" or key.endswith("_rpm"):
        return "rpm"
    return None


def value_index(findings: dict[str, Any]) -> dict[str, list[float]]:
    """Every number of the findings by its kind (from its key, or the unit that follows it in a finding's text);
    ``any`` holds them all. Seconds of a RUL are also given in hours."""
    index: dict[str, list[float]] = {"any": []}

    def add(kind: str | None, value: float) -> None:
        if math.isfinite(value):
            index["any"].append(value)
            if kind:
                index.setdefault(kind, []).append(value)
                if kind == "seconds":
                    index.setdefault("hours", []).append(value / 3600.0)

    def walk(value: Any, kind: str | None) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            add(kind, float(value))
        elif isinstance(value, str):
            for m in NUMBER.finditer(value):
                unit = UNITS.get((m.group(2) or "").lower())
                add(unit or kind, float(m.group(1)))
                if m.group(0) != m.group(1):  # a range "0.05 to 201.06 h": both ends carry the unit
                    for other in re.findall(r"\d+(?:\.\d+)?", m.group(0))[1:]:
                        add(unit or kind, float(other))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, _kind_of_key(str(k)) or ("seconds" if str(k).endswith("_s") and str(k) != "velocity_rms_mm_s" else kind))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, kind)

    walk(findings, None)
    return index


def matches(value: float, decimals: int, known: list[float]) -> bool:
    tolerance = 0.5 * 10.0 ** (-decimals) + 1e-9
    return any(abs(value - v) <= tolerance for v in known)


def vocabulary(findings: dict[str, Any]) -> set[str]:
    """Every word stem the findings use (descriptions, notes, actions, zone meanings, texts, keys' words) and the neutral words."""
    words = set(NEUTRAL)
    for text in _strings(findings) + [str(k) for k in _keys(findings)]:
        for w in WORD.findall(text.replace("_", " ")):
            words |= word_stems(w)
    return words


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in [k, *_keys(v)]]
    return [k for item in value for k in _keys(item)] if isinstance(value, (list, tuple)) else []


@dataclass
class Context:
    """What the findings say, in the terms a sentence is checked against."""

    classifier_fault: str | None
    classifier_location: str | None
    evidence_fault: str | None
    evidence_location: str | None
    line_of: dict[str, str]
    line_hz: dict[str, list[float]]
    line_ratio: dict[str, float]  # each checked line's first-harmonic peak-to-floor ratio, by its name ("2xBSF")
    line_score: dict[str, float]  # each checked line's harmonic score (evidence.lines.*.score), by fault type
    top_score: str | None  # the fault type with the highest harmonic score of those the verdict compares (the cage's left aside)
    unchecked: set[str]
    confusable: set[str]
    agree: bool | None
    basis: str
    unknown: bool
    zone: str
    urgency: str
    actions: list[str]
    numbers: dict[str, list[float]]
    words: set[str]


def location_of(words: str | None) -> str | None:
    if not words:
        return None
    words = words.lower().replace("-", " ")
    return next((loc for loc, names in LOCATION_WORDS.items() if any(n.replace("-", " ") in words for n in names)), None)


def context(findings: dict[str, Any]) -> Context:
    findings = {k: v for k, v in findings.items() if k != "text"}  # a stored report's own text is no finding
    d = findings.get("diagnosis") or {}
    e = findings["evidence"]
    channel = str(e.get("channel") or "").upper()
    evidence_location = {"DE": "drive end", "FE": "fan end"}.get(channel) or location_of(e.get("bearing"))
    line_of, line_hz, line_ratio, line_score = {}, {}, {}, {}
    for fault, line in e["lines"].items():
        line_of[fault] = line["line"].split("x")[-1]
        if line.get("checked", True) and line.get("score") is not None:
            line_score[fault] = float(line["score"])
        if line.get("checked", True) and line.get("harmonics"):
            line_ratio[line["line"]] = float(line["harmonics"][0]["ratio"])
        line_hz[line["line"].split("x")[-1]] = [line["expected_hz"]] + [v for h in line.get("harmonics", []) for v in (h["expected_hz"], h["found_hz"])]
    for name, hz in (e.get("characteristic_hz") or {}).items():
        if isinstance(hz, (int, float)):
            line_hz.setdefault(name.split("x")[-1], []).append(float(hz))
    rec = findings["recommendation"]
    return Context(classifier_fault=d.get("fault_type"), classifier_location=d.get("location"),
                   evidence_fault=None if e["strongest"] == "none" else e["strongest"], evidence_location=evidence_location,
                   line_of=line_of, line_hz=line_hz, line_ratio=line_ratio, line_score=line_score,
                   top_score=next(iter(verdict_scores(e)), (None,))[0],
                   unchecked={line["line"].split("x")[-1] for line in e["lines"].values() if not line.get("checked", True)},
                   confusable=set(e.get("confusable_with") or ()),
                   agree=findings["agreement"].get("agree"), basis=rec["basis"], unknown=bool((findings.get("unknown") or {}).get("unknown")),
                   zone=e["iso_zone"], urgency=rec["urgency"], actions=list(rec["actions"]), numbers=value_index(findings),
                   words=vocabulary(findings))
