#!/usr/bin/env bash
# GPU check, under 5 minutes on one GPU (run from anywhere; it works in the repository root):
#   1. native solver parity on CUDA (tests/test_native_parity.py, its CUDA cases: float64 step, float32 rollouts)
#   2. CUDA-graph capture of an unrolled SOL training step (benchmarks/cuda_graph_sol.py: capture, replay, compare)
#   3. SOL training samples/s at batch 64, unroll 4, through both solvers (benchmarks/bench_sol_solvers.py)
#   4. the benchmark's ratios on CUDA: fine, coarse, coarse+SOL, coarse+SOL+SR and the plain-solver frontier
#      (Karman 64x32 -> 128x64, a briefly trained SOL and SR; the speed-ups, not the accuracy, are the point)
# Every part runs even if one before failed; the last line says which failed (exit status 1 then).
# Without a GPU it stops at once with one line (exit status 2).
# Usage: bash benchmarks/cuda_check.sh [WORK_DIR]   (PYTHON=... picks the interpreter; default python)
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
if ! available=$("$PY" -c "import torch; print(torch.cuda.is_available())" 2>/dev/null); then
  echo "cuda_check: $PY cannot import torch (set PYTHON=...): nothing checked" >&2
  exit 2
elif [ "$available" != "True" ]; then
  echo "cuda_check: no CUDA device (torch.cuda.is_available() is False with $PY): nothing checked" >&2
  exit 2
fi
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
F=("$PY" -m fluidloss_cli)
failed=()
part() { local name="$1"; shift; echo; echo "== $name"; local t0=$SECONDS
  "$@" || failed+=("$name"); echo "($name: $((SECONDS - t0)) s)"; }

"$PY" -c "import torch; print('cuda_check on', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
part "1 native parity on CUDA" "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_native_parity.py -k cuda
part "2 CUDA-graph capture of an unrolled SOL step" "$PY" benchmarks/cuda_graph_sol.py --batch 64 --unroll 4
part "3 SOL training samples/s, batch 64, unroll 4" "$PY" benchmarks/bench_sol_solvers.py --device cuda \
  --batches 64 --unrolls 4 --steps 3

benchmark_ratios() {
  local d="$WORK"
  "${F[@]}" generate karman --res 128x64 --re 1e5 3e5 --frames 40 --out "$d/train.h5" --overwrite >/dev/null &&
  "${F[@]}" generate karman --res 128x64 --re 2e5 --seed 9 --frames 41 --out "$d/test.h5" --overwrite >/dev/null &&
  "${F[@]}" downsample "$d/train.h5" --res 64x32 --out "$d/train64.h5" --overwrite >/dev/null &&
  "${F[@]}" train sol --data "$d/train64.h5" --width 16 --blocks 2 --unroll 4 --epochs 1 --batch-size 16 \
    --device cuda --out "$d/sol" --overwrite >/dev/null &&
  "${F[@]}" train sr --coarse "$d/train64.h5" --fine "$d/train.h5" --width 16 --blocks 2 --epochs 1 --batch-size 16 \
    --device cuda --out "$d/sr" --overwrite >/dev/null &&
  "${F[@]}" benchmark --data "$d/test.h5" --sol "$d/sol/best.pt" --sr "$d/sr/best.pt" --start 5 --steps 30 \
    --repeats 3 --metrics mse --device cuda --frontier 80x40,96x48,112x56 --out "$d/bench.json"
}
part "4 benchmark ratios on CUDA" benchmark_ratios

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "cuda_check: all 4 parts ran (results above; $WORK holds the benchmark's bench.json and chart)"
else
  echo "cuda_check: FAILED: $(IFS=';'; echo "${failed[*]}")"
  exit 1
fi
