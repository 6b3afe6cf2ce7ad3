"""Which checks apply to a component, running them, and the pytest parametrisation."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .common import ConformanceError

Check = Callable[[type], None]


def _checks_by_kind() -> dict[str, list[Check]]:
    from .callback_checks import CALLBACK_CHECKS
    from .encoder_checks import ENCODER_CHECKS
    from .fusion_checks import FUSION_CHECKS
    from .head_checks import HEAD_CHECKS
    from .logger_checks import LOGGER_CHECKS
    from .loss_checks import LOSS_CHECKS

    return {"encoder": ENCODER_CHECKS, "fusion": FUSION_CHECKS, "head": HEAD_CHECKS, "loss": LOSS_CHECKS,
            "logger": LOGGER_CHECKS, "callback": CALLBACK_CHECKS}


def kind_of(component: object) -> str | None:
    """The kind (encoder, fusion, head, loss, logger, callback) whose interface ``component`` subclasses."""
    from ..interfaces.kinds import CHECKED_KINDS, KINDS

    for kind in CHECKED_KINDS:
        if isinstance(component, type) and issubclass(component, KINDS[kind].base_class()):
            return kind
    return None


def checks_for(component: type) -> list[Check]:
    """The checks that apply to ``component`` (a subclass of an encoder, fusion, head, loss, logger or callback
    interface)."""
    kind = kind_of(component)
    if kind is None:
        raise TypeError(f"{component!r} is not an mmfusion component the kit checks: subclass one of Encoder, "
                        "Fusion, Classifier, Loss, Logger or Callback")
    return list(_checks_by_kind()[kind])


@dataclass(frozen=True)
class CheckResult:
    component: str
    check: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


def run_checks(component: type) -> list[CheckResult]:
    """Run every applicable check, collecting failures instead of stopping at the first."""
    results = []
    for check in checks_for(component):
        started, passed, message = time.perf_counter(), False, ""
        try:
            check(component)
            passed = True
        except ConformanceError as exc:
            message = str(exc)
        except Exception as exc:
            last = traceback.extract_tb(exc.__traceback__)[-1]
            message = f"raised {type(exc).__name__}: {exc} (at {last.filename}:{last.lineno})"
        results.append(CheckResult(component.__name__, check.__name__, passed, message, time.perf_counter() - started))
    return results


def parametrize_with_checks(components: Sequence[type]) -> Any:
    """A ``pytest.mark.parametrize`` over (component, check) pairs, with readable test ids."""
    import pytest

    params = [
        pytest.param(component, check, id=f"{component.__name__}-{check.__name__}")
        for component in components
        for check in checks_for(component)
    ]
    return pytest.mark.parametrize(("component", "check"), params)
