#!/usr/bin/env bash
# The study's time-cost question for three setups: Karman 64x32 -> 128x64 (2x), Karman 32x16 -> 128x64 (4x) and
# buoyancy 64x64 -> 128x128 (2x). Each trains a small SOL network (width 16) and a small SR network (width 16, two
# blocks), then `fluidloss benchmark` times coarse + SOL + SR against the fine simulation and scores both against it.
# Usage: bash sample_configs/speed_study.sh [WORK_DIR]. Shares WORK_DIR with study.sh (it reuses the Karman data);
# steps whose output exists are skipped, so an interrupted run continues. About an hour on two CPU cores.
set -euo pipefail
WORK="${1:-study}"
mkdir -p "$WORK" && cd "$WORK"
F="${FLUIDLOSS:-fluidloss}"
step() { [ -e "$1" ] && echo "have $1" || { shift; echo "+ $*"; "$@"; }; }
SOL_NET=(--width 16 --blocks 2 --kernel-size 5 --unroll 4 --epochs 4 --batch-size 8 --device cpu --overwrite)
SR_NET=(--width 16 --blocks 2 --loss mse --epochs 5 --batch-size 16 --device cpu --overwrite)
BENCH=(--frame 100 --steps 50 --repeats 5 --device cpu)

# data: Karman as in study.sh plus its 32x16 version; buoyancy with four training seeds and one held out
step train_128x64.h5 $F generate karman --res 128x64 --re 1e5 2e5 4e5 8e5 --frames 300 --workers 2 --out train_128x64.h5
step test_128x64.h5  $F generate karman --res 128x64 --re 6e5 --frames 300 --out test_128x64.h5
for res in 64x32 32x16; do
  step "train_$res.h5" $F downsample train_128x64.h5 --res $res --out "train_$res.h5"
done
step buoyancy_train_128x128.h5 $F generate buoyancy --seed 0 1 2 3 --workers 2 --out buoyancy_train_128x128.h5
step buoyancy_test_128x128.h5  $F generate buoyancy --seed 4 --out buoyancy_test_128x128.h5
step buoyancy_train_64x64.h5   $F downsample buoyancy_train_128x128.h5 --res 64x64 --out buoyancy_train_64x64.h5

# models: one small SOL and one small SR network per setup
step fast_sol_64x32/best.pt $F train sol --data train_64x32.h5 "${SOL_NET[@]}" --out fast_sol_64x32
step fast_sol_32x16/best.pt $F train sol --data train_32x16.h5 "${SOL_NET[@]}" --out fast_sol_32x16
step fast_sol_buoyancy/best.pt $F train sol --data buoyancy_train_64x64.h5 "${SOL_NET[@]}" --out fast_sol_buoyancy
step fast_sr_2x/best.pt $F train sr --coarse train_64x32.h5 --fine train_128x64.h5 "${SR_NET[@]}" --out fast_sr_2x
step fast_sr_4x/best.pt $F train sr --coarse train_32x16.h5 --fine train_128x64.h5 "${SR_NET[@]}" --out fast_sr_4x
step fast_sr_buoyancy/best.pt $F train sr --coarse buoyancy_train_64x64.h5 --fine buoyancy_train_128x128.h5 \
  "${SR_NET[@]}" --out fast_sr_buoyancy

# timings and accuracy against the fine simulation
step speed_karman_2x.json $F benchmark --data test_128x64.h5 --sol fast_sol_64x32/best.pt --sr fast_sr_2x/best.pt \
  "${BENCH[@]}" --out speed_karman_2x.json
step speed_karman_4x.json $F benchmark --data test_128x64.h5 --sol fast_sol_32x16/best.pt --sr fast_sr_4x/best.pt \
  "${BENCH[@]}" --out speed_karman_4x.json
step speed_buoyancy_2x.json $F benchmark --data buoyancy_test_128x128.h5 --sol fast_sol_buoyancy/best.pt \
  --sr fast_sr_buoyancy/best.pt "${BENCH[@]}" --out speed_buoyancy_2x.json
echo "speed study done: $WORK/speed_karman_2x.json, $WORK/speed_karman_4x.json, $WORK/speed_buoyancy_2x.json"
