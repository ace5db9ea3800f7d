"""syndiag: few-shot industrial fault diagnosis with language models."""

__version__ = "0.1.0"
