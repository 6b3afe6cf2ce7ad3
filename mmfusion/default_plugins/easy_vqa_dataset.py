"""Dataset source ``easy_vqa``: the easy-VQA dataset (pip package easy-vqa), offline.

Each row is a question about a 64×64 image of one coloured shape; the answer (13 classes: shapes,
colours, yes/no) is the label. Neither modality alone answers it, which makes it a good check that
fusion works. Train and test come from the package's own split. ``test_shift: render`` replaces the test
pictures by re-rendered ones (:mod:`.easy_vqa_shift`): a real distribution shift with the same questions and
answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ..errors import DataError
from ..hookspecs import hookimpl
from ..interfaces.config import DatasetConfig
from ..interfaces.dataset import DatasetSource, DatasetTables


class EasyVQAConfig(DatasetConfig):
    type: Literal["easy_vqa"] = "easy_vqa"
    with_test: bool = Field(True, description="Provide the package's test split as the test table.")
    test_shift: Literal["none", "render"] = Field(
        "none", description="render: the test pictures re-rendered (textured background, outlines, blur, noise, "
        "JPEG), shapes and colours kept, so the labels stay true; train and validation are unchanged.")
    shift_seed: int = Field(0, description="Seed of the re-rendering (test_shift: render).")
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
        test = None
        if self.config.with_test:
            test = table(easy_vqa.get_test_questions(), self._test_paths(easy_vqa.get_test_image_paths()))
        test_name = "easy_vqa test" + (" (re-rendered)" if self.config.test_shift == "render" else "")
        return DatasetTables(train=train, test=test, columns={"image": "image", "text": "question"},
                             label_column="answer", labels=list(easy_vqa.get_answers()),
                             names={"train": "easy_vqa train", "test": test_name}, group_column="image_id")

    def _test_paths(self, paths: dict[int, str]) -> dict[int, str]:
        """The package's test pictures, or their re-rendered copies (rendered on first use)."""
        if self.config.test_shift == "none":
            return paths
        from ..data.feature_cache import default_cache_dir
        from .easy_vqa_shift import RENDER_VERSION, shifted_paths

        root = Path(self.config.shift_dir).expanduser() if self.config.shift_dir else default_cache_dir() / "easy_vqa"
        return shifted_paths(paths, root / f"test-render-v{RENDER_VERSION}-seed{self.config.shift_seed}",
                             self.config.shift_seed)


@hookimpl
def mmfusion_datasets() -> list[type]:
    return [EasyVQADataset]
