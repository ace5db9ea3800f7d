"""Claims about the harmonic scores that decide the envelope evidence's verdict (issue 31): the page shows each fault
type's score (``evidence.lines.*.score``, the mean log2 peak-to-floor ratio over its line's harmonics), so a sentence
may cite one. A number cited beside a fault type or line ("ball 1.535", "BPFI's harmonic score 1.485", "1.535 (ball)")
must be that fault type's score, a score cited with no fault type beside it must be a score of one the sentence names,
and "the highest harmonic score" must be said of the fault type that has it among those the verdict compares. A fault
type cited with its own score is a finding (its score), not a claim that it is the fault. Used by report/claims.py and
report/grounding.py."""

from __future__ import annotations

import re
from typing import Any

from syndiag.report.claim_context import NUMBER, Context, clause_span, matches
from syndiag.report.findings import FAULT_WORDS

NAMES = re.compile(r"\b(inner[- ]race|outer[- ]race|ball|cage|(?:\dx)*(?:BPFI|BPFO|BSF|FTF))\b", re.IGNORECASE)
NAME_THEN_NUMBER = re.compile(r"(?:'s)?(?:\s*[:=,(]|\s+(?:line|lines|has|have|had|a|an|the|its|with|harmonic|combined|score|scores|of|"
                              r"is|was)\b)*\s*(?<![\w.])(\d+(?:\.\d+)?)", re.IGNORECASE)
"""Matched right after a fault type's or line's name: the number cited as its score ("ball's harmonic score 1.535")."""
NUMBER_THEN_NAME = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:\(\s*|(?:for|of)\s+(?:the\s+)?)$", re.IGNORECASE)
"""Searched in the text right before a name: the number cited as its score ("1.535 (ball)", "1.535 for ball")."""
HIGHEST_SCORE = re.compile(r"\b(?:highest|largest|top|best|greatest|strongest)\s+(?:(?:harmonic|combined|line|evidence)\s+)?scores?\b",
                           re.IGNORECASE)
SCORE = re.compile(r"\bscores?\b", re.IGNORECASE)
OPEN_SET = re.compile(r"\bopen[- ]set\b|\bthreshold\b|\btrained class", re.IGNORECASE)
"""A sentence about the open-set check, whose score is no line's."""


def about_scores(sentence: str) -> bool:
    """Whether ``sentence`` speaks of the lines' harmonic scores (a score, and not the open-set check's)."""
    return bool(SCORE.search(sentence)) and not OPEN_SET.search(sentence)


def _fault(name: str, ctx: Context) -> str | None:
    """The fault type of a name: its words ("inner race"), or its line's ("2xBSF", "BPFI")."""
    key = name.lower().replace("-", "_").replace(" ", "_")
    if key in FAULT_WORDS:
        return key
    stem = name.upper().split("X")[-1]
    return next((fault for fault, line in ctx.line_of.items() if line == stem), None)


def _unitless(sentence: str, start: int) -> bool:
    number = NUMBER.match(sentence, start)
    return number is not None and not number.group(2)


def cited(sentence: str, ctx: Context) -> list[tuple[str, str, int, int]]:
    """Each fault type named right beside a number without a unit in a sentence about harmonic scores: (fault type, the
    number as written, where the name starts, where the number starts)."""
    if not about_scores(sentence):
        return []
    found = []
    for name in NAMES.finditer(sentence):
        fault = _fault(name.group(1), ctx)
        after = NAME_THEN_NUMBER.match(sentence, name.end())
        before = NUMBER_THEN_NAME.search(sentence[: name.start()])
        number = after if after and _unitless(sentence, after.start(1)) else before if before and _unitless(sentence, before.start(1)) else None
        if fault is not None and number is not None:
            found.append((fault, number.group(1), name.start(), number.start(1)))
    return found


def _score_of(fault: str, raw: str, ctx: Context) -> bool:
    own = ctx.line_score.get(fault)
    return own is not None and matches(float(raw), len(raw.split(".")[1]) if "." in raw else 0, [own])


def true_citations(sentence: str, ctx: Context) -> set[int]:
    """Where a fault type's or line's name starts that the sentence cites with its own harmonic score (a finding)."""
    return {at for fault, raw, at, _ in cited(sentence, ctx) if _score_of(fault, raw, ctx)}


def _nearest(sentence: str, position: int, ctx: Context) -> str | None:
    """The fault type named nearest before ``position`` in its clause, else first after it there; else the same in the
    whole sentence."""
    named = [(m.start(), fault) for m in NAMES.finditer(sentence) if (fault := _fault(m.group(1), ctx))]
    for lo, hi in (clause_span(sentence, position), (0, len(sentence))):
        before = [fault for at, fault in named if lo <= at < position]
        after = [fault for at, fault in named if position < at < hi]
        if before or after:
            return before[-1] if before else after[0]
    return None


def score_claims(sentence: str, ctx: Context, check: Any) -> set[int]:
    """Check the sentence's score claims into ``check`` (its ``anchors`` and ``false``): each number cited as a fault
    type's score, and "the highest harmonic score". Returns where the numbers it judged start (the number check leaves
    them)."""
    if not about_scores(sentence):
        return set()
    judged = set()
    for fault, raw, _, at in cited(sentence, ctx):
        judged.add(at)
        if _score_of(fault, raw, ctx):
            check.anchors.append(f"{FAULT_WORDS[fault]}: harmonic score {raw}")
            continue
        other = next((f for f in ctx.line_score if _score_of(f, raw, ctx)), None)
        own = ctx.line_score.get(fault)
        check.false.append(f"harmonic score {raw} said of {FAULT_WORDS[fault]}: " + (f"it is {FAULT_WORDS[other]}'s; " if other else "")
                           + (f"{FAULT_WORDS[fault]}'s is {own:g}" if own is not None else f"{FAULT_WORDS[fault]}'s line has no score"))
    for claim in HIGHEST_SCORE.finditer(sentence):
        fault = _nearest(sentence, claim.start(), ctx)
        if fault is not None and fault == ctx.top_score:
            check.anchors.append(f"{FAULT_WORDS[fault]}: the highest harmonic score ({ctx.line_score[fault]:g})")
        elif fault is not None:
            top = f"{FAULT_WORDS[ctx.top_score]}'s, {ctx.line_score[ctx.top_score]:g}" if ctx.top_score else "none's (no line was scored)"
            check.false.append(f"says {FAULT_WORDS[fault]} has the highest harmonic score; the highest is {top}")
    return judged


def unattributed_score(sentence: str, start: int, raw: str, ctx: Context, check: Any) -> bool:
    """A number right after "score" with no fault type beside it, in a sentence about harmonic scores: it must be the
    score of a fault type the sentence names. False (not judged here) where the sentence names none."""
    named = {fault for m in NAMES.finditer(sentence) if (fault := _fault(m.group(1), ctx))}
    if not about_scores(sentence) or not named:
        return False
    owner = next((f for f in named if _score_of(f, raw, ctx)), None)
    if owner is not None:
        check.anchors.append(f"{FAULT_WORDS[owner]}: harmonic score {raw}")
    else:
        check.false.append(f"harmonic score {raw} is the score of no fault type the sentence names "
                           f"({', '.join(FAULT_WORDS[f] for f in sorted(named))})")
    return True
