"""The Examples section at the end of every subcommand's `--help`: the commands of README's first workflow and
reference sections, which the tests run or check."""

EXAMPLES: dict[str, list[str]] = {
    "generate": [
        "fluidloss generate karman --re 2e4 5e4 --frames 120 --out train.h5",
        "fluidloss generate karman --re 3e4 --seed 9 --frames 120 --out test.h5",
        "fluidloss generate buoyancy --res 256x256 --frames 250 --out plume.h5",
    ],
    "downsample": [
        "fluidloss downsample train.h5 --res 64x32 --out train_64x32.h5",
    ],
    "export": [
        "fluidloss export train.h5 --out well/data/train/karman.hdf5",
    ],
    "train sol": [
        "fluidloss train sol --data train_64x32.h5 --epochs 10 --out runs/sol_mse",
        "fluidloss train sol --data train_64x32.h5 --loss lsim --epochs 10 --out runs/sol_lsim",
    ],
    "train sr": [
        "fluidloss train sr --coarse train_64x32.h5 --fine train.h5 --loss \"mse+0.1*lsim\" --out runs/sr",
    ],
    "train ae": [
        "fluidloss train ae --data train.h5 --latent 8 --out runs/ae",
    ],
    "evaluate rollout": [
        "fluidloss evaluate rollout --data test_64x32.h5 --sol runs/sol_mse/best.pt --out evaluation",
        "fluidloss evaluate rollout --data test_64x32.h5 --fine test.h5 --sol runs/sol_mse/best.pt "
        "--sr runs/sr/best.pt --start 100 --steps 100 --out evaluation",
    ],
    "evaluate frames": [
        "fluidloss evaluate frames --data test_64x32.h5 --fine test.h5 --sr runs/sr/best.pt --out frames",
        "fluidloss evaluate frames --data test.h5 --ae runs/ae/best.pt --metrics mse,lsim --out frames_ae",
    ],
    "evaluate pair": [
        "fluidloss evaluate pair test_64x32.h5:sim_0000:10 test_64x32.h5:sim_0000:11 --metrics mse,lsim",
        "fluidloss evaluate pair a.png b.png",
    ],
    "simulate": [
        "fluidloss simulate karman --from test_64x32.h5 --steps 100 --sol runs/sol_mse/best.pt "
        "--reference test.h5 --quantity vorticity --out rollout.h5 --render rollout.gif",
        "fluidloss simulate karman --res 64x32 --re 3e4 --steps 200 --out plain.h5",
    ],
    "benchmark": [
        "fluidloss benchmark --data test.h5 --steps 50 --sol runs/sol_mse/best.pt",
        "fluidloss benchmark --data test.h5 --res 32x16 --metrics mse,lsim,vorticity",
    ],
    "study plan": [
        "fluidloss study plan sample_configs/study_smoke.toml --no-probe",
    ],
    "study run": [
        "fluidloss study run sample_configs/study_smoke.toml --out smoke --workers 2",
        "fluidloss study run sample_configs/study_pbdl.toml --out pbdl --workers 2 --first 'sol/karman_a/*/seed0' "
        "--first 'sol/karman_a/*/*'",
    ],
    "study report": [
        "fluidloss study report smoke",
    ],
    "study submit": [
        "fluidloss study submit sample_configs/study_thesis.toml --out thesis --partition gpu --time 12:00:00",
        "fluidloss study submit sample_configs/study_smoke.toml --out smoke --dry-run",
    ],
    "study status": [
        "fluidloss study status thesis",
    ],
    "study cancel": [
        "fluidloss study cancel thesis",
    ],
    "study export": [
        "fluidloss study export smoke published --checkpoints 'sol/karman/mse/*'",
    ],
    "weights list": [
        "fluidloss weights list",
    ],
    "weights import": [
        "fluidloss weights import lsim LSiM.pth",
    ],
    "weights download": [
        "fluidloss weights download",
        "fluidloss weights download vgg16 alexnet",
    ],
}
"""Command path (after `fluidloss`) -> example command lines."""


def examples(command: str) -> str:
    """The help epilog of `command`: its example lines, kept unwrapped (click's `\\b`)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])
