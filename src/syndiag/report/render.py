"""A report as Markdown and as one self-contained HTML file (figures embedded as PNG data), from its findings, text and
figures (issue 20)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from syndiag.physics.evidence import STANDS_OUT
from syndiag.report.findings import FAULT_WORDS, impulsive, verdict_scores


def envelope_figure(spectrum, evidence: dict[str, Any], max_hz: float | None = None) -> bytes:
    """The envelope spectrum with each characteristic frequency and its harmonics marked."""
    checked = [v["expected_hz"] for v in evidence["lines"].values() if v["harmonics"]]
    top = max_hz or (4.5 * max(checked) if checked else spectrum.band[1] - spectrum.band[0])
    keep = spectrum.freqs <= top
    fig, ax = _figure(8, 3.2)
    ax.plot(spectrum.freqs[keep], spectrum.amplitude[keep], color="black", linewidth=0.7)
    for (fault, line), colour in zip(evidence["lines"].items(), ("tab:red", "tab:blue", "tab:green", "tab:purple")):
        for k, peak in enumerate(line["harmonics"]):
            ax.axvline(peak["expected_hz"], color=colour, linestyle="--", linewidth=0.8, label=f"{line['line']} ({FAULT_WORDS[fault]})" if k == 0 else None)
    ax.set(xlabel="frequency (Hz)", ylabel="envelope amplitude", title=f"envelope spectrum, band {evidence['envelope_band_hz'][0]:.0f}-"
           f"{evidence['envelope_band_hz'][1]:.0f} Hz")
    if checked:
        ax.legend(fontsize=7, loc="upper right")
    return _png(fig)


def saliency_figure(image: np.ndarray, saliency: np.ndarray, title: str) -> bytes:
    """The model's input spectrogram with its gradient saliency over time and frequency."""
    fig, axes = _figure(8, 3.4, columns=2)
    axes[0].imshow(image)
    axes[0].set(title="spectrogram (model input)", xlabel="time", ylabel="scale")
    axes[1].imshow(saliency, cmap="magma")
    axes[1].set(title=title, xlabel="time", ylabel="scale")
    return _png(fig)


def trend_figure(times_h: np.ndarray, indicator: np.ndarray, name: str, rul: dict | None, alarm_h: float | None) -> bytes:
    """A unit's health indicator over time, the alarm time and the predicted end of life with its interval."""
    fig, ax = _figure(8, 3.2)
    ax.plot(times_h, indicator, color="black", linewidth=0.8, label=name)
    if alarm_h is not None:
        ax.axvline(alarm_h, color="tab:orange", label="alarm on")
    if rul is not None:
        end = times_h[-1] + rul["predicted_s"] / 3600
        ax.axvline(end, color="tab:red", label="predicted end of life")
        if rul.get("interval_s"):
            low, high = rul["interval_s"]
            ax.axvspan(times_h[-1] + low / 3600, times_h[-1] + high / 3600, color="tab:red", alpha=0.15, label=f"{rul['level']:.0%} interval")
    if rul is not None:  # a wide interval would squash the history: show up to twice the predicted end of life
        ax.set_xlim(0, max(times_h[-1] * 1.5, 2 * (times_h[-1] + rul["predicted_s"] / 3600)))
    ax.set(xlabel="time (h)", ylabel=name)
    ax.legend(fontsize=7)
    return _png(fig)


def _figure(width: float, height: float, columns: int = 1) -> tuple[Any, Any]:
    """A figure and its ``columns`` axes, without pyplot (no global backend, nothing to close)."""
    from matplotlib.figure import Figure  # defers matplotlib: figures are drawn only when a report is made

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots(1, columns)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def score_text(score: float | None) -> str:
    """A harmonic score as the findings hold it (rounded to 3 decimals, no trailing zeros)."""
    return "-" if score is None else f"{round(float(score), 3):g}"


def score_words(evidence: dict[str, Any]) -> str | None:
    """How the verdict was decided, for the page's Envelope evidence line: each compared fault type's harmonic score,
    highest first (the verdict's and the runner-up's), and, where no line stands out, that the highest's first harmonic
    is below :data:`STANDS_OUT`. None where the verdict rests on no score (an impulsive envelope) or nothing was scored."""
    ranked = sorted(verdict_scores(evidence), key=lambda pair: (-pair[1], pair[0] != evidence["strongest"]))  # a tie: the verdict first
    if not ranked or impulsive(evidence):
        return None
    scores = ", ".join(f"{FAULT_WORDS[fault]} {score_text(score)}" for fault, score in ranked)
    how = "harmonic score (mean log2 peak / floor over each line's harmonics)"
    if evidence["strongest"] != "none":
        return f"the verdict has the highest {how}: {scores}"
    top = evidence["lines"][ranked[0][0]]
    below = (f"; the highest's first harmonic ({top['line']}, {top['harmonics'][0]['ratio']:.1f} times its floor) is below the "
             f"{STANDS_OUT:g} a line needs to stand out") if top.get("harmonics") else ""
    return f"{how}, highest first: {scores}{below}"


