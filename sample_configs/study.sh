#!/usr/bin/env bash
# A small study, end to end on a CPU: does training SOL with LSiM beat MSE, and is coarse + SOL + SR faster than
# and closer to the fine simulation than the coarse one? Usage: bash sample_configs/study.sh [WORK_DIR]
# Steps whose output exists are skipped, so an interrupted study continues where it stopped. Training a SOL model
# takes about 20 minutes per loss on two cores; the whole study about an hour.
set -euo pipefail
WORK="${1:-study}"
mkdir -p "$WORK" && cd "$WORK"
F="${FLUIDLOSS:-fluidloss}"
step() { [ -e "$1" ] && echo "have $1" || { shift; echo "+ $*"; "$@"; }; }

# data: 4 training Reynolds numbers, 1 held out; fine 128x64 and its 64x32 reference
step train_128x64.h5 $F generate karman --res 128x64 --re 1e5 2e5 4e5 8e5 --frames 300 --workers 2 --out train_128x64.h5
step test_128x64.h5  $F generate karman --res 128x64 --re 6e5 --frames 300 --out test_128x64.h5
step train_64x32.h5  $F downsample train_128x64.h5 --res 64x32 --out train_64x32.h5
step test_64x32.h5   $F downsample test_128x64.h5 --res 64x32 --out test_64x32.h5

# models: SOL with two losses, 2x super-resolution
for loss in mse lsim; do
  step "sol_$loss/best.pt" $F train sol --data train_64x32.h5 --loss $loss --unroll 4 --epochs 4 --batch-size 8 \
    --lr 1e-4 --device cpu --out "sol_$loss" --overwrite
done
step sr_mse/best.pt $F train sr --coarse train_64x32.h5 --fine train_128x64.h5 --loss mse --epochs 5 --batch-size 16 \
  --device cpu --out sr_mse --overwrite

# results: 100-step rollouts on the held-out Reynolds number, timings, a rendered comparison
step evaluation/evaluation.json $F evaluate rollout --data test_64x32.h5 --fine test_128x64.h5 --sol sol_mse/best.pt \
  --sol sol_lsim/best.pt --sr sr_mse/best.pt --start 100 --start 150 --steps 100 --metrics mse,mae,lsim,divergence,energy,spectrum,vorticity \
  --device cpu --out evaluation
step benchmark.json $F benchmark --data test_128x64.h5 --start 100 --steps 50 --sol sol_mse/best.pt --sr sr_mse/best.pt \
  --repeats 3 --device cpu --out benchmark.json
step comparison.gif $F simulate karman --from test_64x32.h5 --start 100 --steps 100 --sol sol_mse/best.pt \
  --sr sr_mse/best.pt --reference test_128x64.h5 --quantity vorticity --device cpu --out rollout.h5 --render comparison.gif
echo "study done: $WORK/evaluation/summary.csv, $WORK/benchmark.json, $WORK/comparison.gif"
