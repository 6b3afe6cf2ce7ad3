"""Metrics, reports, robustness to absent modalities, and plots."""
