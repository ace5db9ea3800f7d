"""Serving: diagnosing recordings and windows with a trained model."""
