"""Write the multilabel example data: pictures and short texts with any of five labels.

``warm`` and ``bright`` need the picture (its colour tone, its lightness), ``alpha`` and ``urgent`` the text
(its keyword, the word "urgent"), and ``match`` both (warm tone and keyword alpha agree). The labels cell
joins a row's labels with ";" (``data.label_sep`` in examples/multilabel.yaml).

    python examples/make_multilabel_data.py            # → examples/multilabel-data/{data.csv, images/}
    mmfusion train examples/multilabel.yaml
    mmfusion ablate examples/ablation_multilabel.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

from mmfusion.testing.data import make_multilabel_dataset

if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "multilabel-data"
    path = make_multilabel_dataset(folder, n=800, seed=0, image_size=64)
    print(f"wrote {path} and {folder / 'images'} (800 rows)")
