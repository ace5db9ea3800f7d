"""Claim-level grounding of a report's text (issue 31): each sentence is parsed into claims (numbers with their units,
fault types, locations, characteristic lines, harmonic scores (report/score_claims.py), the ISO zone, urgency,
confirmation, actions) and each claim is looked up in the findings. A claim the findings contradict is *false* (the text is rejected); a sentence that no finding supports
(no claim anchored in a finding, or words the findings never use: "a new seal failure", "a flaw in the design") is
*unsupported* (removed). Stating the classifier's fault as fact needs the evidence to show it (or an attribution to the
model, or a hedge): "Inner race fault at the fan end" is false where the envelope spectrum found nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from syndiag.report.claim_context import CLAUSE, FUNCTION, NUMBER, UNITS, WORD, Context, clause_span, context, location_of, matches, word_stems
from syndiag.report.findings import FAULT_WORDS
from syndiag.report.score_claims import SCORE, score_claims, true_citations, unattributed_score

STANDARD = re.compile(r"\bISO\s+\d+(?:-\d+)?(?::\d{4})?", re.IGNORECASE)
FAULT = re.compile(r"\b(inner[- ]race|outer[- ]race|ball|cage)\b", re.IGNORECASE)
LOCATION = re.compile(r"\b(drive[- ]end|motor[- ]end|fan[- ]end)\b", re.IGNORECASE)
LINE = re.compile(r"\b(?:\dx)?(BPFI|BPFO|BSF|FTF)\b")
STRONGEST_LINE = re.compile(r"\b(?:strongest|largest|highest|tallest|biggest|dominant)\s+(?:single\s+)?(?:(?:envelope|characteristic|"
                            r"spectral|defect)\s+)?(?:line|peak)s?\b", re.IGNORECASE)
"""A claim about the single line with the largest peak-to-floor ratio (not the verdict: that is the strongest *evidence*,
the fault type whose harmonics together stand out most)."""
ZONE = re.compile(r"\bzone\s+([A-Za-z])\b", re.IGNORECASE)
NORMAL = re.compile(r"\b(normal operation|normal condition|healthy|no (?:bearing )?(?:fault|defect)s?)\b", re.IGNORECASE)
UNKNOWN = re.compile(r"\bunknown\b", re.IGNORECASE)
URGENCY = {"immediate": "immediate", "immediately": "immediate", "urgent": "immediate", "urgently": "immediate", "at once": "immediate",
           "right away": "immediate", "soon": "soon", "planned": "planned"}
URGENCY_WORDS = re.compile(r"\b(" + "|".join(URGENCY) + r")\b", re.IGNORECASE)
CONFIRMS = re.compile(r"\b(confirm(?:s|ed)\b|corroborat\w*|backed by|verifie[sd]|proves?\b|proven)", re.IGNORECASE)
ATTRIBUTED = re.compile(r"\b(classifier|model|predict\w*|says|classif\w*|probability|diagnos\w*)\b", re.IGNORECASE)
HEDGED = re.compile(r"\b(possible|possibly|suspected|may|might|likely|could indicate|probable)\b", re.IGNORECASE)
NEGATION = re.compile(r"\b(no|not|without|none|nothing|neither|nor|cannot)\b", re.IGNORECASE)


@dataclass
class SentenceCheck:
    """One sentence: its claims anchored in a finding, the claims the findings contradict, what no finding supports."""

    text: str
    anchors: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return not self.false and not self.unsupported and bool(self.anchors)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (a full stop between digits is a decimal point, not an end)."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(])", text.strip())
    return [p.strip() for p in parts if p.strip() and re.search(r"[A-Za-z0-9]", p)]


def _clause_of(sentence: str, start: int) -> str:
    """The clause (between commas, semicolons, brackets, "but") that holds the character at ``start``."""
    left, right = clause_span(sentence, start)
    return sentence[left:right]


def _negated(sentence: str, match: re.Match) -> bool:
    clause_start = max([m.end() for m in CLAUSE.finditer(sentence) if m.end() <= match.start()] or [0])
    return bool(NEGATION.search(sentence[clause_start:match.start()])) or bool(re.match(r"\s+(?:line\s+|lines\s+)?(?:could|can)?\s*not\b",
                                                                                         sentence[match.end():]))


def _fault_claims(sentence: str, ctx: Context, check: SentenceCheck) -> set[str]:
    """Fault types: as fact only where the evidence shows them; the classifier's where it is named as its verdict or hedged."""
    said = set()
    attributed, hedged = bool(ATTRIBUTED.search(sentence)), bool(HEDGED.search(sentence))
    scored = true_citations(sentence, ctx)
    for m in FAULT.finditer(sentence):
        fault = m.group(1).lower().replace("-", "_").replace(" ", "_")
        word = FAULT_WORDS[fault]
        clause_says_model = bool(re.search(r"\b(classifier|model)\b", _clause_of(sentence, m.start()), re.IGNORECASE))
        if m.start() in scored:
            check.anchors.append(f"{word}: cited with its harmonic score")  # "inner race 1.485": its score, not its fault
        elif (fault in ctx.confusable or fault == ctx.evidence_fault) and ctx.confusable and re.search(r"\bresolution\b", sentence, re.IGNORECASE):
            check.anchors.append(f"{word}: not told apart at this resolution")  # "cannot tell inner race from ball": the evidence says so
        elif _negated(sentence, m):
            if fault == ctx.evidence_fault:
                check.false.append(f"denies the {word} lines the envelope spectrum shows")
            else:
                check.anchors.append(f"no {word} evidence")
        elif clause_says_model and fault != ctx.classifier_fault:
            check.false.append(f"attributes {word} to the classifier, which says {FAULT_WORDS.get(ctx.classifier_fault or '', 'nothing')}")
        elif fault == ctx.evidence_fault:
            check.anchors.append(f"{word} (envelope evidence)")
            said.add("evidence")
        elif fault == ctx.classifier_fault and (attributed or hedged or ctx.agree is True):
            check.anchors.append(f"{word} (classifier)")
            said.add("classifier")
        elif fault == ctx.classifier_fault:
            why = "the open-set verdict is unknown" if ctx.unknown else "the envelope spectrum does not show it"
            check.false.append(f"states the classifier's {word} as fact, but {why}: name it as the model's verdict")
        else:
            check.false.append(f"fault type {word!r} is in no finding")
    return said


