#!/usr/bin/env bash
# Re-check the published Solver-in-the-Loop ranking (docs/study_pbdl) on Karman simulations this project never
# generated: a new seed (7; the study trained on seed 0 and tested on seed 100) at new Reynolds numbers, inside and
# beyond the regime's training range, then every published checkpoint of the regime evaluated at once, as the study
# evaluates (100-step rollouts from frames 0, 150 and 300, scored on velocity). `evaluate` prints each loss's verdict
# against MSE by the decision rule of docs/study.md and stores it in evaluation.json (`against_mse`).
# Usage: bash sample_configs/recheck_pbdl.sh [WORK_DIR] [a|b]     (regime a: the book's Re; b: Re 1e4 .. 2e5)
# Steps whose output exists are skipped, so an interrupted re-check continues where it stopped. Cost on two CPU
# cores: generating the 4 simulations takes under a minute; the evaluation about 2 minutes per model with the machine
# otherwise idle (the perceptual metrics at 224x224 are most of it), so regime A's 18 models take about 40 minutes.
# The environment may set CHECKPOINTS (a folder of checkpoints named as the study exports them), FRAMES, WARMUP,
# STARTS, STEPS and METRICS instead of the study's; FLUIDLOSS the command (default fluidloss).
set -euo pipefail
WORK="${1:-recheck_pbdl}"
REGIME="${2:-a}"
CHECKPOINTS="${CHECKPOINTS:-$(cd "$(dirname "$0")/.." && pwd)/docs/study_pbdl/checkpoints}"
FRAMES="${FRAMES:-401}" WARMUP="${WARMUP:-650}" STARTS="${STARTS:-0 150 300}" STEPS="${STEPS:-100}"
METRICS="${METRICS:-mse,mae,lsim,lpips-squeeze,divergence,energy,spectrum,spectrum_high,vorticity}"
F="${FLUIDLOSS:-fluidloss}"
step() { [ -e "$1" ] && echo "have $1" || { shift; echo "+ $*"; "$@"; }; }

[ -d "$CHECKPOINTS" ] || { echo "error: no folder of checkpoints $CHECKPOINTS" >&2; exit 2; }
CHECKPOINTS="$(cd "$CHECKPOINTS" && pwd)"
case "$REGIME" in
  a) RE=(2.4e5 9.6e5 3.84e6 1e7); MODELS=$(find "$CHECKPOINTS" -name 'sol_*.pt' ! -name 'sol_b_*' | sort) ;;
  b) RE=(1.3e4 2.5e4 6e4 1.5e5); MODELS=$(find "$CHECKPOINTS" -name 'sol_b_*.pt' | sort) ;;
  *) echo "error: the regime is a or b, not '$REGIME'" >&2; exit 2 ;;
esac
[ -n "$MODELS" ] || { echo "error: no published checkpoint of regime $REGIME in $CHECKPOINTS" >&2; exit 2; }
mkdir -p "$WORK" && cd "$WORK"

step "fine_$REGIME.h5"   $F generate karman --res 128x64 --re "${RE[@]}" --seed 7 --frames "$FRAMES" \
  --warmup "$WARMUP" --workers 2 --out "fine_$REGIME.h5"
step "coarse_$REGIME.h5" $F downsample "fine_$REGIME.h5" --res 64x32 --out "coarse_$REGIME.h5"
ARGS=(); for model in $MODELS; do ARGS+=(--sol "$model"); done
for start in $STARTS; do ARGS+=(--start "$start"); done
step "evaluation_$REGIME/evaluation.json" $F evaluate rollout --data "coarse_$REGIME.h5" "${ARGS[@]}" \
  --steps "$STEPS" --metrics "$METRICS" --device cpu --out "evaluation_$REGIME"
echo "re-check done: $WORK/evaluation_$REGIME/evaluation.json (against_mse), $WORK/evaluation_$REGIME/summary.csv"