def _evidence_rows(evidence: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per harmonic of each fault type's line; the fault type's harmonic score (what the verdict compares) on its
    first row, the cage's marked as not compared."""
    rows, compared = [], {fault for fault, _ in verdict_scores(evidence)}
    for fault, line in evidence["lines"].items():
        score = score_text(line.get("score")) + ("" if fault in compared or line.get("score") is None else " (not compared)")
        if not line.get("checked", True):
            rows.append((FAULT_WORDS[fault], line["line"], f"{line['expected_hz']:.1f}", "-", "-", "not checkable", "-"))
        for k, peak in enumerate(line["harmonics"]):
            rows.append((FAULT_WORDS[fault], peak["name"], f"{peak['expected_hz']:.1f}", f"{peak['found_hz']:.1f}", f"{peak['amplitude']:.3g}",
                         f"{peak['ratio']:.1f}", score if k == 0 else ""))
    return rows


EVIDENCE_COLUMNS = ("fault type", "line", "expected Hz", "found Hz", "amplitude", "peak / floor", "harmonic score")


def sections(findings: dict[str, Any], written) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) shared by the Markdown and the HTML."""
    e, rec = findings["evidence"], findings["recommendation"]
    summary = [written.text, f"(text: {written.path}" + (f", from {len(written.attempts)} generation attempt(s)" if written.attempts else "") + ")"]
    found = []
    d = findings.get("diagnosis")
    if d is not None:
        found.append(f"Classifier ({d['model']}): {d['prediction']}, {d['description']}, p = {d['probability']:.3f}; top: "
                     + ", ".join(f"{t['class']} {t['probability']:.3f}" for t in d["top"]))
    for key, label in (("unknown", "Open-set check"), ("severity", "Severity"), ("rul", "Remaining useful life"), ("alarm", "Anomaly alarm")):
        if findings.get(key) is not None:
            found.append(f"{label}: {findings[key].get('text', findings[key])}")
    found.append(f"ISO zone {e['iso_zone']} ({e['iso_zone_meaning']}): {e['velocity_rms_mm_s']:.2f} mm/s RMS, 10-1000 Hz; boundaries "
                 f"{e['iso_boundaries_mm_s']} mm/s for {e['machines']}")
    if e.get("strongest_basis"):  # what the evidence's verdict rests on: its line, or an impulsive envelope (kurtosis)
        decided = score_words(e)  # and the harmonic scores it compared: the verdict need not be the row with the largest ratio
        found.append(f"Envelope evidence ({FAULT_WORDS.get(e['strongest'], 'no fault type')}): {e['strongest_basis']}"
                     + (f"; {decided}" if decided else ""))
    found += [f"Not checkable: {line['not_checkable']}" for line in e["lines"].values() if not line.get("checked", True)]
    found += [f"Warning: {w}" for w in e.get("warnings", [])]
    agree = findings["agreement"]
    if agree.get("note"):
        found.append({True: "Agreement: ", False: "Disagreement: ", None: "Not checked: "}[agree["agree"]] + agree["note"])
    ranked = findings.get("ranking") or {}
    if ranked.get("note"):
        found.append(f"Ranking: {ranked['note']}; the recommendation follows it")
    if findings.get("unknown") is None and ranked.get("open_set"):
        found.append(f"Open-set check: {ranked['open_set']}")
    actions = [f"Urgency: {rec['urgency']}.", *[f"- {a}" for a in rec["actions"]], f"Practice followed: {rec['practice']}."]
    bearing = [f"{e['bearing']} at {e['shaft_hz'] * 60:.0f} rpm: " + ", ".join(f"{k} {v:.1f} Hz" for k, v in e["characteristic_hz"].items()),
               f"Source of the geometry: {e['bearing_source']}"]
    return [("Summary", summary), ("Findings", found), ("Recommendation", actions), ("Bearing", bearing)]


MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})


def md_text(text: str) -> str:
    """Text from outside (a file name, a class name, generated prose) as Markdown that renders as that text: no markup,
    no HTML, no link, no table cell break."""
    text = str(text).replace("\r", " ").replace("\n", " ").translate(MARKDOWN_SPECIAL)
    return "\\" + text if text[:1] in ("#", "+", "=") else text


def _md_paragraph(paragraph: str) -> str:
    return "- " + md_text(paragraph[2:]) if paragraph.startswith("- ") else md_text(paragraph)


def markdown(findings: dict[str, Any], written, figures: dict[str, str]) -> str:
    lines = [f"# Diagnosis report: {md_text(findings['source'])}", ""]
    for title, paragraphs in sections(findings, written):
        lines += [f"## {md_text(title)}", "", *map(_md_paragraph, paragraphs), ""]
    lines += ["## Envelope spectrum evidence", "", "| " + " | ".join(EVIDENCE_COLUMNS) + " |", "|" + "---|" * len(EVIDENCE_COLUMNS)]
    lines += ["| " + " | ".join(map(md_text, row)) + " |" for row in _evidence_rows(findings["evidence"])]
    lines += ["", *[f"![{name}]({file})" for name, file in figures.items()], ""]
    return "\n".join(lines)


def html_page(findings: dict[str, Any], written, figures: dict[str, bytes]) -> str:
    esc = html.escape
    body = [f"<h1>Diagnosis report: {esc(findings['source'])}</h1>"]
    for title, paragraphs in sections(findings, written):
        body.append(f"<h2>{esc(title)}</h2>")
        items = [p for p in paragraphs if p.startswith("- ")]
        body += [f"<p>{esc(p)}</p>" for p in paragraphs if not p.startswith("- ")]
        if items:
            body.append("<ul>" + "".join(f"<li>{esc(p[2:])}</li>" for p in items) + "</ul>")
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in _evidence_rows(findings["evidence"]))
    head = "".join(f"<th>{esc(c)}</th>" for c in EVIDENCE_COLUMNS)
    body.append(f"<h2>Envelope spectrum evidence</h2><table><tr>{head}</tr>{rows}</table>")
    for name, png in figures.items():
        body.append(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"><figcaption>{esc(name)}'
                    "</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:2px 6px;font-size:90%}img{max-width:100%}")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(findings['source'])}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
