"""The offline switch: whether mmfusion may download weights (online by default, through the libraries' caches).

``MMFUSION_OFFLINE=1`` (or ``mmfusion --offline``) turns downloads off; so does ``HF_HUB_OFFLINE=1`` (or
``TRANSFORMERS_OFFLINE``): a user who set it expects no library to reach the network. The variables are read
when weights are loaded, not at import, so setting one in a running process counts for the next model built.
"""

from __future__ import annotations

import os

#: environment variables that turn downloads off, mmfusion's own first (it is the one error messages name)
OFFLINE_VARIABLES = ("MMFUSION_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "ON", "YES", "TRUE"}


def offline_variable() -> str | None:
    """The first environment variable that asks for offline mode, or None when downloads are allowed."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().upper() in _TRUE:
            return name
    return None
