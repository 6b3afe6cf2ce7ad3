"""Fitting a model: the trainer, the loop and its steps, optimiser and schedule, losses, balance options and the
built-in callbacks."""
