"""Dataset source ``easy_vqa``: the easy-VQA dataset (pip package easy-vqa), offline.

Each row is a question about a 64×64 image of one coloured shape; the answer (13 classes: shapes,
colours, yes/no) is the label. Neither modality alone answers it, which makes it a good check that
fusion works. Train and test come from the package's own split.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..errors import DataError
from ..hookspecs import hookimpl
from ..interfaces.config import DatasetConfig
from ..interfaces.dataset import DatasetSource, DatasetTables


class EasyVQAConfig(DatasetConfig):
    type: Literal["easy_vqa"] = "easy_vqa"
    with_test: bool = Field(True, description="Provide the package's test split as the test table.")


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
        test = table(easy_vqa.get_test_questions(), easy_vqa.get_test_image_paths()) if self.config.with_test else None
        return DatasetTables(train=train, test=test, columns={"image": "image", "text": "question"},
                             label_column="answer", labels=list(easy_vqa.get_answers()),
                             names={"train": "easy_vqa train", "test": "easy_vqa test"}, first_row=0,
                             group_column="image_id")


@hookimpl
def mmfusion_datasets() -> list[type]:
    return [EasyVQADataset]
