"""``mmfusion embed RUN --csv FILE --out FILE``: each row's fused and pooled vectors, written a chunk at a time."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--csv", "table", type=click.Path(path_type=Path), required=True,
              help="The rows to embed: a CSV/TSV/Parquet file with the training columns.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Where to write them, by suffix: .parquet (row, vectors, <input>.present columns), .npz (the "
              "same arrays) or .npy (one vector: pick it with --what).")
@click.option("--what", default="fused,pooled", show_default=True, metavar="VECTORS",
              help="Comma-separated: fused (the fusion's output, the head's input), pooled (every input's pooled "
              "encoder vector) or input names (that input's).")
@click.option("--image-root", type=click.Path(path_type=Path), default=None,
              help="Folder relative image paths resolve against (default: the table's folder).")
@click.option("--on-bad-value", type=click.Choice(["error", "absent"]), default="error", show_default=True,
              help="Unusable values (a missing or unreadable image file ...): an error naming the row, or treat them "
              "as absent for their rows (NaN vector, <input>.present false).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--chunk-rows", type=click.IntRange(min=1), default=None,
              help="Rows read, embedded and written at a time (default: 50,000); memory holds one chunk.")
def embed(run_dir: Path, table: Path, out: Path, what: str, image_root: Path | None, on_bad_value: str, device: str,
          batch_size: int, chunk_rows: int | None) -> None:
    """Embed every row of a table with the model of RUN_DIR: the fused vector and each input's pooled vector
    (an input a row lacks: a NaN vector and <input>.present false). See docs/embed.md."""
    from ..data.files import CHUNK_ROWS
    from ..io import check_output_file
    from ..prediction.embedding_files import embedding_format
    from ..prediction.predictor import Predictor

    embedding_format(out)  # a suffix we cannot write fails before the model loads
    check_output_file(out, "--out")
    predictor = Predictor(run_dir, device=device, batch_size=batch_size)
    rows = predictor.embed_table(table, out, what=what, root=image_root, chunk_rows=chunk_rows or CHUNK_ROWS,
                                 on_bad_value=on_bad_value)
    click.echo(f"wrote the embeddings of {rows} rows to {out}", err=True)
