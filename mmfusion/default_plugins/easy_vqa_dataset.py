"""Dataset source ``easy_vqa``: the easy-VQA dataset (pip package easy-vqa), offline.

Each row is a question about a 64×64 image of one coloured shape; the answer (13 classes: shapes,
colours, yes/no) is the label. Neither modality alone answers it, which makes it a good check that
fusion works. Train and test come from the package's own split.

``test_shift`` replaces the test split by a shifted copy with the same answers
(:mod:`~mmfusion.default_plugins.easy_vqa_shifts`): ``render`` and ``night`` re-render the pictures in two other
looks, ``noise`` replaces them by pixel noise (a failed camera), ``paraphrase`` rewrites the questions. Train and
validation are never shifted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ..errors import DataError
from ..hookspecs import hookimpl
from ..interfaces.config import DatasetConfig
from ..interfaces.dataset import DatasetSource, DatasetTables
from .easy_vqa_shifts import PICTURE_STYLES, RENDER_VERSION, paraphrase, shifted_paths


class EasyVQAConfig(DatasetConfig):
    type: Literal["easy_vqa"] = "easy_vqa"
    with_test: bool = Field(True, description="Provide the package's test split as the test table.")
    test_shift: Literal["none", "render", "night", "noise", "paraphrase"] = Field(
        "none", description="A distribution shift of the test split that keeps every answer true; train and "
        "validation are unchanged. render: the pictures re-rendered (textured background, outlines, blur, noise, "
        "JPEG). night: the pictures re-rendered in another look (dark gradient, the shape turned and shrunk, "
        "grain). noise: every picture pixel noise, a failed camera (only the questions answer). paraphrase: the "
        "questions in other words, some with a typo.")
    shift_seed: int = Field(0, description="Seed of the shift (which rendering or paraphrase each row gets).")
    shift_dir: str | None = Field(
        None, description="Folder for the re-rendered pictures (default: easy_vqa/ in the feature cache folder, "
        "$MMFUSION_CACHE_DIR or ~/.cache/mmfusion). Written once, then reused.")


class EasyVQADataset(DatasetSource):
    """Columns: image (path), question (text), answer (label)."""

    name = "easy_vqa"
    Config = EasyVQAConfig
    config: EasyVQAConfig

    def load(self) -> DatasetTables:
        import pandas as pd

        try:
            import easy_vqa
        except ImportError:
            raise DataError("dataset 'easy_vqa' needs the easy-vqa package: `pip install easy-vqa==1.0`") from None

        def table(questions, paths) -> pd.DataFrame:  # type: ignore[no-untyped-def]
            texts, answers, image_ids = questions
            return pd.DataFrame({"image": [paths[i] for i in image_ids], "question": texts, "answer": answers,
                                 "image_id": image_ids})

        train = table(easy_vqa.get_train_questions(), easy_vqa.get_train_image_paths())
        test = (table(self._test_questions(easy_vqa.get_test_questions(), easy_vqa.get_answers()),
                      self._test_paths(easy_vqa.get_test_image_paths()))
                if self.config.with_test else None)
        shift = self.config.test_shift
        test_name = "easy_vqa test" + {"none": "", "paraphrase": " (paraphrased)"}.get(shift, f" ({shift} pictures)")
        return DatasetTables(train=train, test=test, columns={"image": "image", "text": "question"},
                             label_column="answer", labels=list(easy_vqa.get_answers()),
                             names={"train": "easy_vqa train", "test": test_name}, group_column="image_id")

    def _test_paths(self, paths: dict[int, str]) -> dict[int, str]:
        """The package's test pictures, or their re-rendered copies (rendered on first use)."""
        style, seed = self.config.test_shift, self.config.shift_seed
        if style not in PICTURE_STYLES:
            return paths
        from ..data.feature_cache import default_cache_dir

        root = Path(self.config.shift_dir).expanduser() if self.config.shift_dir else default_cache_dir() / "easy_vqa"
        return shifted_paths(paths, root / f"test-{style}-v{RENDER_VERSION}-seed{seed}", seed, style)

    def _test_questions(self, questions: tuple[list[str], list[str], list[int]], answers: list[str]
                        ) -> tuple[list[str], list[str], list[int]]:
        """The package's test questions, or (``paraphrase``) each in other words, seeded per row."""
        if self.config.test_shift != "paraphrase":
            return questions
        texts, labels, ids = questions
        keep = frozenset(answers)
        try:
            texts = [paraphrase(q, self.config.shift_seed * 1_000_003 + k, keep) for k, q in enumerate(texts)]
        except ValueError as exc:
            raise DataError(f"easy_vqa test_shift: paraphrase: {exc}; the installed easy-vqa is not version 1.0: "
                            "`pip install easy-vqa==1.0`") from None
        return texts, labels, ids


@hookimpl
def mmfusion_datasets() -> list[type]:
    return [EasyVQADataset]
