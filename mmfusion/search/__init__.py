"""Hyper-parameter search on Optuna: ``mmfusion tune``.

The package is ``search`` so that ``mmfusion.tune`` stays the function.
"""
