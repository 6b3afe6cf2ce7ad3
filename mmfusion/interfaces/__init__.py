"""The contracts every component meets: configs, encoders, fusions, classifier heads, modalities, datasets.

Only :mod:`.config` and :mod:`.modality` are importable without torch; the rest are ``nn.Module``
subclasses.
"""