def _location_claims(sentence: str, ctx: Context, said: set[str], check: SentenceCheck) -> None:
    attributed, hedged = bool(ATTRIBUTED.search(sentence)), bool(HEDGED.search(sentence))
    for m in LOCATION.finditer(sentence):
        where = location_of(m.group(1))
        if _negated(sentence, m):
            continue
        by_classifier = where == ctx.classifier_location and ("classifier" in said or attributed or hedged or ctx.agree is True)
        by_evidence = where == ctx.evidence_location and "classifier" not in said
        if by_classifier or by_evidence:
            check.anchors.append(f"location {where}")
        elif where == ctx.classifier_location:
            check.false.append(f"states the {where} as the fault's location, which only the classifier says: name it as the model's verdict")
        else:
            check.false.append(f"location {m.group(1)!r} is in no finding (classifier: {ctx.classifier_location}, evidence: {ctx.evidence_location})")


def _claimed_strongest(sentence: str) -> set[int]:
    """Where ``sentence`` names a line as the strongest ("the strongest line is BPFI", "BPFI, the largest peak"): the start
    of each such line's name, the nearest within 40 characters of the claim (one after it preferred)."""
    starts = set()
    lines = list(LINE.finditer(sentence))
    for claim in STRONGEST_LINE.finditer(sentence):
        after = [m for m in lines if 0 <= m.start() - claim.end() <= 40]
        before = [m for m in lines if 0 <= claim.start() - m.end() <= 40]
        if after or before:
            starts.add(after[0].start() if after else before[-1].start())
    return starts


