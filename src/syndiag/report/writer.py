"""The written part of a report (issue 20): the facts of the findings given to an instruct language model with a
constrained prompt; the text is checked (report/grounding.py), regenerated once with tighter decoding (greedy, shorter,
digits and the fault types and locations the findings do not name banned), and replaced by the template rendering of the
same findings when it fails again. The report records which path produced it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from syndiag.report.findings import FAULT_WORDS, impulsive, unchecked_lines
from syndiag.report.grounding import allowed_terms, judge
from syndiag.report.phrasings import resolution_caveat, slots

SYSTEM = ("You write short maintenance notes about a machine's bearing. Use only the facts given; copy numbers exactly. "
          "Do not add any number, frequency, fault type or location that is not in the facts.")
EXAMPLE_FACTS = ["classifier: outer race fault at fan end with diameter 0.021 inches (probability 0.88)",
                 "envelope spectrum: outer race lines at BPFO 91.5 Hz, 12.0 times the floor",
                 "vibration: 1.10 mm/s RMS, ISO zone A (newly commissioned condition)",
                 "urgency: planned; action: plan a bearing replacement at the next scheduled stop"]
EXAMPLE_TEXT = ("Outer race fault at the fan end (probability 0.88), confirmed by BPFO lines at 91.5 Hz in the envelope spectrum; "
                "vibration is in ISO zone A. Plan a bearing replacement at the next scheduled stop.")
"""One worked example (facts -> note) shown before the real facts: a small model follows a pattern far better than an
instruction. Its numbers are in no real findings, so a copied one is caught by the grounding check."""


def prompt(lines: list[str]) -> str:
    return "Facts:\n- " + "\n- ".join(lines) + "\n\nWrite two sentences: the fault with its ISO zone, then the action."


def facts(findings: dict[str, Any]) -> list[str]:
    """The findings as short lines of words and numbers (what the model may say)."""
    lines = []
    d = findings.get("diagnosis")
    if d is not None:
        lines.append(f"classifier: {d['description']} (probability {d['probability']:.2f})")
    u = findings.get("unknown")
    if u is not None and u.get("unknown"):
        lines.append(f"open-set check: fault type unknown, unlike every trained fault class (score {u['score']:.2f} above threshold "
                     f"{u['threshold']:.2f})")
    elif u is not None:
        lines.append(f"open-set check: within the trained classes (score {u['score']:.2f}, threshold {u['threshold']:.2f})")
    elif findings["recommendation"]["basis"] == "unknown":
        lines.append("fault type: unknown (the anomaly alarm is on, but no bearing defect line explains it)")
    s = findings.get("severity")
    if s is not None:
        lines.append(f"severity: {s['text']}")
    e = findings["evidence"]
    lines += evidence_facts(e)
    lines.append(f"vibration: {e['velocity_rms_mm_s']:.2f} mm/s RMS, ISO zone {e['iso_zone']} ({e['iso_zone_meaning']})")
    r = findings.get("rul")
    if r is not None:
        lines.append(f"remaining useful life: {r['text']}")
    a = findings.get("alarm")
    if a is not None:
        lines.append(f"alarm: {a['text']}")
    agree = findings["agreement"]
    if agree.get("agree") is False:
        lines.append(f"disagreement: {agree['note']}")
    rec = findings["recommendation"]
    lines.append(f"urgency: {rec['urgency']}; action: {rec['actions'][0]}")
    return lines


def evidence_facts(e: dict[str, Any]) -> list[str]:
    """What the envelope spectrum shows: the line standing out, or that none of those it could check does; the resolution
    caveat where the verdict's line cannot be told from another fault type's (evidence.confusable_with); the lines it
    could not check and why (never "no line stands out" about a line it could not see); warnings on the speed."""
    unchecked = unchecked_lines(e)
    lines = []
    if impulsive(e):
        lines.append(f"envelope spectrum: impulsive (kurtosis {e['envelope_kurtosis']:.1f}) with no race line standing out, "
                     "as a ball defect's irregular impacts are (tentative)")
    elif e["strongest"] != "none":
        line = e["lines"][e["strongest"]]
        lines.append(f"envelope spectrum: {FAULT_WORDS[e['strongest']]} lines at {line['line']} {line['expected_hz']:.1f} Hz, "
                     f"{line['harmonics'][0]['ratio']:.1f} times the floor")
    elif not unchecked:
        lines.append("envelope spectrum: no bearing defect line stands out")
    elif len(unchecked) < len([f for f in e["lines"] if f != "cage"]):
        lines.append("envelope spectrum: no bearing defect line stands out among those it could check")
    caveat = resolution_caveat(e)  # the resolution cannot tell the verdict's line from another fault type's: the template says so too
    if caveat:
        lines.append(caveat[0].lower() + caveat[1:].rstrip("."))
    if unchecked:
        lines.append(f"envelope spectrum: {', '.join(line['line'] for line in unchecked)} could not be checked: "
                     + "; ".join(line["not_checkable"] for line in unchecked))
    return lines + [f"warning: {w}" for w in e.get("warnings", [])]


def template_text(findings: dict[str, Any]) -> str:
    """The same findings in fixed sentences: grounded by construction."""
    return " ".join(line[0].upper() + line[1:] + "." for line in facts(findings))


@dataclass
class Written:
    text: str
    path: str  # "generated", "regenerated" or "template"
    attempts: list[dict] = field(default_factory=list)
    seconds: float = 0.0


MODES = ("choose", "free")
"""How the model writes: ``choose`` picks, for each part of the report, the phrasing of the findings it finds most fluent
(report/phrasings.py: every sentence it can write states a finding); ``free`` generates the text from the facts."""
PREFIX = "Maintenance note on a machine's rolling bearing, written by a vibration analyst:\n"


class Generator:
    """An instruct model by id or path (default: the packaged SmolLM2-135M-Instruct), loaded once; ``mode`` (:data:`MODES`):
    choose among phrasings of the findings by the model's likelihood, or generate freely (greedy decoding)."""

    def __init__(self, model: str = "smollm2-135m", max_new_tokens: int = 64, mode: str = "choose") -> None:
        if mode not in MODES:
            raise ValueError(f"writer mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        # defers torch and transformers: the template path and the live service's reports never load a language model
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from syndiag.models.backbones import resolve_backbone  # defers torch, as above

        path = resolve_backbone(model)
        self.name = model
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.max_new_tokens = max_new_tokens

    def banned(self, findings: dict[str, Any]) -> list[list[int]]:
        """Token ids of digits and of the fault types and locations the findings do not name (the tighter decoding)."""
        terms = allowed_terms(findings)
        words = [w for w in ("inner", "outer", "ball", "cage") if not any(w in t for t in terms["faults"])]
        words += [w for w in ("fan", "drive", "motor") if not any(w in t for t in terms["locations"])]
        vocab = self.tokenizer.get_vocab()
        ids = [[i] for token, i in vocab.items() if any(ch.isdigit() for ch in token)]
        for word in words:
            for variant in (word, " " + word, word.capitalize(), " " + word.capitalize()):
                encoded = self.tokenizer(variant, add_special_tokens=False)["input_ids"]
                if encoded:
                    ids.append(encoded)
        return ids

    def fluency(self, texts: list[str]) -> list[float]:
        """Mean log-probability per token of each text after :data:`PREFIX` (one batch)."""
        import torch  # defers torch, as in __init__

        prefix = self.tokenizer(PREFIX, add_special_tokens=False)["input_ids"]
        rows = [prefix + self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.eos_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
        with torch.inference_mode():
            logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
        token = logp.gather(-1, ids[:, 1:, None])[..., 0]
        return [float(token[i, len(prefix) - 1 : len(row) - 1].mean()) for i, row in enumerate(rows)]

    def choose(self, findings: dict[str, Any]) -> str:
        """The report's parts in order, each the phrasing the model finds most fluent (one batch for all of them)."""
        parts = slots(findings, facts(findings))
        options = [t for part in parts if len(part) > 1 for t in part]
        score = dict(zip(options, self.fluency(options), strict=True)) if options else {}
        return " ".join(part[0] if len(part) == 1 else max(part, key=score.__getitem__) for part in parts)

    def __call__(self, findings: dict[str, Any], tight: bool = False) -> str:
        import torch  # defers torch, as in __init__

        if self.mode == "choose":
            return self.choose(findings)

        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt(EXAMPLE_FACTS)},
                    {"role": "assistant", "content": EXAMPLE_TEXT}, {"role": "user", "content": prompt(facts(findings))}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = ids if torch.is_tensor(ids) else ids["input_ids"]
        options = {"max_new_tokens": self.max_new_tokens if not tight else self.max_new_tokens * 2 // 3, "do_sample": False,
                   "repetition_penalty": 1.1 if not tight else 1.3, "pad_token_id": self.tokenizer.eos_token_id}
        if tight:
            options["bad_words_ids"] = self.banned(findings)
        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), **options)
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def write(findings: dict[str, Any], generator: Generator | None) -> Written:
    """Generated text when it passes the grounding check (the sentences no finding supports removed, each recorded), else
    the tighter regeneration (free mode), else the template; every attempt recorded with its problems."""
    started = time.perf_counter()
    attempts = []
    template = template_text(findings)
    if generator is not None:
        tries = (("generated", False),) if getattr(generator, "mode", "free") == "choose" else (("generated", False), ("regenerated", True))
        for path, tight in tries:
            text = generator(findings, tight)
            delivered, problems, removed = judge(text, findings, template)
            attempts.append({"path": path, "text": text, "problems": problems, "removed": removed})
            if delivered is not None:
                return Written(delivered, path, attempts, time.perf_counter() - started)
    return Written(template, "template", attempts, time.perf_counter() - started)
