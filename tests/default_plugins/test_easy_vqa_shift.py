"""easy-VQA's shifted test splits (``test_shift``): labels kept, pictures or questions changed, seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmfusion.default_plugins.easy_vqa_dataset import EasyVQAConfig, EasyVQADataset
from mmfusion.default_plugins.easy_vqa_shifts import paraphrase, render, render_night

easy_vqa = pytest.importorskip("easy_vqa")
IMAGES = (0, 1, 2, 3)


@pytest.fixture
def few_test_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's test split cut to a few pictures and their questions, so rendering stays fast."""
    paths = {i: p for i, p in easy_vqa.get_test_image_paths().items() if i in IMAGES}
    texts, answers, ids = easy_vqa.get_test_questions()
    keep = [k for k, i in enumerate(ids) if i in IMAGES]
    questions = ([texts[k] for k in keep], [answers[k] for k in keep], [ids[k] for k in keep])
    monkeypatch.setattr(easy_vqa, "get_test_image_paths", lambda: paths)
    monkeypatch.setattr(easy_vqa, "get_test_questions", lambda: questions)


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("style", ["render", "night"])
def test_shifted_test_pictures_change_while_questions_answers_and_train_stay(few_test_images: None, style: str,
                                                                               tmp_path: Path) -> None:
    plain = EasyVQADataset(EasyVQAConfig()).load()
    shifted = EasyVQADataset(EasyVQAConfig(test_shift=style, shift_dir=str(tmp_path / "a"))).load()
    assert shifted.train.equals(plain.train)  # training data untouched
    for column in ("question", "answer", "image_id"):
        assert shifted.test[column].tolist() == plain.test[column].tolist()
    assert shifted.names["test"] == f"easy_vqa test ({style} pictures)"
    for original, new in zip(plain.test["image"], shifted.test["image"]):
        assert Path(new).parent.parent == tmp_path / "a" and new != original
        assert np.abs(_pixels(new) - _pixels(original)).mean() > 20  # a visible change, same size
    # deterministic: another folder, the same seed, the same pictures; another seed, other pictures
    again = EasyVQADataset(EasyVQAConfig(test_shift=style, shift_dir=str(tmp_path / "b"))).load()
    other = EasyVQADataset(EasyVQAConfig(test_shift=style, shift_seed=1, shift_dir=str(tmp_path / "a"))).load()
    for first, second, third in zip(shifted.test["image"], again.test["image"], other.test["image"]):
        assert np.array_equal(_pixels(first), _pixels(second))
        assert not np.array_equal(_pixels(first), _pixels(third))


def test_shifted_pictures_are_written_once(few_test_images: None, tmp_path: Path) -> None:
    config = EasyVQAConfig(test_shift="render", shift_dir=str(tmp_path))
    first = EasyVQADataset(config).load().test["image"][0]
    written = Path(first).stat().st_mtime_ns
    assert EasyVQADataset(config).load().test["image"][0] == first and Path(first).stat().st_mtime_ns == written
    (Path(first).parent / "done.json").unlink()  # an interrupted rendering is redone
    EasyVQADataset(config).load()
    assert (Path(first).parent / "done.json").is_file()


def test_rendering_keeps_the_shape_colour() -> None:
    """The answers name the shape's colour: its inner pixels keep it (blur, noise and JPEG aside)."""
    path = easy_vqa.get_test_image_paths()[0]  # a red triangle
    with Image.open(path) as image:
        original = np.asarray(image.convert("RGB"), dtype=np.int16)
        new = np.asarray(render(image, seed=0), dtype=np.int16)
    red = (original == (255, 0, 0)).all(axis=2)
    assert red.sum() > 20
    assert np.abs(new[red].mean(axis=0) - (255, 0, 0)).max() < 60


def test_the_night_look_keeps_the_shape_colour_where_the_turned_shape_lies() -> None:
    path = easy_vqa.get_test_image_paths()[0]  # a red triangle
    with Image.open(path) as image:
        original = np.asarray(image.convert("RGB"), dtype=np.int16)
        new = np.asarray(render_night(image, seed=0), dtype=np.int16)
    red = (original == (255, 0, 0)).all(axis=2)
    reddish = np.abs(new - (255, 0, 0)).max(axis=2) < 70
    assert reddish.sum() > 0.3 * red.sum()  # shrunk to 70-95 %, its colour kept
    assert new[~reddish].mean() < 130 < 200 < original[~red].mean()  # a dark background instead of the pale one


