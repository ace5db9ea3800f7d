"""Training stages: alignment pretraining, synergistic fine-tuning (one module per stage); losses in one place."""
