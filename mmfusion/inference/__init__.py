"""Prediction with a trained run: one sample or a whole table, batched, model loaded once."""
