"""Evaluation: accuracy, macro precision and F1, confusion matrices, t-SNE plots and result files (paper §5)."""
