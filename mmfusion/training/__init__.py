"""Fitting a model: precision, optimiser and schedule, the training loop, checkpoints and resume."""
