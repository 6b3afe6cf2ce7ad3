"""mmfusion-tabular: a third-party plugin adding a *tabular* modality to mmfusion.

It brings the modality (how table cells become a row's value), an encoder (numeric and
categorical columns → one token per column) and nothing else: no change to mmfusion's core.
"""

from mmfusion import hookimpl

from .encoder import TabularConfig, TabularEncoder
from .modality import TabularModality

__version__ = "0.1.0"
__all__ = ["TabularConfig", "TabularEncoder", "TabularModality"]


@hookimpl
def mmfusion_modalities() -> list[type]:
    return [TabularModality]


@hookimpl
def mmfusion_encoders() -> list[type]:
    return [TabularEncoder]
