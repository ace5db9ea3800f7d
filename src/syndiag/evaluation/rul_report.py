"""The rul suite's section of BENCHMARKS.md (issue 16): per model family, leave-one-bearing-out and test-set scores, the
per-bearing tables and the LOBO figure; every test scoring made is a line of the results file, all of them shown."""

from __future__ import annotations

from pathlib import Path

from syndiag.evaluation.metrics import read_results


def _row(name: str, errors: dict, levels: list[float]) -> str:
    coverage = " | ".join(f"{errors.get(f'coverage_{level:g}', float('nan')):.2f}" for level in levels)
    ratio = errors.get("interval_ratio_0.8_median")  # recorded from issue 32 on; older lines: not recorded
    return (f"| {name} | {errors['score']:.3f} | {errors['rmse_s']:,.0f} | {errors['mae_s']:,.0f} | {errors['late_over_50pct']} of "
            f"{errors['count']} | {coverage} | {'–' if ratio is None else f'{ratio:.1f}'} |")


def rul_section(path: Path, report_dir: Path, display) -> list[str]:
    records = read_results(path)
    if not records:
        return []
    levels = records[0]["levels"]
    head = ("| family (settings chosen by LOBO) | challenge score | RMSE (s) | MAE (s) | late by > 50 % | "
            + " | ".join(f"{level:.0%} coverage" for level in levels) + " | 80 % upper/lower (median) |")
    rule = "|---|---|---|---|---|---|" + "---|" * len(levels)
    first = records[0]
    lines = [f"## Remaining useful life, FEMTO PRONOSTIA (`{path.name}`)", "",
             f"- command(s): {'; '.join(sorted({'`' + r['command'] + '`' for r in records}))}",
             f"- commit(s): {', '.join(sorted({r['commit'][:10] for r in records}))}; machine: {first['machine']['cpu']} ({first['machine']['cores']} cores)",
             f"- learning units (LOBO): {', '.join(first['data']['learning'])}; each held out in turn, cut at {first['cuts']} of its snapshots",
             f"- test units: {len(first['data']['test'])} challenge test bearings, one prediction at the last snapshot, scored once per "
             "family with the official formula (MANIFEST §3); every scoring is a line of the results file and appears below", "",
             "### Leave-one-bearing-out on the learning set (selection)", "", head, rule]
    lines += [_row(f"{r['method']} {r['settings']}", r["lobo"], levels) for r in records]
    lines += ["", "### Challenge test bearings (scored once per family)", "", head, rule]
    lines += [_row(f"{r['method']} {r['settings']}", r["test"], levels) for r in records]
    units = list(first["test"]["per_unit"])
    lines += ["", "Per test bearing: actual RUL and each family's prediction (s), percent error (negative: late).", "",
              "| bearing | actual | " + " | ".join(r["method"] for r in records) + " |", "|---|---|" + "---|" * len(records)]
    for unit in units:
        cells = [f"{r['test']['per_unit'][unit]['predicted_s']:,.0f} ({r['test']['per_unit'][unit]['percent_error']:+.0f} %)" for r in records]
        lines.append(f"| {unit} | {first['test']['per_unit'][unit]['actual_s']:,.0f} | " + " | ".join(cells) + " |")
    learning = list(first["lobo"]["per_unit"])
    lines += ["", "Per held-out learning bearing: LOBO challenge score (RMSE in s).", "",
              "| bearing | " + " | ".join(r["method"] for r in records) + " |", "|---|" + "---|" * len(records)]
    for unit in learning:
        lines.append(f"| {unit} | " + " | ".join(f"{r['lobo']['per_unit'][unit]['score']:.3f} ({r['lobo']['per_unit'][unit]['rmse_s']:,.0f})"
                                                 for r in records) + " |")
    figure = path.with_name(f"{path.stem}_lobo.png")
    if figure.is_file():
        lines += ["", f"![LOBO RUL against the true RUL]({display(figure, report_dir)})"]
    return lines + [""]
