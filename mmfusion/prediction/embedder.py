"""Embedding rows with a trained run: the ``embed`` methods of :class:`~mmfusion.prediction.predictor.Predictor`.

They read rows the way ``predict`` reads them (one table reader, the same row numbering and errors) and run the
same engine pass, asking it for the vectors as well as the scores (:mod:`.embeddings`); files are written a chunk
at a time (:mod:`.embedding_files`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.bad_values import bad_value_policies
from ..data.files import CHUNK_ROWS
from ..errors import DataError
from .embedding_files import embedding_format, write_embeddings
from .embeddings import AbsentTally, Embeddings, Wanted, wanted


class Embedder:
    """The embedding methods of the ``Predictor``, which supplies the run, model, backend and the row readers
    (``_predictions``, ``_table_predictions``) that ``predict`` uses."""

    run: Any
    model: Any
    onnx: Any
    modalities: list[str]
    _predictions: Any
    _table_predictions: Any

    def embed(self, samples: Sequence[Mapping[str, Any]] | Any, *, what: str | Sequence[str] = "fused,pooled",
              root: str | Path | None = None, on_bad_value: str | Mapping[str, str] = "error") -> Embeddings:
        """The fused vector (the fusion's output, the head's input) and each input's pooled encoder vector of
        samples (as :meth:`predict` takes them) or of a DataFrame's rows (as :meth:`predict_table`), in one pass of
        the engine that predicts them; see docs/embed.md.

        Args:
            what: ``fused``, ``pooled`` (every input) and input names, comma-separated or a list.
            on_bad_value: ``error`` (as :meth:`predict`) or ``absent`` (or input → either): an unusable value
                makes the row lack that input.

        Returns:
            :class:`~mmfusion.prediction.embeddings.Embeddings`: ``fused [N, D]``, ``pooled`` input → ``[N, D_i]``
            (NaN rows where the row lacks the input), ``present`` input → ``[N]`` bool, ``rows`` (positions).

        Raises:
            DataError: an ONNX backend (it returns logits only), an unknown ``what``, or what :meth:`predict` and
                :meth:`iter_predict_table` raise.
        """
        import pandas as pd

        if isinstance(samples, pd.DataFrame):
            return Embeddings.concat(list(self.iter_embed_table(samples, what=what, root=root,
                                                                on_bad_value=on_bad_value)))
        want, bad = self._embedding_options(what, on_bad_value)
        found = self._predictions(samples, root=root, embed=want, bad=bad.pending)
        bad.warn()
        return Embeddings.of(found, range(len(samples)), want, self._dims)

    def iter_embed_table(self, table: Any, *, what: str | Sequence[str] = "fused,pooled",
                         root: str | Path | None = None, chunk_rows: int = CHUNK_ROWS,
                         on_bad_value: str | Mapping[str, str] = "error") -> Iterator[Embeddings]:
        """:meth:`embed` of a DataFrame or a CSV/TSV/Parquet file a chunk of at most ``chunk_rows`` rows at a time
        (read as :meth:`iter_predict_table` reads it); ``rows`` holds each row's position in the table."""
        want, bad = self._embedding_options(what, on_bad_value)
        for start, chunk, found in self._table_predictions(table, root, chunk_rows, embed=want, bad=bad.pending):
            bad.settle()
            yield Embeddings.of(found, range(start, start + len(chunk)), want, self._dims)
        bad.warn()

    def embed_table(self, table: Any, out: str | Path, *, what: str | Sequence[str] = "fused,pooled",
                    root: str | Path | None = None, chunk_rows: int = CHUNK_ROWS,
                    on_bad_value: str | Mapping[str, str] = "error") -> int:
        """Write :meth:`iter_embed_table`'s chunks to ``out`` as they come: ``.parquet``, ``.npz`` or ``.npy`` (one
        vector) by its suffix (:mod:`~mmfusion.prediction.embedding_files`); returns the rows written."""
        want, _ = self._embedding_options(what, on_bad_value)
        embedding_format(Path(out), want)  # before any row is read
        return write_embeddings(self.iter_embed_table(table, what=what, root=root, chunk_rows=chunk_rows,
                                                      on_bad_value=on_bad_value), Path(out), want)

    def _embedding_options(self, what: str | Sequence[str], on_bad_value: str | Mapping[str, str]
                           ) -> tuple[Wanted, AbsentTally]:
        """The vectors asked for, and the inputs whose unusable values become absent (→ their messages)."""
        if self.onnx is not None:
            raise DataError("embeddings come from the torch model, but this Predictor runs the exported ONNX model "
                            "(backend='onnx'), whose only output is the logits; use backend='torch' (the default)")
        policies = bad_value_policies(self.run.spec.data.with_bad_value_policy(on_bad_value), self.modalities)
        return wanted(what, self.modalities), AbsentTally(m for m, p in policies.items() if p == "absent")

    @property
    def _dims(self) -> dict[str, int]:
        return {m: int(e.output_dim) for m, e in self.model.encoders.items()}
