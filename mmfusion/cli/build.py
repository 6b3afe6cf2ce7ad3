"""``mmfusion build SPEC``: validate, assemble, show what was built and run one forward pass."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..runtime.devices import DEVICE_CHOICES
from .output import console, human_count, print_json, table


@click.command()
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option("--device", default="auto", show_default=True, help=f"One of {', '.join(DEVICE_CHOICES)}.")
@click.option("--num-classes", type=click.IntRange(min=2), default=None,
              help="Classes for the head (default: data.labels, else the labels in the spec's training data, else 2).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of tables.")
@click.option("--no-forward", is_flag=True, help="Skip the forward pass on a dummy batch.")
def build(spec_file: Path, device: str, num_classes: int | None, as_json: bool, no_forward: bool) -> None:
    """Validate SPEC_FILE, build the model and run it on a small dummy batch (with absent modalities),
    checking every component's output against the width it declares."""
    from ..model.builder import build_model
    from ..model.forward_check import check_forward
    from ..model.summary import summarize
    from ..registry import get_registry
    from ..runtime.devices import resolve_device
    from ..spec import load_spec

    spec = load_spec(spec_file)
    target = resolve_device(device)
    classes, classes_from, task = _class_count(spec, num_classes)
    if task is not None:  # found in the data: train.loss and train.monitor must fit it, as training will check
        spec = spec.for_task(task[0], get_registry(), why=task[1])
    started = time.perf_counter()
    model = build_model(spec, classes).to(target)
    build_seconds = time.perf_counter() - started
    rows = summarize(model)
    forward: dict[str, object] | None = None
    if not no_forward:
        report = check_forward(model, size=4, device=target, num_classes=classes)
        forward = {"batch_size": report.batch_size, "present": report.present,
                   "logits_shape": list(report.logits_shape), "seconds": report.seconds}
    if as_json:
        print_json({"spec": str(spec_file), "device": str(target), "num_classes": classes, "classes_from": classes_from,
                    "build_seconds": round(build_seconds, 3), "components": [r.as_dict() for r in rows],
                    "parameters": sum(r.parameters for r in rows),
                    "trainable": sum(r.trainable for r in rows), "forward": forward})
        return
    _print_table(spec_file, target, classes, rows, forward)
    if classes_from == "placeholder":
        console().print(f"[dim]the head has {classes} placeholder classes: the spec lists no data.labels and names "
                        "no training data that could be read; pass --num-classes N to build the real head[/dim]")


def _class_count(spec: object, requested: int | None) -> tuple[int, str, tuple[str, str] | None]:
    """How many classes the head gets, where that number came from, and the task the training data implies with
    why (None when the data was not read).

    The training data is read only when the spec neither lists its labels nor is told the count; data that
    cannot be read is not an error here (``train`` reports it), the head then gets a placeholder size.
    """
    if requested:
        return requested, "--num-classes", None
    data = getattr(spec, "data", None)
    if data is None:
        return 2, "placeholder", None
    if data.task == "binary":
        return 1, "data.task: binary (one logit)", None
    if data.labels:
        return len(data.labels), "data.labels", None
    if data.source is None:
        return 2, "placeholder", None
    from ..data.label_lists import infer_task
    from ..data.labels import LabelSet
    from ..data.tables import source_tables
    from ..errors import MMFusionError

    try:
        tables = source_tables(data)
        label_column = data.label or tables.label_column or "label"
        task, reason = infer_task(data, tables.train, label_column)
        labels = LabelSet.from_training_data(tables.train, label_column, given=None, source_order=tables.labels,
                                             where=tables.names.get("train", "training table"), task=task,
                                             sep=data.label_sep)
    except (MMFusionError, OSError, ValueError):
        return 2, "placeholder", None
    return labels.num_outputs, "training data", (task, reason)


def _print_table(spec_file, device, classes, rows, forward) -> None:  # type: ignore[no-untyped-def]
    outputs = "1 output" if classes == 1 else f"{classes} classes"
    shown = table(f"{spec_file} → model on {device} ({outputs})",
                  ("component", "type", "modality", "output dim", "parameters", "trainable"),
                  [(r.component, r.type, r.modality, str(r.output_dim), human_count(r.parameters),
                    human_count(r.trainable) + (" (frozen)" if r.frozen else f" ({r.peft})" if r.peft else ""))
                   for r in rows], left=3)
    shown.add_section()
    shown.add_row("total", "", "", "", human_count(sum(r.parameters for r in rows)),
                  human_count(sum(r.trainable for r in rows)))
    out = console()
    out.print(shown)
    if forward is not None:
        pattern = ", ".join(
            f"{m}: {''.join('■' if p else '·' for p in present)}" for m, present in forward["present"].items()
        )
        out.print(f"[green]✓[/green] forward pass: batch of {forward['batch_size']} ({pattern}; · = absent) → "
                  f"logits {tuple(forward['logits_shape'])} in {forward['seconds']}s")
