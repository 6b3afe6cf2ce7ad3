"""Exporting a trained run: ONNX or TorchScript models that take preprocessed tensors and presence masks."""
