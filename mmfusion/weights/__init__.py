"""Finding and loading pretrained weights: spec locations, the offline switch, matching tensors to modules."""
