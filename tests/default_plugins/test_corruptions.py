"""Corruptions change inputs as specified, deterministically, and leave intensity 0 unchanged."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from mmfusion.default_plugins.corruptions import Blur, GaussianNoise, Occlusion, Typos, WordDropout
from mmfusion.errors import MMFusionError
from mmfusion.evaluation.corruption_curves import CorruptionPlan, summarise_curves

SENTENCE = "what is the colour of the large shape in the middle of this image"


def _image() -> Image.Image:
    image = Image.new("RGB", (64, 64), (250, 250, 250))
    image.paste((200, 20, 20), (16, 16, 48, 48))
    return image


@pytest.mark.parametrize("corruption", [GaussianNoise(), Blur(), Occlusion()])
def test_image_corruptions(corruption) -> None:  # type: ignore[no-untyped-def]
    image = _image()
    assert corruption.apply(image, 0.0, random.Random(0)) is image
    weak = np.asarray(corruption.apply(image, 0.2, random.Random(1)), dtype=float)
    strong = np.asarray(corruption.apply(image, 0.8, random.Random(1)), dtype=float)
    clean = np.asarray(image, dtype=float)
    assert 0 < np.abs(weak - clean).mean() < np.abs(strong - clean).mean()  # more intensity, more change
    again = np.asarray(corruption.apply(image, 0.8, random.Random(1)), dtype=float)
    assert np.array_equal(strong, again)  # deterministic given the seed


def test_occlusion_covers_the_asked_area() -> None:
    out = np.asarray(Occlusion().apply(Image.new("RGB", (100, 100), (0, 0, 0)), 0.25, random.Random(0)))
    assert (out == 128).all(axis=2).mean() == pytest.approx(0.25, abs=0.01)


def test_text_corruptions() -> None:
    assert WordDropout().apply(SENTENCE, 0.0, random.Random(0)) == SENTENCE
    assert Typos().apply(SENTENCE, 0.0, random.Random(0)) == SENTENCE
    kept = [len(WordDropout().apply(SENTENCE, 0.5, random.Random(s)).split()) for s in range(200)]
    assert np.mean(kept) == pytest.approx(len(SENTENCE.split()) * 0.5, rel=0.15)
    assert WordDropout().apply(SENTENCE, 1.0, random.Random(0)) == ""
    typoed = Typos().apply(SENTENCE, 0.3, random.Random(0))
    assert typoed != SENTENCE and abs(len(typoed) - len(SENTENCE)) < len(SENTENCE) * 0.3


def test_plan_parsing_and_curve_summary() -> None:
    plan = CorruptionPlan.parse("image:blur=0.5,0,1")
    assert plan == CorruptionPlan("image", "blur", (0.0, 0.5, 1.0))
    assert CorruptionPlan.parse("text:typos").intensities == (0.0, 0.25, 0.5, 0.75, 1.0)
    for bad in ("blur", "image:blur=2", "image:blur=a"):
        with pytest.raises(MMFusionError):
            CorruptionPlan.parse(bad)
    rows = [{"modality": "image", "corruption": "blur", "intensity": x, "accuracy": a}
            for x, a in [(0.0, 0.8), (0.5, 0.6), (1.0, 0.4)]]
    [summary] = summarise_curves(rows)
    assert summary["clean_accuracy"] == 0.8 and summary["worst_accuracy"] == 0.4
    assert summary["mean_accuracy"] == pytest.approx(0.6) and summary["relative_robustness"] == pytest.approx(0.75)
