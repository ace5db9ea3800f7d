"""Fig. 4: teacher and student accuracy over the online update cycles, with the head-gradient consistency."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from syndiag.evaluation.metrics import save_figure_png


def write_update_curves(cycles: list[dict], initial: dict, path: Path, title: str) -> Path:
    """``cycles``: dicts with cycle, teacher_accuracy, student_accuracy, gradient_consistency, gradient_cosine, accepted."""
    figure = Figure(figsize=(9, 4.2))
    left, right = figure.subplots(1, 2)
    steps = [0] + [c["cycle"] for c in cycles]
    left.plot(steps, [initial["teacher_accuracy"]] + [c["teacher_accuracy"] for c in cycles], marker="o", ms=3, label="teacher (cloud)")
    left.plot(steps, [initial["student_accuracy"]] + [c["student_accuracy"] for c in cycles], marker="s", ms=3, label="student (edge)")
    refused = [c for c in cycles if not c["accepted"]]
    if refused:
        left.scatter([c["cycle"] for c in refused], [c["teacher_accuracy"] for c in refused], marker="x", color="red", zorder=3, label="head refused")
    left.set_xlabel("update cycle")
    left.set_ylabel("test accuracy")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.plot([c["cycle"] for c in cycles], [c["gradient_consistency"] for c in cycles], marker="o", ms=3, color="tab:green",
               label="||grad_S - grad_T|| / ||grad_T||")
    if all("gradient_cosine" in c for c in cycles):
        right.plot([c["cycle"] for c in cycles], [c["gradient_cosine"] for c in cycles], marker="^", ms=3, color="tab:purple", label="cos(grad_S, grad_T)")
    right.set_xlabel("update cycle")
    right.set_ylabel("head-gradient agreement (eq. 12-14)")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure_png(figure, path)
