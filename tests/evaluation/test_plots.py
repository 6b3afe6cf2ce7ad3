"""Plots are library calls: valid PNGs, and the caller's matplotlib (backend, pyplot figures) left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # fresh interpreters with another matplotlib backend

# Every kind of plot mmfusion draws (run dirs, evaluate, predict --plot, sweeps), in a fresh interpreter
# whose backend is not Agg, optionally with pyplot already imported and a figure of the caller's open.
SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import matplotlib
    import numpy as np
    from PIL import Image

    folder, with_pyplot = Path(sys.argv[1]), sys.argv[2] == "yes"
    backend = matplotlib.get_backend()
    if with_pyplot:
        import matplotlib.pyplot as plt
        mine = plt.figure()

    from mmfusion.plots import (confusion_matrix_plot, corruption_curves_plot, prediction_plot, robustness_plot,
                                training_curves)
    from mmfusion.sweep.report import write_reports

    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5 + e / 10,
                "val_macro_f1": 0.4 + e / 10} for e in (1, 2, 3)]
    curves = [{"modality": m, "corruption": "noise", "intensity": i, "accuracy": 0.9 - i / 2}
              for m in ("image", "text") for i in (0, 0.5, 1)]
    files = [
        training_curves(history, folder / "curves.png"),
        confusion_matrix_plot(np.array([[3, 1], [0, 4]]), ["a", "b"], folder / "confusion.png"),
        robustness_plot([{"condition": "all modalities", "accuracy": 0.9},
                         {"condition": "without image", "accuracy": 0.6}], folder / "robustness.png"),
        prediction_plot(Image.new("RGB", (16, 16), (200, 0, 0)), "a red square", ["a", "b"], [0.8, 0.2],
                        folder / "prediction.png"),
        prediction_plot(None, "only text", ["a", "b"], [0.3, 0.7], folder / "prediction_text.png"),
        corruption_curves_plot(curves, folder / "corruption.png"),
    ]
    records = [{"variant": v, "seed": s, "inputs": inputs, "metrics": {"accuracy": 0.8 - s / 10, "macro_f1": 0.7},
                "without_metrics": {}, "trainable_parameters": 10, "parameters": 10, "train_seconds": 1.0,
                "wall_seconds": 1.0, "run_dir": "x",
                "corruption_curves": [{**c, "accuracy": c["accuracy"] - s / 10} for c in curves]}
               for v, inputs in (("concat", ["image", "text"]), ("image only", ["image"])) for s in (0, 1)]
    sweep = write_reports(folder, records, ["concat", "image only"], ["image", "text"])
    files += [sweep["plot"], sweep["corruption_curves"]]
    print(json.dumps({
        "before": backend, "after": matplotlib.get_backend(), "files": [str(f) for f in files],
        "pyplot_imported": "matplotlib.pyplot" in sys.modules,
        "open_figures": plt.get_fignums() if with_pyplot else None,
        "mine": mine.number if with_pyplot else None,
    }))
""")


@pytest.mark.parametrize("with_pyplot", [False, True], ids=["no-pyplot", "caller-uses-pyplot"])
def test_plots_leave_the_callers_matplotlib_alone_and_write_pngs(tmp_path: Path, with_pyplot: bool) -> None:
    env = {**os.environ, "MPLBACKEND": "svg", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "yes" if with_pyplot else "no"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == "svg" and result["after"] == "svg"  # no matplotlib.use("Agg") behind our back
    if with_pyplot:
        assert result["open_figures"] == [result["mine"]]  # the caller's figure only: none of ours left open
    else:
        assert not result["pyplot_imported"]  # pyplot (and its global figure manager) never pulled in
    assert len(result["files"]) == 8
    for name in result["files"]:
        path = Path(name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
            image.verify()
