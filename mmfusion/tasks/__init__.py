"""What depends on the task (multiclass, multilabel, binary): scores, decisions, thresholds, metric names."""
