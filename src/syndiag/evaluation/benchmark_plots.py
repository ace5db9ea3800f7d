"""Accuracy-vs-K figures of the benchmark report: every method its own colour and marker, families grouped, the top band zoomed."""

from __future__ import annotations

from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

from syndiag.evaluation.metrics import save_figure_png

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
FAMILIES = (
    ("Syn-Diag", ("Syn-Diag",), "Blues"),
    ("sensor model", ("Sensor",), "Purples"),
    ("aligned-feature prototypes", ("prototypes",), "Greens"),
    ("image networks", ("CNN", "ResNet", "ViT"), "Oranges"),
    ("signal baselines", ("log-spectrum", "envelope"), "Greys"),
)
ZOOM_FLOOR = 0.95


def family_of(method: str) -> int:
    for index, (_, prefixes, _) in enumerate(FAMILIES):
        if method.startswith(prefixes):
            return index
    return len(FAMILIES) - 1


def method_styles(methods: list[str]) -> dict[str, dict]:
    """A distinct (colour, marker) per method: shades of one colour map per family, a marker per member."""
    styles = {}
    for index in range(len(FAMILIES)):
        members = sorted(m for m in methods if family_of(m) == index)
        shades = colormaps[FAMILIES[index][2]]
        for rank, method in enumerate(members):
            styles[method] = {"color": shades(0.9 - 0.55 * rank / max(len(members) - 1, 1)), "marker": MARKERS[rank % len(MARKERS)]}
    return styles


def plot_accuracy_vs_k(summary: dict, condition: str, methods: list[str], shots: list[int], path: Path) -> Path:
    """Mean accuracy ± std over seeds against K, all methods left, the band above 0.95 zoomed right; legend grouped by family."""
    styles = method_styles(methods)
    ordered = sorted(methods, key=lambda m: (family_of(m), m))
    figure = Figure(figsize=(11, 4.6))
    full, zoom = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1]})
    for ax in (full, zoom):
        for method in ordered:
            points = [(k, summary[(condition, condition, k, method)]) for k in shots if (condition, condition, k, method) in summary]
            ax.errorbar([k for k, _ in points], [s["mean"] for _, s in points], yerr=[s["std"] for _, s in points], capsize=3,
                        label=method, linewidth=1.2, markersize=5, **styles[method])
        ax.set_xlabel("shots per class (K)")
        ax.set_xticks(shots)
        ax.grid(alpha=0.3)
    full.set_ylabel("accuracy")
    full.set_title(f"accuracy vs K, {condition}")
    zoom.set_ylim(ZOOM_FLOOR, 1.001)
    zoom.set_title(f"the band above {ZOOM_FLOOR}")
    handles, labels = full.get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(0.82, 0.5), frameon=False)
    figure.tight_layout(rect=(0, 0, 0.82, 1))
    return save_figure_png(figure, path)
