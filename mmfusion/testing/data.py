"""Small generated datasets with a known answer, for tests, demos and plugin authors.

``make_xor_dataset`` writes coloured images and short texts where the label depends on both the
image's colour tone (warm or cool) and the text's keyword (alpha or beta):

- ``task="xor"`` (2 classes): the XOR of the two. Each modality alone is exactly at chance (50%);
  only a model that combines features of both (not just their decisions) gets it right.
- ``task="pairs"`` (4 classes): the pair itself. Each modality alone gets at most 50% (chance 25%);
  any fusion, even averaging per-modality decisions, can reach 100%.
- ``task="text"`` (2 classes): the keyword alone (alpha or beta); the picture's tone is drawn independently of
  it and tells nothing (attribution tests: the text decides).

``make_multilabel_dataset`` writes the same kind of rows with a set of labels each, where some labels need
the image, some the text and one both (see its docstring).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

COLOURS = {"warm": [(220, 40, 30), (240, 120, 20), (200, 30, 120)], "cool": [(30, 60, 220), (20, 160, 200),
                                                                             (40, 180, 90)]}
KEYWORDS = {"alpha": ["alpha", "one"], "beta": ["beta", "two"]}
FILLER = "the a shape image shows small large is in of".split()


def make_xor_dataset(folder: str | Path, n: int = 200, *, seed: int = 0, image_size: int = 32,
                     missing_text: int = 0, missing_image: int = 0, name: str = "data.csv",
                     task: str = "xor") -> Path:
    """Write ``images/*.png`` and ``name`` (columns image, text, label) into ``folder``; returns the CSV path.

    ``task`` is "xor", "pairs" or "text" (see the module docstring); the last ``missing_text`` rows get an empty
    text cell and the ``missing_image`` rows before them an empty image cell (absent modality).
    """
    folder, rng, rows = _image_folder(folder), random.Random(seed), []
    for i in range(n):
        tone, key = _tone_and_key(rng)
        label = (f"{tone}-{key}" if task == "pairs" else key if task == "text"
                 else "same" if (tone == "warm") == (key == "alpha") else "different")
        colour = tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in rng.choice(COLOURS[tone]))
        rows.append({"image": _picture(folder, i, image_size, colour), "text": _text(rng, key), "label": label})
    for row in rows[len(rows) - missing_text:] if missing_text else []:
        row["text"] = ""
    for row in rows[len(rows) - missing_text - missing_image:len(rows) - missing_text] if missing_image else []:
        row["image"] = ""
    return _write_csv(folder / name, rows)


#: labels of :func:`make_multilabel_dataset`, and the input each one needs
MULTILABEL_LABELS = {"warm": "image", "bright": "image", "alpha": "text", "urgent": "text", "match": "both"}


def make_multilabel_dataset(folder: str | Path, n: int = 300, *, seed: int = 0, image_size: int = 32,
                            name: str = "data.csv", sep: str = ";") -> Path:
    """Write ``images/*.png`` and ``name`` (columns image, text, labels) into ``folder``: multilabel rows; returns
    the CSV path.

    Each row has any of five labels (:data:`MULTILABEL_LABELS`): ``warm`` (the picture's tone is warm) and
    ``bright`` (it is light rather than dark) need the image; ``alpha`` (the text's keyword is alpha, not beta)
    and ``urgent`` (the text says so) need the text; ``match`` (warm and alpha agree: both or neither) needs
    both. A model that sees one input can learn two labels and guess the other three; a fusion can learn all
    five. The labels cell joins a row's labels with ``sep`` (spec: ``data.label_sep``); a row with none of
    them (about one in sixteen) holds ``sep`` alone.
    """
    folder, rng, rows = _image_folder(folder), random.Random(seed), []
    for i in range(n):
        tone, key = _tone_and_key(rng)
        bright, urgent = rng.random() < 0.5, rng.random() < 0.5
        scale = 1.0 if bright else 0.4
        colour = tuple(min(255, max(0, int((c + rng.randint(-15, 15)) * scale)))
                       for c in rng.choice(COLOURS[tone]))
        path = _picture(folder, i, image_size, colour)
        has = {"warm": tone == "warm", "bright": bright, "alpha": key == "alpha", "urgent": urgent,
               "match": (tone == "warm") == (key == "alpha")}
        labels = [label for label in MULTILABEL_LABELS if has[label]]
        rows.append({"image": path, "text": _text(rng, key, *(["urgent"] if urgent else [])),
                     "labels": sep.join(labels) if labels else sep})
    return _write_csv(folder / name, rows)


def _tone_and_key(rng: random.Random) -> tuple[str, str]:
    return rng.choice(sorted(COLOURS)), rng.choice(sorted(KEYWORDS))


def _picture(folder: Path, index: int, size: int, colour: tuple[int, ...]) -> str:
    """A one-colour picture saved in ``folder``, by the path the CSV names it."""
    from PIL import Image

    path = f"images/{index:05d}.png"
    Image.new("RGB", (size, size), colour).save(folder / path)
    return path


def _text(rng: random.Random, key: str, *extra: str) -> str:
    """Four filler words and one of the keyword's words (then ``extra``), shuffled."""
    words = [*rng.sample(FILLER, 4), rng.choice(KEYWORDS[key]), *extra]
    rng.shuffle(words)
    return " ".join(words)


def make_shortcut_dataset(folder: str | Path, *, n_train: int = 240, n_validation: int = 60, n_test: int = 120,
                          seed: int = 0, image_size: int = 32, noise: int = 60, tint: int = 40,
                          shifted_validation: bool = False) -> dict[str, Path]:
    """Write ``images/*.png`` and ``train.csv``, ``validation.csv``, ``test.csv`` (columns image, text, label):
    a text shortcut that does not transfer, for the options against modality imbalance.

    The label (warm or cool) is the picture's tone in every split: a noisy image (per-pixel noise of ``±noise``)
    tinted red or blue by ``tint``, so the image predicts it everywhere but takes some learning. In the training
    rows the text is the keyword that goes with the label (alpha for warm, beta for cool), a shortcut a model
    picks up at once; in the test rows the keyword is drawn at random, so the text is noise there. A model that
    leans on the text falls to chance on the test rows; one that learned the image does not. The validation rows
    follow the training rows, or with ``shifted_validation`` the test rows (a labelled sample of the data the
    model will meet, which is what tuning on validation data needs to see the shift). Returns the CSV paths by
    split.
    """
    import numpy as np
    from PIL import Image

    folder = _image_folder(folder)
    rng = random.Random(seed)
    pixel_rng = np.random.default_rng(seed)
    paths = {}
    index = 0
    for split, count in (("train", n_train), ("validation", n_validation), ("test", n_test)):
        rows = []
        for _ in range(count):
            label = rng.choice(["cool", "warm"])
            sign = 1 if label == "warm" else -1
            base = np.array([128 + sign * tint, 128, 128 - sign * tint])
            pixels = base + pixel_rng.integers(-noise, noise + 1, size=(image_size, image_size, 3))
            path = f"images/{index:05d}.png"
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(folder / path)
            index += 1
            if split == "train" or (split == "validation" and not shifted_validation):
                key = "alpha" if label == "warm" else "beta"
            else:
                key = rng.choice(["alpha", "beta"])
            rows.append({"image": path, "text": key, "label": label})
        paths[split] = _write_csv(folder / f"{split}.csv", rows)
    return paths


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """The rows as a CSV file with the first row's keys as the header."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _image_folder(folder: str | Path) -> Path:
    """``folder`` with an ``images/`` folder inside, made if needed."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    return folder
