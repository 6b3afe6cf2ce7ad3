"""Status lines: one per epoch, and the training curves plot (also when training stops early or fails)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...interfaces.callback import Callback

if TYPE_CHECKING:
    from ..context import TrainingContext


#: validation metrics the epoch line shows, when the row has them (multilabel rows have six: three are enough)
SHOWN = {"val_auroc": "AUROC", "val_accuracy": "acc", "val_micro_f1": "micro-F1", "val_macro_f1": "macro-F1",
         "val_f1": "F1", "val_map": "mAP"}


def epoch_line(row: dict[str, Any], is_best: bool) -> str:
    parts = [f"epoch {row['epoch']}", f"train loss {row['train_loss']:.4f}"]
    if row.get("val_loss") is not None:
        parts.append(f"val loss {row['val_loss']:.4f}")
        parts += [f"val {SHOWN[key]} {value:.4f}" for key, value in row.items() if key in SHOWN and value is not None]
    parts.append(f"{row['seconds']:.1f}s ({row['train_samples_per_s'] or 0:.1f} samples/s)")
    return " | ".join(parts) + (" [best]" if is_best else "")


class Progress(Callback):
    """The epoch's line on the reporter (progress bars are the loop's)."""

    name = "progress"
    stage = "before"
    stage_order = 10

    def on_epoch_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        ctx.reporter.log(epoch_line(row, ctx.is_best))


class TrainingCurves(Callback):
    """plots/training_curves.png from the history, at the end (about a second: not after every epoch)."""

    name = "training_curves"
    stage = "finish"

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        if ctx.is_main and ctx.history:
            from ...plots import training_curves

            training_curves(ctx.history, ctx.paths.plots / "training_curves.png")

    on_exception = on_fit_end  # the curves so far, also when training fails
