"""Evaluating a run: reports, metrics with each input removed, robustness and corruption curves."""
