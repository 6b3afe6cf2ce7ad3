"""From tables to batches: splits, labels, column mapping, per-row parsing, preprocessing, feature cache."""