def _strongest_line_claim(line: str, ctx: Context, check: SentenceCheck) -> bool:
    """A line (``line``: "BSF" of "2xBSF") named as the strongest: true where its first harmonic's peak-to-floor ratio is
    the largest (to the tenth a text shows), else false. Returns whether it stands as named (its numbers are its own)."""
    if not ctx.line_ratio:
        check.false.append(f"says {line} is the strongest line; the envelope spectrum could check no line")
        return False
    top = max(ctx.line_ratio, key=ctx.line_ratio.__getitem__)
    name, ratio = next(((n, r) for n, r in ctx.line_ratio.items() if n.split("x")[-1] == line), (line, None))
    if ratio is not None and round(ratio, 1) >= round(ctx.line_ratio[top], 1):
        check.anchors.append(f"{name}: the strongest line ({ratio:.1f} times its floor)")
        return True
    own = f" ({name}'s: {ratio:.1f})" if ratio is not None else f" ({name} was not checked)"
    check.false.append(f"says the strongest line is {name}; the largest first-harmonic peak-to-floor ratio is {top}'s, "
                       f"{ctx.line_ratio[top]:.1f}{own}: the verdict is the strongest evidence, not the strongest line")
    return False


def _line_claims(sentence: str, ctx: Context, check: SentenceCheck) -> set[str]:
    named = set()
    strongest, scored = _claimed_strongest(sentence), true_citations(sentence, ctx)
    for m in LINE.finditer(sentence):
        line = m.group(1)
        shown = ctx.evidence_fault is not None and (ctx.line_of.get(ctx.evidence_fault) == line or (line == "FTF" and ctx.evidence_fault == "ball"))
        if m.start() in scored:
            check.anchors.append(f"{line}: cited with its harmonic score")
        elif m.start() in strongest and not _negated(sentence, m):
            if _strongest_line_claim(line, ctx, check):
                named.add(line)
        elif line in ctx.unchecked and re.search(r"\bcheck", sentence, re.IGNORECASE):
            check.anchors.append(f"{line} not checkable")
        elif ctx.confusable and line in {ctx.line_of.get(f) for f in {*ctx.confusable, ctx.evidence_fault}} and \
                re.search(r"\bresolution\b", sentence, re.IGNORECASE):
            check.anchors.append(f"{line} not told apart at this resolution")
        elif _negated(sentence, m):
            if shown:
                check.false.append(f"denies the {line} line the envelope spectrum shows")
            else:
                check.anchors.append(f"no {line} line")
        elif shown:
            check.anchors.append(f"{line} line")
            named.add(line)
        elif re.search(r"\bpredict|\bexpect|\bwould", sentence, re.IGNORECASE):
            check.anchors.append(f"{line} expected")
        else:
            check.false.append(f"says the {line} line stands out; the envelope spectrum's strongest is "
                               f"{ctx.line_of.get(ctx.evidence_fault or '', 'none')}")
    return named


def _number_claims(sentence: str, ctx: Context, lines: set[str], check: SentenceCheck, judged: set[int]) -> None:
    """Each number by its unit (or the word before it) against the findings' numbers of that kind; ``judged``: where the
    numbers already judged as harmonic scores start."""
    masked = STANDARD.sub(lambda s: " " * len(s.group(0)), sentence)
    for standard in STANDARD.finditer(sentence):  # a standard the findings cite is no claim; another one is no finding's
        if not matches(float(re.findall(r"\d+", standard.group(0))[0]), 0, ctx.numbers["any"]):
            check.unsupported.append(f"{standard.group(0)} is cited by no finding")
    for m in NUMBER.finditer(masked):
        raw, unit = m.group(1), (m.group(2) or "").lower()
        value, decimals = float(raw), len(raw.split(".")[1]) if "." in raw else 0
        kind = UNITS.get(unit)
        before = masked[max(0, m.start() - 24):m.start()].lower()
        if m.start() in judged or (kind is None and SCORE.search(before) and unattributed_score(sentence, m.start(), raw, ctx, check)):
            continue  # a line's harmonic score (report/score_claims.py)
        if kind is None and re.search(r"probability|score|threshold|p\s*=", before):
            kind = "probability"
        if kind == "percent":
            ok = matches(value / 100.0, decimals + 2, ctx.numbers.get("probability", []) + ctx.numbers["any"]) or matches(value, decimals, ctx.numbers["any"])
        elif kind == "hz" and lines:
            own = [hz for line in lines for hz in ctx.line_hz.get(line, [])]
            others = [hz for hz in ctx.numbers.get("hz", []) if all(abs(hz - v) > 1e-9 for hs in ctx.line_hz.values() for v in hs)]
            ok = matches(value, decimals, own + others)
        elif kind is not None:
            ok = matches(value, decimals, ctx.numbers.get(kind, []))
        else:
            ok = matches(value, decimals, ctx.numbers["any"])
        shown = m.group(0).strip()
        if ok:
            check.anchors.append(f"number {shown}")
        elif kind is not None and matches(value, decimals, ctx.numbers["any"]):
            check.false.append(f"number {shown!r}: the findings hold {raw} but not as {kind.replace('_', '/')}" +
                               (f" of {', '.join(sorted(lines))}" if kind == "hz" and lines else ""))
        else:
            check.false.append(f"number {shown!r} is in no finding")


