"""The contracts every component meets: configs, encoders, fusions, classifier heads, modalities, datasets,
corruptions, and the training loop's losses, loggers and callbacks.

:mod:`.config`, :mod:`.modality`, :mod:`.corruption`, :mod:`.logger` and :mod:`.callback` are importable
without torch; encoders, fusions, heads and losses are ``nn.Module`` subclasses.
"""
