"""What a report page shows and the template says (issue 31): the harmonic scores that decide the envelope evidence's
verdict are on the page (198.mat: 2xBSF wins on its harmonics' combined score while BPFI's single line stands higher),
a sentence citing a score is checked against the findings, and the template states the resolution caveat exactly when
the findings hold a fault type the resolution cannot tell apart (FEMTO Bearing1_4)."""

import pytest
from test_grounding import Scoring, diagnosis, evidence, false_claims

from syndiag.report.claims import check_text
from syndiag.report.findings import build_findings
from syndiag.report.grounding import judge, ungrounded
from syndiag.report.phrasings import confusable
from syndiag.report.ranking import apply_ranking
from syndiag.report.render import html_page, markdown
from syndiag.report.writer import template_text, write

SCORES = {"inner_race": 1.485, "outer_race": 0.809, "ball": 1.535, "cage": 0.639}


def like_198():
    """198.mat's evidence: ball the verdict (2xBSF 3.05 times its floor, score 1.535), BPFI the largest single ratio (4.31)."""
    e = evidence("ball", ratio=3.05)
    e["lines"]["inner_race"]["harmonics"][0]["ratio"] = 4.31
    for fault, score in SCORES.items():
        e["lines"][fault]["score"] = score
    e["strongest_basis"] = "the 2xBSF line stands out 3.0 times above its floor"
    return apply_ranking(build_findings("198.mat", 1.0, 12000.0, e, diagnosis("outer race fault at motor end with diameter 0.014 inches", 0.91)))


def table(page):
    rows = page.split("## Envelope spectrum evidence")[1].strip().splitlines()
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows if row.startswith("|")]


def test_the_page_shows_the_harmonic_score_each_fault_type_won_or_lost_with():
    findings = like_198()
    lines = findings["evidence"]["lines"]
    largest = max(lines, key=lambda f: lines[f]["harmonics"][0]["ratio"])
    assert largest == "inner_race" != findings["evidence"]["strongest"] == "ball"  # the verdict is not the largest single ratio
    written = write(findings, None)
    page = markdown(findings, written, {})
    [envelope] = [p for p in page.splitlines() if p.startswith("Envelope evidence")]
    assert envelope.startswith("Envelope evidence (ball): the 2xBSF line stands out 3.0 times above its floor; the verdict has the highest "
                               "harmonic score")
    assert envelope.endswith(": ball 1.535, inner race 1.485, outer race 0.809"), envelope  # the verdict's, then the runner-up's
    head, _, *rows = table(page)
    assert head[-1] == "harmonic score"
    by_line = {row[1]: row for row in rows}
    assert by_line["2xBSF"][-2:] == ["3.0", "1.535"] and by_line["BPFI"][-2:] == ["4.3", "1.485"] and by_line["BPFO"][-1] == "0.809"
    assert by_line["FTF"][-1] == "0.639 (not compared)"  # the cage's line is never the verdict
    html = html_page(findings, written, {})
    assert "<th>harmonic score</th>" in html and "<td>1.535</td>" in html and "ball 1.535, inner race 1.485" in html


def test_where_no_line_stands_out_the_page_says_the_highest_scores_first_harmonic_is_below_three():
    e = evidence("none")
    for fault, score in SCORES.items():
        e["lines"][fault]["score"] = score
    e["strongest_basis"] = "no characteristic line stands out and the envelope is not impulsive"
    findings = apply_ranking(build_findings("97.mat", 1.0, 12000.0, e, None))
    [envelope] = [p for p in markdown(findings, write(findings, None), {}).splitlines() if p.startswith("Envelope evidence")]
    assert "highest first: ball 1.535, inner race 1.485, outer race 0.809; the highest's first harmonic (2xBSF, 1.2 times its floor) is below " \
           "the 3 a line needs to stand out" in envelope, envelope


def test_a_sentence_citing_a_harmonic_score_is_checked_against_the_findings():
    findings = like_198()
    template = template_text(findings)
    for right in ("The verdict has the highest harmonic score: ball 1.535, inner race 1.485, outer race 0.809.",
                  "The envelope spectrum's strongest evidence is 2xBSF (ball), with the highest harmonic score, 1.54 against BPFI's 1.49.",
                  "Harmonic score 1.535 (ball), against 1.485 for inner race."):
        checks = check_text(right, findings, template)
        assert all(c.supported for c in checks), [(c.false, c.unsupported) for c in checks]
        assert ungrounded(right, findings) == []  # the lexical check lets a fault type cited with its own score through
    swapped = false_claims("Harmonic scores: ball 1.485, inner race 1.535.", findings)
    assert any("1.485 said of ball: it is inner race's; ball's is 1.535" in p for p in swapped), swapped
    assert any("the highest is ball's, 1.535" in p for p in false_claims("BPFI has the highest harmonic score, 1.485.", findings))
    assert false_claims("The ball's harmonic score is 0.91.", findings)  # the classifier's probability, no score
    assert false_claims("The verdict has the highest harmonic score, 1.7 for ball.", findings)
    open_set = apply_ranking(build_findings("198.mat", 1.0, 12000.0, findings["evidence"], diagnosis(p=0.91),
                                            unknown={"unknown": False, "score": 0.2, "threshold": 0.5, "windows_above": 0}))
    assert false_claims("Open-set check: within the trained classes (score 0.20, threshold 0.50).", open_set) == []


def bearing_1_4(confusion, d):
    e = evidence("inner_race", zone="C", ratio=3.1)
    e.update(confusable_with=confusion, resolution_hz=10.0, strongest_basis="the BPFI line stands out 3.1 times above its floor")
    return apply_ranking(build_findings("Bearing1_4", 0.1, 25600.0, e, d))


CAVEAT = ("The BPFI line lies within three resolution steps of 2xBSF: this 10 Hz resolution cannot tell inner race from ball; record longer "
          "for a finer resolution.")


@pytest.mark.parametrize("confusion", [["ball"], []])
@pytest.mark.parametrize("with_classifier", [False, True])
def test_the_template_states_the_resolution_caveat_exactly_when_the_findings_hold_a_confusion(confusion, with_classifier):
    findings = bearing_1_4(confusion, diagnosis(p=0.9) if with_classifier else None)
    template = template_text(findings)
    assert (CAVEAT in template) is bool(confusion) and template.count("resolution steps") == len(confusion), template
    assert confusable(findings) == ([CAVEAT] if confusion else [])
    delivered, problems, _ = judge(template, findings, template)
    assert delivered == template and problems == []  # the template stays grounded by construction
    for written in (write(findings, None), write(findings, lambda f, tight=False: "Cage fault in ISO zone D.")):  # --template-only; rejected
        assert written.path == "template" and written.text == template
    chosen = write(findings, Scoring()).text  # the generated text keeps the caveat once, right after the verdict
    assert chosen.count("resolution steps") == len(confusion), chosen
