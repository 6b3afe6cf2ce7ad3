"""A generated image + text + table dataset where every modality carries a third of the answer.

The label has three parts: the image's colour tone (warm/cool), the text's keyword (alpha/beta) and
whether the row's ``size`` column is large. Any two modalities pin down at most half of the 8
classes' information (≤ 50% accuracy); all three decide the label exactly. Other columns are noise,
and some cells are empty (missing values).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

COLOURS = {"warm": [(220, 40, 30), (240, 120, 20)], "cool": [(30, 60, 220), (40, 180, 90)]}
KEYWORDS = {"alpha": ["alpha", "one"], "beta": ["beta", "two"]}
FILLER = "the a shape image shows small large is in of".split()


def make_tabular_dataset(folder: str | Path, n: int = 400, *, seed: int = 0, image_size: int = 32) -> Path:
    """Write ``images/`` and ``data.csv`` (image, text, size, weight, shop, label); returns the CSV path."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tone, key, large = rng.choice(sorted(COLOURS)), rng.choice(sorted(KEYWORDS)), rng.random() < 0.5
        colour = tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in rng.choice(COLOURS[tone]))
        Image.new("RGB", (image_size, image_size), colour).save(folder / "images" / f"{i:05d}.png")
        words = rng.sample(FILLER, 4) + [rng.choice(KEYWORDS[key])]
        rng.shuffle(words)
        size = rng.gauss(30.0 if large else 10.0, 3.0)
        rows.append({
            "image": f"images/{i:05d}.png",
            "text": " ".join(words),
            "size": f"{size:.2f}",
            "weight": "" if rng.random() < 0.2 else f"{rng.gauss(5, 2):.2f}",  # noise, sometimes missing
            "shop": rng.choice(["north", "south", "east", ""]),                  # noise, sometimes missing
            "label": f"{tone}-{key}-{'large' if large else 'small'}",
        })
    path = folder / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
