"""Claim-level grounding (issue 31): the false statements that passed the lexical check are rejected, sentences no finding
supports are removed, the template's and every phrasing's sentences pass on random findings while a changed number,
location, fault type or zone is caught; the ranking of physics against the classifier sets the urgency."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndiag.report.claims import check_text, sentences
from syndiag.report.findings import build_findings, fault_of
from syndiag.report.grounding import judge
from syndiag.report.phrasings import slots
from syndiag.report.ranking import apply_ranking, line_weight
from syndiag.report.writer import facts, template_text, write

LINES = (("inner_race", "BPFI", 161.8), ("outer_race", "BPFO", 107.36), ("ball", "2xBSF", 141.17), ("cage", "FTF", 11.93))


def evidence(strongest="inner_race", zone="A", ratio=16.2, channel="DE"):
    lines = {f: {"line": name, "expected_hz": hz, "score": 1.0, "harmonics": [
        {"name": name, "expected_hz": hz, "found_hz": round(hz + 0.4, 2), "amplitude": 0.01, "ratio": ratio if f == strongest else 1.2}]}
        for f, name, hz in LINES}
    return {"bearing": "cwru-drive-end", "bearing_source": "CWRU", "shaft_hz": 29.95, "characteristic_hz": {n: hz for _, n, hz in LINES},
            "lines": lines, "strongest": strongest, "strongest_ratio": ratio if strongest != "none" else 1.3, "envelope_band_hz": [3000.0, 5000.0],
            "resolution_hz": 1.0, "tolerance": 0.02, "velocity_rms_mm_s": 0.22, "iso_zone": zone, "iso_zone_meaning": "newly commissioned condition",
            "iso_boundaries_mm_s": [0.71, 1.8, 4.5], "machine_group": "iso-10816-1:class1", "machines": "class I", "channel": channel, "warnings": []}


def diagnosis(description="inner race fault at motor end with diameter 0.007 inches", p=0.57):
    return {"model": "m", "prediction": "X", "description": description, "probability": p, "top": [{"class": "X", "probability": p}],
            "windows": 40, **fault_of(description)}


def false_claims(text, findings):
    return [p for c in check_text(text, findings, template_text(findings)) for p in c.false]


def test_the_false_statements_the_lexical_check_let_through_are_rejected():
    agreeing = build_findings("r.mat", 1.0, 12000.0, evidence(), diagnosis())
    # 16.2 is the line's peak-to-floor ratio, not a frequency: the line is at 161.8 Hz
    assert any("16.2 Hz" in p and "not as hz" in p for p in false_claims("Inner race fault, confirmed by the envelope spectrum at 16.2 Hz.", agreeing))
    assert false_claims("Inner race fault, confirmed by the envelope spectrum at 161.8 Hz, 16.2 times the floor.", agreeing) == []
    # the classifier's fan-end inner race stated as fact where the evidence found nothing and the open-set verdict is unknown
    fan = build_findings("r.mat", 1.0, 12000.0, evidence("none", channel="DE"), diagnosis("inner race fault at fan end with diameter 0.007 inches"),
                         unknown={"unknown": True, "score": 0.9, "threshold": 0.5, "windows_above": 30})
    problems = false_claims("Inner race fault at the fan end.", fan)
    assert any("as fact" in p and "unknown" in p for p in problems) and any("fan end" in p for p in problems)
    assert false_claims("The classifier says inner race at the fan end (probability 0.57).", fan) == []
    for meaningless in ("Confirming a new seal failure.", "The model confirms this as a flaw in the design.",
                        "Confirming a new policy change to ensure compliance with ISO standards."):
        for findings in (agreeing, fan):
            [check] = check_text(meaningless, findings, template_text(findings))
            assert not check.supported, (meaningless, check)
    delivered, problems, removed = judge("Inner race fault at the drive end (probability 0.57); ISO zone A. Confirming a new seal failure.",
                                         agreeing, template_text(agreeing))
    assert delivered == "Inner race fault at the drive end (probability 0.57); ISO zone A." and problems == []
    assert removed and "seal" in removed[0]
    assert judge("The model confirms this as a flaw in the design.", fan, template_text(fan))[0] is None


def test_sentences_split_at_full_stops_not_decimal_points():
    assert sentences("Line at 161.8 Hz. Zone A (0.22 mm/s). Plan it.") == ["Line at 161.8 Hz.", "Zone A (0.22 mm/s).", "Plan it."]


def test_the_open_set_verdict_must_be_stated():
    findings = build_findings("r.mat", 1.0, 12000.0, evidence(), diagnosis(p=0.9),
                              unknown={"unknown": False, "score": 0.2, "threshold": 0.5, "windows_above": 0})
    problems = judge("Inner race fault at the drive end, confirmed by the BPFI line; ISO zone A.", findings)[1]
    assert any("open-set verdict" in p for p in problems)
    assert judge(template_text(findings), findings, template_text(findings))[1] == []


class Scoring:
    """A stand-in for the language model in choose mode: the longest phrasing is the most fluent."""

    name, mode = "scoring", "choose"

    def __call__(self, findings, tight=False):
        return " ".join(max(part, key=len) for part in slots(findings, facts(findings)))


FAULTS = st.sampled_from(["inner_race", "outer_race", "ball", "none"])
DESCRIPTIONS = st.sampled_from(["inner race fault at motor end with diameter 0.007 inches", "outer race fault at fan end with diameter 0.021 inches",
                                "ball fault at fan end with diameter 0.014 inches", "normal operation", None])


@settings(max_examples=120, deadline=None)
@given(strongest=FAULTS, description=DESCRIPTIONS, p=st.floats(0.3, 1.0), ratio=st.floats(3.0, 150.0), zone=st.sampled_from("ABCD"),
       channel=st.sampled_from(["DE", "FE"]), unknown=st.sampled_from([None, True, False]))
def test_every_phrasing_of_random_findings_passes_and_a_changed_claim_is_caught(strongest, description, p, ratio, zone, channel, unknown):
    d = None if description is None else diagnosis(description, round(p, 4))
    u = None if unknown is None or d is None else {"unknown": unknown, "score": 0.7 if unknown else 0.2, "threshold": 0.5, "windows_above": 3}
    findings = apply_ranking(build_findings("r.mat", 1.0, 12000.0, evidence(strongest, zone, round(ratio, 2), channel), d, u))
    template = template_text(findings)
    for part in slots(findings, facts(findings)):
        for sentence in part:
            bad = [c for c in check_text(sentence, findings, template) if not c.supported]
            assert not bad, (sentence, [(c.false, c.unsupported, c.anchors) for c in bad])
    written = write(findings, Scoring())
    assert written.path == "generated" and written.attempts[0]["removed"] == [], written.attempts
    other_zone = "ABCD"[("ABCD".index(zone) + 1) % 4]
    assert false_claims(f"The vibration is in ISO zone {other_zone}.", findings)
    assert false_claims(f"The vibration is {findings['evidence']['velocity_rms_mm_s'] + 3.07:.2f} mm/s RMS.", findings)
    if strongest != "none":
        line = findings["evidence"]["lines"][strongest]
        assert false_claims(f"The envelope spectrum shows a line at {line['expected_hz'] * 1.5:.1f} Hz.", findings)
        absent = next(f for f, *_ in LINES if f not in (strongest, "cage", (d or {}).get("fault_type")))
        assert any("no finding" in p or "as fact" in p for p in false_claims(f"{absent.replace('_', ' ').capitalize()} fault.", findings))
    if d is not None and d["location"] is not None and strongest != d["fault_type"]:
        wrong = "fan end" if d["location"] == "drive end" else "drive end"
        if wrong != {"DE": "drive end", "FE": "fan end"}[channel]:
            assert false_claims(f"The classifier says {d['description'].split(' fault')[0]} at the {wrong}.", findings)


def test_a_line_far_above_the_floor_outweighs_a_weak_classifier_and_raises_the_urgency():
    assert line_weight(100.0) == pytest.approx(0.99) and line_weight(3.0) == pytest.approx(2 / 3)
    findings = apply_ranking(build_findings("r.mat", 1.0, 12000.0, evidence("outer_race", "A", 100.0), diagnosis(p=0.57)))
    assert findings["ranking"]["leading"] == "envelope spectrum" and findings["recommendation"]["basis"] == "outer_race"
    assert findings["recommendation"]["urgency"] == "soon" and "BPFO line stands 100.0 times" in findings["recommendation"]["actions"][1]
    assert findings["recommendation"]["actions"][0].startswith("confirm the diagnosis by a second technique")
    assert "outweighs the classifier" in findings["recommendation"]["ranking"]
    strong_model = apply_ranking(build_findings("r.mat", 1.0, 12000.0, evidence("outer_race", "A", 5.2), diagnosis(p=0.99)))
    assert strong_model["ranking"]["leading"] == "classifier" and strong_model["recommendation"]["basis"] == "inner_race"
    assert strong_model["recommendation"]["urgency"] == "planned"
    text = write(strong_model, Scoring()).text
    assert text.startswith("The classifier says inner race") and "BPFO" in text
    assert apply_ranking(build_findings("r.mat", 1.0, 12000.0, evidence("none"), diagnosis()))["ranking"]["open_set"].startswith("no open-set")


def test_a_verdict_the_resolution_cannot_tell_from_another_says_so_and_passes():
    e = evidence("inner_race")
    e.update(confusable_with=["ball"], resolution_hz=10.0, strongest_basis="BPFI line; it lies within three resolution steps of 2xBSF at "
             "this 10 Hz resolution, which cannot tell inner race from ball: record longer for a finer resolution")
    findings = apply_ranking(build_findings("r", 1.0, 25600.0, e, diagnosis(p=0.9)))
    parts = slots(findings, facts(findings))
    assert parts[1] == ["The BPFI line lies within three resolution steps of 2xBSF: this 10 Hz resolution cannot tell inner race from ball; "
                        "record longer for a finer resolution."]
    assert all(c.supported for part in parts for s in part for c in check_text(s, findings, template_text(findings)))
    assert false_claims("Ball fault.", findings)  # named apart from the caveat, the twin is still no finding's verdict


def test_an_action_to_confirm_by_envelope_spectrum_becomes_trending_the_line_it_already_shows():
    shown = apply_ranking(build_findings("r.mat", 1.0, 12000.0, evidence("inner_race", "A", 12.0), diagnosis(p=0.9)))
    assert shown["recommendation"]["actions"][0] == "trend its BPFI line (now 12.0 times the floor) at the next measurement"
    unseen = apply_ranking(build_findings("r.mat", 1.0, 12000.0, evidence("none", "A"), diagnosis(p=0.9)))
    assert "confirm with an envelope spectrum at the next measurement" in unseen["recommendation"]["actions"]


def test_the_verdict_is_the_strongest_evidence_and_a_strongest_line_claim_is_checked_against_the_largest_ratio():
    # 198.mat: 2xBSF wins on its harmonics' combined score (ball) while BPFI's first line stands higher (4.3 against 3.0)
    e = evidence("ball", ratio=3.05)
    e["lines"]["inner_race"]["harmonics"][0]["ratio"] = 4.31
    findings = apply_ranking(build_findings("198.mat", 1.0, 12000.0, e, diagnosis("outer race fault at motor end with diameter 0.014 inches", 0.91)))
    assert findings["ranking"]["leading"] == "classifier"
    [said] = slots(findings, facts(findings))[0]
    assert "strongest evidence is 2xBSF (ball)" in said and "strongest line" not in said
    assert all(c.supported for c in check_text(said, findings, template_text(findings)))
    wrong = false_claims("The classifier says outer race at the drive end (probability 0.91), but the envelope spectrum's strongest line "
                         "is 2xBSF (ball) at 141.2 Hz, 3.0 times the floor.", findings)
    assert any("strongest line is 2xBSF" in p and "BPFI's, 4.3" in p for p in wrong), wrong
    assert false_claims("BPFI is the largest peak of the envelope spectrum.", findings) == []
    [right] = check_text("The envelope spectrum's strongest line is BPFI at 161.8 Hz, 4.3 times the floor.", findings, template_text(findings))
    assert right.supported, right
    assert false_claims("The envelope spectrum's strongest line is BPFI at 141.2 Hz.", findings)  # 2xBSF's frequency, not BPFI's


def test_a_fault_type_named_as_one_the_resolution_cannot_tell_apart_passes_the_whole_check():
    # FEMTO Bearing1_4: no classifier, BPFI at 10 Hz resolution within three steps of 2xBSF; the generated text said so
    e = evidence("inner_race", zone="C", ratio=3.1)
    e.update(confusable_with=["ball"], resolution_hz=10.0, strongest_basis="the BPFI line stands out 3.1 times above its floor; it lies "
             "within three resolution steps of 2xBSF at this 10 Hz resolution, which cannot tell inner race from ball: record longer for a "
             "finer resolution")
    for d in (None, diagnosis(p=0.9)):
        findings = apply_ranking(build_findings("Bearing1_4", 0.1, 25600.0, e, d))
        written = write(findings, Scoring())
        assert written.path == "generated" and "cannot tell inner race from ball" in written.text, written.attempts
        assert judge("Ball fault in ISO zone C.", findings, template_text(findings))[0] is None  # not as a verdict
        assert judge("Inner race fault in ISO zone C; a ball fault cannot be ruled out.", findings, template_text(findings))[0] is None


def test_the_pages_findings_print_what_the_evidence_rests_on():
    from syndiag.report.render import markdown

    e = evidence("ball", ratio=1.4)
    e.update(envelope_kurtosis=100.05, strongest_basis="impulsive envelope (kurtosis 100.0) with no race line standing out: a "
             "rolling-element defect's irregular impacts (tentative: looseness or rubbing can be impulsive too)")
    findings = apply_ranking(build_findings("285.mat", 1.0, 12000.0, e, diagnosis("ball fault at fan end with diameter 0.007 inches", 0.99)))
    written = write(findings, Scoring())
    assert "kurtosis 100.0" in written.text
    page = markdown(findings, written, {})
    found = page.split("## Findings")[1].split("## Recommendation")[0]
    assert "Envelope evidence (ball): impulsive envelope (kurtosis 100.0) with no race line standing out" in found
    none = apply_ranking(build_findings("97.mat", 1.0, 12000.0, {**evidence("none"), "strongest_basis": "no characteristic line stands out"}, None))
    assert "Envelope evidence (no fault type): no characteristic line stands out" in markdown(none, write(none, None), {})
