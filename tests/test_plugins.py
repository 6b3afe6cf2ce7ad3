"""Plugin discovery through real entry points: failures are isolated, duplicates are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.errors import AmbiguousComponentError, UnknownComponentError
from mmfusion.registry import load_registry

from .plugin_fixtures import BAD_COMPONENT, BROKEN_IMPORT, GOOD_FUSION, RAISING_HOOK, TYPO_HOOK, make_distribution

BUILTIN_FUSIONS = {"attention", "concat", "missing_modality"}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_builtins_load_without_autoload(monkeypatch: pytest.MonkeyPatch, site: Path) -> None:
    make_distribution(site, "mmfusion-other", {"other_concat": GOOD_FUSION}, {"other": "other_concat"})
    monkeypatch.setenv("MMFUSION_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = load_registry()
    assert set(registry.names("fusion")) >= BUILTIN_FUSIONS
    assert not registry.conflicts()
    assert all(p.distribution == "mmfusion" for p in registry.plugins)
    assert {"torchvision_resnet", "timm", "hf_text"} <= set(registry.names("encoder"))
    assert {"linear", "mlp"} <= set(registry.names("head"))
    assert {"image", "text"} <= set(registry.names("modality"))


def test_entry_point_plugin_is_discovered_with_its_distribution(site: Path) -> None:
    make_distribution(site, "mmfusion-other", {"other_concat": GOOD_FUSION}, {"other": "other_concat"},
                      version="2.3")
    registry = load_registry(autoload=True)
    plugin = next(p for p in registry.plugins if p.distribution == "mmfusion-other")
    assert plugin.version == "2.3" and plugin.module == "other_concat" and not plugin.builtin


def test_duplicate_name_is_an_error_naming_both_and_qualified_names_resolve(site: Path) -> None:
    make_distribution(site, "mmfusion-other", {"other_concat": GOOD_FUSION}, {"other": "other_concat"})
    registry = load_registry(autoload=True)
    [group] = registry.conflicts()
    assert {e.plugin.distribution for e in group} == {"mmfusion", "mmfusion-other"}
    with pytest.raises(AmbiguousComponentError) as info:
        registry.resolve("fusion", "concat")
    message = str(info.value)
    assert "mmfusion-other" in message and "other_concat.OtherConcat" in message
    assert "'mmfusion:concat'" in message and "'mmfusion-other:concat'" in message
    assert registry.get("fusion", "mmfusion-other:concat").__name__ == "OtherConcat"
    assert registry.get("fusion", "mmfusion:concat").__module__ == "mmfusion.default_plugins.concat"
    assert registry.get("fusion", "mmfusion_other:concat").__name__ == "OtherConcat"  # normalised names
    with pytest.raises(UnknownComponentError, match="providers of 'concat'"):
        registry.resolve("fusion", "nobody:concat")


def test_broken_plugins_are_reported_and_the_rest_load(site: Path) -> None:
    make_distribution(site, "mmfusion-broken", {"broken_plugin": BROKEN_IMPORT}, {"broken": "broken_plugin"})
    make_distribution(site, "mmfusion-raising", {"raising_plugin": RAISING_HOOK}, {"raising": "raising_plugin"})
    make_distribution(site, "mmfusion-typo", {"typo_plugin": TYPO_HOOK}, {"typo": "typo_plugin"})
    make_distribution(site, "mmfusion-bad", {"bad_plugin": BAD_COMPONENT}, {"bad": "bad_plugin"})
    make_distribution(site, "mmfusion-other", {"other_concat": GOOD_FUSION}, {"other": "other_concat"})
    registry = load_registry(autoload=True)
    failures = {f.distribution: f for f in registry.failures}
    assert set(failures) == {"mmfusion-broken", "mmfusion-raising", "mmfusion-typo", "mmfusion-bad"}
    assert failures["mmfusion-broken"].stage == "import"
    assert failures["mmfusion-broken"].module == "broken_plugin"
    assert "libfoo.so" in failures["mmfusion-broken"].error
    assert failures["mmfusion-raising"].stage == "hook mmfusion_heads"
    assert "hook exploded" in failures["mmfusion-raising"].error
    assert "mmfusion_fusion" in failures["mmfusion-typo"].error
    assert "Config.type must default to the component name 'mislabelled'" in failures["mmfusion-bad"].error
    assert "mmfusion-broken" in failures["mmfusion-broken"].describe()
    # the rest still works
    assert set(registry.names("fusion")) >= BUILTIN_FUSIONS
    assert registry.get("fusion", "mmfusion-other:concat").__name__ == "OtherConcat"
    assert "mislabelled" not in registry.names("head")


def test_unknown_component_suggests_close_names(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownComponentError) as info:
        registry.resolve("fusion", "atention")
    message = str(info.value)
    assert "unknown fusion 'atention' — did you mean 'attention'?" in message
    assert "available: attention, concat, film, gated, late, low_rank_tensor, mean, missing_modality, sum" in message
    assert "mmfusion plugins" in message


def test_unknown_component_message_names_plugins_that_failed_to_load(site: Path) -> None:
    from mmfusion.errors import SpecError
    from mmfusion.spec import load_spec

    make_distribution(site, "mmfusion-broken", {"broken_plugin": BROKEN_IMPORT}, {"broken": "broken_plugin"})
    make_distribution(site, "mmfusion-raising", {"raising_plugin": RAISING_HOOK}, {"raising": "raising_plugin"})
    registry = load_registry(autoload=True)
    with pytest.raises(SpecError) as info:
        load_spec({"model": {"encoders": {"text": {"type": "clip_text"}}, "fusion": "concat"}}, registry=registry)
    message = str(info.value)
    assert "unknown encoder 'clip_text'" in message and "available: " in message
    assert "a plugin failed to load and may provide it" in message
    assert "plugin mmfusion-broken 1.0 (broken_plugin) failed at import: ImportError: libfoo.so" in message
    assert "hook exploded" not in message  # a failing *head* hook cannot have cost an encoder
    with pytest.raises(UnknownComponentError, match="hook exploded"):
        registry.resolve("head", "cosine")
    with pytest.raises(UnknownComponentError, match=r"from distribution 'mmfusion-broken'.*\n.*libfoo\.so"):
        registry.resolve("encoder", "mmfusion-broken:clip_text")


def test_unknown_component_without_failures_keeps_the_install_hint() -> None:
    registry = load_registry(autoload=False)
    with pytest.raises(UnknownComponentError) as info:
        registry.resolve("fusion", "atention")
    assert str(info.value).endswith("(is the plugin that provides it installed? `mmfusion plugins`)")
    assert "did you mean 'attention'" in str(info.value)


def test_a_loss_must_name_the_tasks_it_handles() -> None:
    from typing import Literal

    from mmfusion import Loss, LossConfig, hookimpl

    class UntaskedConfig(LossConfig):
        type: Literal["untasked"] = "untasked"

    class Untasked(Loss):
        name = "untasked"
        Config = UntaskedConfig

    class Plugin:
        @hookimpl
        def mmfusion_losses(self) -> list[type]:
            return [Untasked]

    registry = load_registry(autoload=False, extra=[Plugin()])
    assert "untasked" not in registry.names("loss")
    assert any("Untasked.tasks must list the tasks the loss handles" in f.error for f in registry.failures)
