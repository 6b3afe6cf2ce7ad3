#!/usr/bin/env bash
# The GPU check: one script to run when a CUDA machine is at hand (see benchmarks/README.md, "On a GPU").
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # default OUT_DIR: gpu-check/
#
# 1. installs the project (unless `import mmfusion, torch` already works with CUDA, e.g. a prepared venv);
# 2. runs the tests that take a device on CUDA (MMFUSION_TEST_DEVICE=cuda), then the fast suite;
# 3. training throughput of the article's architecture against the reference loop on the same GPU, with
#    mmfusion in fp32, bf16 and fp16 (benchmarks/train_throughput.py --device cuda);
# 4. prediction throughput (benchmarks/predict_throughput.py --device cuda).
# Every step writes its output under OUT_DIR; a failing step is recorded and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-check}"
mkdir -p "$OUT"
STATUS=0

step() {  # step NAME COMMAND...: run, keep stdout+stderr in OUT/NAME.log, record the exit code
    local name="$1"; shift
    echo "== $name: $*"
    local started=$SECONDS
    "$@" >"$OUT/$name.log" 2>&1
    local code=$?
    echo "$name exit=$code seconds=$((SECONDS - started))" | tee -a "$OUT/steps.txt"
    tail -n 25 "$OUT/$name.log"
    [ "$code" -eq 0 ] || STATUS=1
}

if ! python -c "import torch, mmfusion; assert torch.cuda.is_available()" 2>/dev/null; then
    if [ ! -d .venv ]; then python3 -m venv .venv; fi
    . .venv/bin/activate
    python -c "import torch, mmfusion" 2>/dev/null || pip install -q -r requirements-dev.txt
fi
python - <<'EOF' | tee "$OUT/device.txt"
import torch
assert torch.cuda.is_available(), "no CUDA device: this script is for a GPU machine"
p = torch.cuda.get_device_properties(0)
print(f"{p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}, torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()}")
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 2
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

export MMFUSION_TEST_DEVICE=cuda
step tests-on-cuda python -m pytest -q -p no:cacheprovider tests/test_on_device.py tests/training/test_precision.py
step fast-suite python -m pytest -q -p no:cacheprovider -m "not slow" -x
step train-throughput python benchmarks/train_throughput.py --device cuda --steps 40 --n 600
step predict-throughput python benchmarks/predict_throughput.py --device cuda --rows 1024
echo "figures and logs in $OUT/ (steps.txt lists each step's exit code)"
exit $STATUS