def _other_claims(sentence: str, ctx: Context, check: SentenceCheck) -> None:
    for m in ZONE.finditer(sentence):
        if m.group(1).upper() == ctx.zone:
            check.anchors.append(f"zone {ctx.zone}")
        else:
            check.false.append(f"ISO zone {m.group(1).upper()!r} is not the findings' zone {ctx.zone}")
    if NORMAL.search(sentence):
        name = NORMAL.search(sentence).group(1)
        if ctx.basis == "normal" or (ctx.classifier_fault == "normal" and ATTRIBUTED.search(sentence)) or (
                name.lower().startswith("no ") and ctx.evidence_fault is None):
            check.anchors.append("normal")
        else:
            check.false.append(f"says {name!r}; the report's basis is {ctx.basis}")
    if UNKNOWN.search(sentence):
        if ctx.basis == "unknown" or ctx.unknown:
            check.anchors.append("unknown fault")
        else:
            check.false.append("says the fault is unknown; no finding does")
    for m in URGENCY_WORDS.finditer(sentence):
        level = URGENCY[m.group(1).lower()]
        if level == ctx.urgency or any(m.group(1).lower() in a.lower() for a in ctx.actions):
            check.anchors.append(f"urgency {level}")
        else:
            check.false.append(f"urgency {m.group(1)!r}; the findings' urgency is {ctx.urgency}")
    confirms = CONFIRMS.search(sentence)
    if confirms and ctx.agree is not True:
        check.false.append(f"{confirms.group(1)!r}: the findings do not have the evidence confirm the diagnosis")
    content = {s for w in WORD.findall(sentence) if w.lower() not in FUNCTION for s in word_stems(w)}
    for action in ctx.actions:
        stems = [word_stems(w) for w in WORD.findall(action) if w.lower() not in FUNCTION and len(w) > 2]
        shared = sum(1 for s in stems if s & content)
        if stems and shared >= min(2, len(stems)):
            check.anchors.append(f"action: {action}")
            break
    foreign = [w for w in WORD.findall(sentence) if len(w) > 2 and not (word_stems(w) & ctx.words)]
    if foreign:
        check.unsupported.append(f"words no finding uses: {', '.join(dict.fromkeys(foreign))}")


def check_sentence(sentence: str, ctx: Context) -> SentenceCheck:
    check = SentenceCheck(sentence)
    said = _fault_claims(sentence, ctx, check)
    _location_claims(sentence, ctx, said, check)
    lines = _line_claims(sentence, ctx, check)
    _number_claims(sentence, ctx, lines, check, score_claims(sentence, ctx, check))
    _other_claims(sentence, ctx, check)
    if not check.anchors and not check.false:
        check.unsupported.append("states nothing a finding holds (no fault type, location, value, zone or action of the findings)")
    return check


def check_text(text: str, findings: dict[str, Any], vocabulary: str = "") -> list[SentenceCheck]:
    """Every sentence of ``text`` checked against ``findings``; ``vocabulary``: more words known grounded (the template's)."""
    ctx = context(findings)
    ctx.words |= {s for w in WORD.findall(vocabulary) for s in word_stems(w)}
    return [check_sentence(s, ctx) for s in sentences(text)]
