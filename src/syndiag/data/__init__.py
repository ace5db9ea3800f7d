"""Datasets, windowing, spectrograms and few-shot splits (the lowest layer: imports nothing above it)."""
