"""Conformance kit for component authors (scikit-learn's ``parametrize_with_checks`` pattern).

In a plugin's own tests::

    from mmfusion.testing import parametrize_with_checks

    @parametrize_with_checks([MyEncoder, MyFusion])
    def test_conformance(component, check):
        check(component)

Each check builds the component from its ``conformance_configs`` (offline) and asserts one part of
the contract: config round-trip, offline build, output dims matching forward, masks honoured,
state-dict round-trip, deterministic modality order. ``run_checks`` runs them all and collects
results, which is what ``mmfusion plugins --check`` reports.
"""

from .runner import CheckResult, ConformanceError, checks_for, parametrize_with_checks, run_checks

__all__ = ["CheckResult", "ConformanceError", "checks_for", "parametrize_with_checks", "run_checks"]
