"""Sentence templates filled from the findings (issue 31), the choices of the constrained writer: for each part of a
report (verdict, open-set check, other evidence, vibration zone, remaining life and alarm, action) a few phrasings of the
same facts; the language model only picks the phrasing it finds most fluent (report/writer.py, ``mode="choose"``), so
every sentence it can write states a finding. The verdict puts the stronger of classifier and evidence first
(report/ranking.py)."""

from __future__ import annotations

from typing import Any

from syndiag.report.findings import FAULT_WORDS


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _line(e: dict[str, Any], fault: str) -> tuple[str, float, float] | None:
    """Name, frequency and peak-to-floor ratio of a fault's first line where it was checked and found."""
    line = e["lines"].get(fault) or {}
    if not line.get("checked", True) or not line.get("harmonics"):
        return None
    return line["line"], float(line["expected_hz"]), float(line["harmonics"][0]["ratio"])


def verdict(findings: dict[str, Any]) -> list[str]:
    """Phrasings of what the classifier and the envelope spectrum say (empty: only the template's facts fit)."""
    d, e = findings.get("diagnosis"), findings["evidence"]
    shown = e["strongest"] if e["strongest"] != "none" and not str(e.get("strongest_basis", "")).startswith("impulsive") else None
    if e["strongest"] != "none" and shown is None:
        return []
    found = _line(e, shown) if shown else None
    if shown and found is None:
        return []
    if d is None or d.get("fault_type") is None:
        if not shown:
            return []
        name, hz, ratio = found
        g = FAULT_WORDS[shown]
        return [f"The envelope spectrum shows {_a(g)} fault: its {name} line at {hz:.1f} Hz stands {ratio:.1f} times above the floor.",
                f"{_cap(g)} fault: the envelope spectrum's {name} line at {hz:.1f} Hz stands {ratio:.1f} times above the floor."]
    said, p = d["fault_type"], float(d["probability"])
    at = f" at the {d['location']}" if d.get("location") else ""
    model = "normal operation" if said == "normal" else f"{FAULT_WORDS[said]}{at}"
    if said == "normal" and not shown:
        return [f"The classifier finds normal operation (probability {p:.2f}), and no bearing defect line stands out of the envelope spectrum.",
                f"Normal operation: the classifier gives it probability {p:.2f}, and no bearing defect line stands out of the envelope spectrum."]
    if said != "normal" and shown == said:
        name, hz, ratio = found
        f = FAULT_WORDS[said]
        return [f"{_cap(f)} fault{at} (probability {p:.2f}), confirmed by the {name} line at {hz:.1f} Hz in the envelope spectrum, "
                f"{ratio:.1f} times the floor.",
                f"The classifier finds {_a(f)} fault{at} (probability {p:.2f}), and the envelope spectrum shows its {name} line at {hz:.1f} Hz, "
                f"{ratio:.1f} times the floor.",
                f"The classifier and the envelope spectrum agree on {_a(f)} fault{at}: probability {p:.2f}, and the {name} line at {hz:.1f} Hz "
                f"stands {ratio:.1f} times above the floor."]
    if not shown:
        if said not in e["lines"] or e["lines"][said].get("checked", True) is False:
            return []
        name = e["lines"][said]["line"]
        return [f"The classifier says {model} (probability {p:.2f}), but no characteristic line stands out of the envelope spectrum "
                f"(no peak at {name}).",
                f"The model's verdict is {model} (probability {p:.2f}); the envelope spectrum shows no {name} line standing out."]
    name, hz, ratio = found
    g = FAULT_WORDS[shown]
    physics = (f"The envelope spectrum shows {_a(g)} fault: its {name} line at {hz:.1f} Hz stands {ratio:.1f} times above the floor, "
               f"while the classifier says {model} (probability {p:.2f}).")
    classifier = (f"The classifier says {model} (probability {p:.2f}), but the envelope spectrum's strongest evidence is {name} ({g}) "
                  f"at {hz:.1f} Hz, {ratio:.1f} times the floor.")
    leading = (findings.get("ranking") or {}).get("leading")
    return [physics] if leading == "envelope spectrum" else [classifier]