def test_every_test_question_is_paraphrased_with_its_shape_and_colour_words() -> None:
    texts, answers, ids = easy_vqa.get_test_questions()
    keep = frozenset(easy_vqa.get_answers())
    rewritten = [paraphrase(q, seed, keep) for seed, q in enumerate(texts)]
    assert sum(new != old for new, old in zip(rewritten, texts)) == len(texts)
    vocabulary = keep - {"yes", "no"}
    for old, new in zip(texts, rewritten):  # the words that carry the answer survive, never misspelled
        assert {w for w in old.strip("?").split() if w in vocabulary} <= set(new.strip("?.").split())
    assert "colour" in " ".join(rewritten) and " color " not in " ".join(rewritten)
    assert paraphrase(texts[0], 3, keep) == paraphrase(texts[0], 3, keep)
    with pytest.raises(ValueError, match="not an easy-VQA question template"):
        paraphrase("how many shapes are there?", 0)


def test_the_paraphrase_shift_changes_only_the_test_questions(few_test_images: None) -> None:
    plain = EasyVQADataset(EasyVQAConfig()).load()
    shifted = EasyVQADataset(EasyVQAConfig(test_shift="paraphrase")).load()
    assert shifted.train.equals(plain.train) and shifted.names["test"] == "easy_vqa test (paraphrased)"
    assert shifted.test["image"].tolist() == plain.test["image"].tolist()
    assert shifted.test["answer"].tolist() == plain.test["answer"].tolist()
    assert not (shifted.test["question"] == plain.test["question"]).any()


def test_the_shift_sweep_example_expands_to_valid_specs() -> None:
    """examples/ablation_shift.yaml: every variant is a valid spec on the shifted source (nothing is trained)."""
    from mmfusion.sweep.spec import load_sweep
    from mmfusion.sweep.variants import all_variants, variant_spec

    from ..conftest import EXAMPLES

    sweep = load_sweep(EXAMPLES / "ablation_shift.yaml")
    base, variants = all_variants(sweep)
    specs = {v.name: variant_spec(base, v, seed=0) for v in variants}
    assert {"image only", "text only", "concat", "attention", "concat+ogm_ge", "concat+views"} <= set(specs)
    assert all(s.data.source.test_shift == "render" for s in specs.values())
    assert specs["concat+aux"].train.aux_unimodal is not None and specs["concat+mod_dropout"].train.modality_dropout
    assert specs["concat+views"].model.encoders["image"].augment.views == 4
    kept = specs["attention+mod_dropout_keep"].train.modality_dropout
    assert kept.keep_full and kept.warmup_epochs == 2
    assert specs["attention+mod_dropout_keep"].model.fusion.type == "attention"
    assert len(variants) == 14  # 12 fused variants and the two baselines (the ensemble is made from them): 42 runs


def test_the_dropout_forms_example_expands_to_valid_specs() -> None:
    from mmfusion.sweep.spec import load_sweep
    from mmfusion.sweep.variants import all_variants, variant_spec

    from ..conftest import EXAMPLES

    base, variants = all_variants(load_sweep(EXAMPLES / "ablation_dropout_forms.yaml"))
    dropout = {v.name: variant_spec(base, v, seed=0).train.modality_dropout for v in variants}
    assert dropout["concat"] is None
    assert [(d.warmup_epochs, d.keep_full) for name, d in dropout.items() if d is not None] == [
        (0, False), (2, False), (0, True), (2, True)]


def test_the_degradation_sweep_example_expands_to_valid_specs() -> None:
    """examples/ablation_degradation.yaml: every option of graceful degradation on its fusions (nothing trained)."""
    from mmfusion.sweep.spec import load_sweep
    from mmfusion.sweep.variants import all_variants, variant_spec

    from ..conftest import EXAMPLES

    base, variants = all_variants(load_sweep(EXAMPLES / "ablation_degradation.yaml"))
    specs = {v.name: variant_spec(base, v, seed=0) for v in variants}
    assert specs["concat+graceful"].train.graceful is not None and specs["concat"].train.graceful == "auto"
    assert specs["concat+graceful+gate"].train.quality_gate is not None
    assert specs["concat+mixture+gate"].train.aux_unimodal.inference == "mixture"
    assert specs["concat+dynamic"].train.aux_unimodal.inference == "dynamic"
    assert specs["missing_modality+graceful"].model.fusion.type == "missing_modality"
    assert specs["attention+graceful"].model.fusion.type == "attention"
    assert all(s.data.source.test_shift == "none" for s in specs.values())
