#!/usr/bin/env bash
# The study's time-cost question: is coarse simulation + SOL correction + super-resolution faster than the fine
# simulation, and closer to it than bicubic-upsampled coarse output? Five setups at two fine resolutions:
#   Karman 128x64 fine from 64x32 (2x) and 32x16 (4x); Karman 256x128 fine from 128x64 (2x) and 64x32 (4x);
#   buoyancy 128x128 fine from 64x64 (2x) and 256x256 fine from 128x128 (2x).
# Each setup trains a small SOL network (width 16, two 5x5 blocks, native solver) and a small SR network (width 16,
# two blocks) on developed flow, then `fluidloss benchmark` times every variant on both solvers (the fine one
# included) from a held-out simulation (other seed and Reynolds number), interleaved, median ms per frame.
# The native benchmarks of the setups that name frontier grids also place the learned rows on the plain solver's
# error-versus-cost curve (`benchmark --frontier`, docs/speed.md "Is it cheaper than the plain solver on a somewhat finer
# grid?"): their JSON has the equal-accuracy speed-ups and a *_frontier.png beside it.
# Usage: bash sample_configs/speed_study.sh [WORK_DIR [SETUP...]], e.g. `speed karman_128x64_4x` for one setup (all by
# default); STAGE=train stops before the benchmarks, to time them later on an idle machine. Steps whose output
# exists are skipped, so an interrupted run continues. About 1.5 hours on two CPU cores; time it on an otherwise idle machine (the benchmarks interleave their
# variants, but other jobs still blur the figures). The LSiM column needs the weights installed first
# (`fluidloss weights import lsim LSiM.pth`). docs/speed.md "Is coarse + SOL + SR faster" reports its results.
set -euo pipefail
WORK="${1:-speed}"
mkdir -p "$WORK" && cd "$WORK"
F="${FLUIDLOSS:-fluidloss}"
step() { [ -e "$1" ] && echo "have $1" || { shift; echo "+ $*"; "$@"; }; }
SOL_NET=(--width 16 --blocks 2 --kernel-size 5 --unroll 4 --epochs 3 --batch-size 8 --lr 3e-4 --device cpu --overwrite)
SR_NET=(--width 16 --blocks 2 --loss mse --epochs 5 --batch-size 16 --device cpu --overwrite)
BENCH=(--start 10 --steps 50 --repeats 3 --device cpu --metrics mse,lsim)

# data: four training simulations and one held-out one per fine grid, after the scene's warm-up
data() {  # scene fine
  if [ "$1" = karman ]; then
    step "karman_train_$2.h5" $F generate karman --res "$2" --re 1e5 3e5 6e5 8e5 --frames 60 --workers 2 \
      --out "karman_train_$2.h5"
    step "karman_test_$2.h5" $F generate karman --res "$2" --re 5e5 --seed 9 --frames 61 --out "karman_test_$2.h5"
  else
    step "buoyancy_train_$2.h5" $F generate buoyancy --res "$2" --seed 0 1 2 3 --warmup 60 --frames 60 --workers 2 \
      --out "buoyancy_train_$2.h5"
    step "buoyancy_test_$2.h5" $F generate buoyancy --res "$2" --seed 9 --warmup 60 --frames 61 \
      --out "buoyancy_test_$2.h5"
  fi
}

# setups: name, scene, fine grid, coarse grid, frontier grids (- for none)
SETUPS=(
  "karman_128x64_2x karman 128x64 64x32 80x40,96x48,112x56"
  "karman_128x64_4x karman 128x64 32x16 48x24,64x32,96x48"
  "karman_256x128_2x karman 256x128 128x64 -"
  "karman_256x128_4x karman 256x128 64x32 -"
  "buoyancy_128x128_2x buoyancy 128x128 64x64 80x80,96x96,112x112"
  "buoyancy_256x256_2x buoyancy 256x256 128x128 -"
)
CHOSEN=" ${*:2} "
for setup in "${SETUPS[@]}"; do
  read -r name scene fine coarse frontier <<<"$setup"
  [ "$CHOSEN" = "  " ] || [[ "$CHOSEN" == *" $name "* ]] || continue
  data "$scene" "$fine"
  step "${name}_train.h5" $F downsample "${scene}_train_$fine.h5" --res "$coarse" --out "${name}_train.h5"
  step "${name}_sol/best.pt" $F train sol --data "${name}_train.h5" "${SOL_NET[@]}" --out "${name}_sol"
  step "${name}_sr/best.pt" $F train sr --coarse "${name}_train.h5" --fine "${scene}_train_$fine.h5" "${SR_NET[@]}" \
    --out "${name}_sr"
  [ "${STAGE:-all}" = train ] && continue
  for solver in native phiflow; do
    FRONTIER=()
    [ "$solver" = native ] && [ "$frontier" != - ] && FRONTIER=(--frontier "$frontier")
    step "${name}_$solver.json" $F benchmark --data "${scene}_test_$fine.h5" --sol "${name}_sol/best.pt" \
      --sr "${name}_sr/best.pt" --solver $solver "${BENCH[@]}" "${FRONTIER[@]}" --out "${name}_$solver.json"
  done
done
echo "speed study done: $WORK/*_native.json and $WORK/*_phiflow.json"