def resolution_caveat(e: dict[str, Any]) -> str | None:
    """The caveat of a verdict whose line the resolution cannot tell from another fault type's (evidence.confusable_with),
    one sentence; None where there is no such fault type. The template states it too (report/writer.py)."""
    twins = [f for f in e.get("confusable_with") or () if f in e["lines"]]
    if not twins or e["strongest"] == "none":
        return None
    names = ", ".join(e["lines"][f]["line"] for f in twins)
    return (f"The {e['lines'][e['strongest']]['line']} line lies within three resolution steps of {names}: this {e['resolution_hz']:.2g} Hz "
            f"resolution cannot tell {FAULT_WORDS[e['strongest']]} from {', '.join(FAULT_WORDS[f] for f in twins)}; record longer for a finer resolution.")


def confusable(findings: dict[str, Any]) -> list[str]:
    """The resolution caveat (:func:`resolution_caveat`) as the one phrasing of its part of the report, or no part."""
    caveat = resolution_caveat(findings["evidence"])
    return [caveat] if caveat else []


def open_set(findings: dict[str, Any]) -> list[str]:
    u = findings.get("unknown")
    if u is None:
        return []
    if u.get("unknown"):
        return [f"Open-set check: fault type unknown, unlike every trained fault class (score {u['score']:.2f} above threshold {u['threshold']:.2f}).",
                f"The open-set check finds the recording unlike every trained fault class (score {u['score']:.2f} above threshold "
                f"{u['threshold']:.2f}): the fault type is unknown."]
    return [f"Open-set check: within the trained classes (score {u['score']:.2f}, threshold {u['threshold']:.2f}).",
            f"The open-set check finds the recording within the trained classes (score {u['score']:.2f}, threshold {u['threshold']:.2f})."]


def zone(findings: dict[str, Any]) -> list[str]:
    e = findings["evidence"]
    v, z, meaning = float(e["velocity_rms_mm_s"]), e["iso_zone"], e["iso_zone_meaning"]
    return [f"Vibration: {v:.2f} mm/s RMS, ISO zone {z} ({meaning}).",
            f"The vibration is {v:.2f} mm/s RMS, in ISO zone {z} ({meaning}).",
            f"At {v:.2f} mm/s RMS the vibration is in ISO zone {z} ({meaning})."]


def action(findings: dict[str, Any]) -> list[str]:
    rec = findings["recommendation"]
    first, urgency = rec["actions"][0], rec["urgency"]
    bracketed = [] if first.endswith(")") else [f"{_cap(first)} (urgency: {urgency})."]  # never two brackets in a row
    return [f"Urgency: {urgency}; action: {first}.", *bracketed, f"Recommended action ({urgency} urgency): {first}."]


def slots(findings: dict[str, Any], fact_lines: list[str]) -> list[list[str]]:
    """The report's parts in order, each a list of phrasings of the same facts; a part with no phrasing of its own keeps
    the template's sentence for it (``fact_lines``, report/writer.py :func:`facts`)."""
    as_sentence = [_cap(line) + "." for line in fact_lines]
    prefixes = {"classifier:": verdict, "open-set check:": open_set, "vibration:": zone, "urgency:": action}
    parts, done = [], set()
    phrased = {name: make(findings) for name, make in prefixes.items()}
    covered_by_verdict = ("envelope spectrum:", "disagreement:") if phrased["classifier:"] else ()
    caveat = confusable(findings)
    if phrased["classifier:"]:
        parts.append(phrased["classifier:"])
        done.add("classifier:")
        if caveat:
            parts.append(caveat)
    for line, sentence in zip(fact_lines, as_sentence, strict=True):
        key = next((k for k in prefixes if line.startswith(k)), None)
        if (key is not None and key in done) or (sentence in caveat and caveat in parts):  # the caveat follows the verdict once
            continue
        if line.startswith(covered_by_verdict) and "could not be checked" not in line:
            continue
        if key is not None and phrased[key]:
            parts.append(phrased[key])
            done.add(key)
        else:
            parts.append([sentence])
    return parts
