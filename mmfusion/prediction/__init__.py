"""Predicting with a trained run: the Predictor (torch, ONNX, int8; exports on first use) and its tables."""
