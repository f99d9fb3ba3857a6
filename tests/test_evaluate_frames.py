"""`fluidloss evaluate frames` on real data and checkpoints made by the CLI: the bicubic baseline against an
independent computation, SR and AE rows with the compression ratio, missing weights as marked columns, and one
clear line for bad input."""

import json
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli, spacing

from fluidloss_cli.engine.checkpoints import build_model, load_checkpoint
from fluidloss_cli.engine.loss_names import cost_notice
from fluidloss_cli.engine.physics import energy_spectrum
from fluidloss_cli.engine.upsample import upsample_frame

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16 (Re 1e5, 2e5; 7 frames, no warm-up) and its 16x8 downsampling; a 2x SR and an AE run, one epoch each."""
    folder = tmp_path_factory.mktemp("frames")
    d = SimpleNamespace(fine=folder / "k32.h5", coarse=folder / "k16.h5", out=folder / "eval")
    run_cli("generate", "karman", "--res", "32x16", "--re", "1e5", "2e5", "--frames", "7", "--warmup", "0", "--out", d.fine)
    run_cli("downsample", d.fine, "--res", "16x8", "--out", d.coarse)
    small = ["--epochs", "1", "--batch-size", "4", "--width", "8", "--device", "cpu"]
    run_cli("train", "sr", "--coarse", d.coarse, "--fine", d.fine, "--blocks", "1", "--out", folder / "sr2", *small)
    run_cli("train", "ae", "--data", d.fine, "--latent", "4", "--out", folder / "ae4", *small)
    d.sr, d.ae = folder / "sr2" / "best.pt", folder / "ae4" / "best.pt"
    d.output = run_cli("evaluate", "frames", "--data", d.coarse, "--fine", d.fine, "--sr", d.sr, "--ae", d.ae,
                       "--start", "1", "--stride", "2", "--metrics", "mse,mae,vgg,energy", "--device", "cpu",
                       "--out", d.out).output
    d.report = json.loads((d.out / "frames.json").read_text())
    return d


def frames(path, sim: str, index: list[int]) -> dict[str, torch.Tensor]:
    with h5py.File(path) as handle:
        return {name: torch.from_numpy(handle[sim][name][index]).double() for name in ("velocity_x", "velocity_y", "density")}


def test_bicubic_row_is_the_mse_of_bicubic_upsampling_per_frame(data):
    chosen = [1, 3, 5]
    per_sim = []
    for sim in ("sim_0000", "sim_0001"):
        coarse, fine = frames(data.coarse, sim, chosen), frames(data.fine, sim, chosen)
        up = upsample_frame(coarse, 2)
        per_frame = sum(((up[n] - fine[n]) ** 2).mean(dim=(1, 2)) for n in fine)
        per_sim.append(per_frame)
    stats = data.report["rows"]["bicubic"]["metrics"]["mse"]
    assert stats["frames"] == [3, 3]
    assert np.allclose(stats["per_simulation"], [p.mean().item() for p in per_sim], rtol=1e-5)
    pooled = torch.cat(per_sim)
    assert stats["mean"] == pytest.approx(pooled.mean().item(), rel=1e-5)
    assert stats["std_frames"] == pytest.approx(pooled.std().item(), rel=1e-4)
    # the std of two nearly equal means: float32 rounding of the means, relative to the mean, sets the tolerance
    assert stats["std_simulations"] == pytest.approx(torch.stack([p.mean() for p in per_sim]).std().item(),
                                                     abs=1e-5 * pooled.mean().item())


def test_rows_grids_compression_and_missing_columns(data):
    rows = data.report["rows"]
    assert set(rows) == {"data/reference", "fine/reference", "bicubic", "sr2", "ae4"}
    assert rows["sr2"]["grid"] == rows["ae4"]["grid"] == rows["bicubic"]["grid"] == "fine"
    checkpoint = torch.load(data.ae, weights_only=True)
    assert rows["ae4"]["compression_ratio"] == pytest.approx(checkpoint["task_info"]["compression_ratio"])
    assert rows["sr2"]["compression_ratio"] is None
    assert set(rows["fine/reference"]["metrics"]) == {"energy"}  # a measure of the frame alone
    assert data.report["metrics"]["vgg"]["missing"] and "vgg" not in rows["sr2"]["metrics"]
    assert "vgg missing:" in data.output and "ae4" in data.output and "bicubic" in data.output
    lines = (data.out / "frames.csv").read_text().splitlines()
    assert lines[0].startswith("row,grid,compression_ratio,metric,mean")
    example = np.load(data.out / "example.npz")
    assert {"sr2/velocity_x", "ae4/velocity_y", "bicubic/velocity_x", "reference_fine/velocity_x"} <= set(example.files)


def test_a_dense_autoencoder_compresses_each_frame_to_its_latent_vector(data, tmp_path):
    """`train ae --model ae-dense` (Deep Fluids style): a latent of 8 values per frame, whatever its size, recorded
    with the frame grid its dense layers were built for; the checkpoint rebuilds, encodes and evaluates."""
    run = tmp_path / "dense"
    output = run_cli("train", "ae", "--data", data.fine, "--model", "ae-dense", "--latent", "8", "--epochs", "1",
                     "--batch-size", "4", "--width", "8", "--device", "cpu", "--out", run).output
    values = 32 * 17 + 33 * 16 + 32 * 16  # velocity_x, velocity_y and density of a 32x16 frame
    assert f"-> latent 8x1x1, compression ratio {values / 8:.2f}" in output
    checkpoint = load_checkpoint(run / "best.pt")
    assert checkpoint["model"]["name"] == "ae-dense" and checkpoint["model"]["config"]["grid"] == [33, 17]
    model = build_model(checkpoint)
    frame = torch.randn(2, 3, 33, 17).contiguous(memory_format=torch.channels_last)
    assert model.encode(frame).shape == (2, 8) and model(frame).shape == (2, 3, 33, 17)
    run_cli("evaluate", "frames", "--data", data.fine, "--ae", run / "best.pt", "--metrics", "mse", "--device", "cpu",
            "--out", tmp_path / "eval")
    row = json.loads((tmp_path / "eval" / "frames.json").read_text())["rows"]["dense"]
    assert row["compression_ratio"] == pytest.approx(values / 8) and row["metrics"]["mse"]["mean"] > 0


@pytest.mark.parametrize("args, fragments", [
    (["--sr", "{sr}"], ["--sr needs --fine"]),
    (["--fine", "{coarse}"], ["resolution ratio"]),
    (["--ae", "{sr}"], ["is a 'sr' checkpoint, expected a 'ae' one"]),
    (["--fine", "{fine}", "--stride", "0"], ["--stride must be at least 1"]),
    ([], ["nothing to evaluate"]),
])
def test_bad_input_is_one_clear_line(data, tmp_path, args, fragments):
    args = [a.format(sr=data.sr, coarse=data.coarse, fine=data.fine) for a in args]
    result = run_cli("evaluate", "frames", "--data", data.coarse, *args, "--out", tmp_path / "e", ok=False)
    assert_one_line_error(result, *fragments)


def test_an_earlier_evaluation_is_replaced_only_when_asked(data):
    result = run_cli("evaluate", "frames", "--data", data.coarse, "--fine", data.fine, "--metrics", "mse",
                     "--out", data.out, ok=False)
    assert_one_line_error(result, "already holds a frame evaluation")


def test_bf16_networks_leave_bicubic_alone_and_stay_close_to_float32(data, tmp_path):
    """`evaluate frames --amp bf16`: the SR and AE networks in bf16, the metrics in float32: the bicubic row equals
    the float32 evaluation's, the networks' rows lie within a few percent of theirs."""
    out = tmp_path / "bf16"
    run_cli("evaluate", "frames", "--data", data.coarse, "--fine", data.fine, "--sr", data.sr, "--ae", data.ae,
            "--start", "1", "--stride", "2", "--metrics", "mse,mae,vgg,energy", "--device", "cpu", "--amp", "bf16",
            "--out", out)
    bf16 = json.loads((out / "frames.json").read_text())
    assert (bf16["amp"], data.report["amp"]) == ("bf16", "off")
    for metric in ("mse", "mae"):
        mean = {row: bf16["rows"][row]["metrics"][metric]["mean"] for row in ("bicubic", "sr2", "ae4")}
        theirs = {row: data.report["rows"][row]["metrics"][metric]["mean"] for row in ("bicubic", "sr2", "ae4")}
        assert mean["bicubic"] == theirs["bicubic"]
        assert mean["sr2"] == pytest.approx(theirs["sr2"], rel=0.05)
        assert mean["ae4"] == pytest.approx(theirs["ae4"], rel=0.05)


def test_lsim_is_announced_before_the_work_and_a_run_without_it_says_nothing(data, weights_env, tmp_path):
    args = ["evaluate", "frames", "--data", data.coarse, "--fine", data.fine, "--sr", data.sr, "--device", "cpu"]
    slow = " ".join(run_cli(*args, "--metrics", "lsim,mse", "--out", tmp_path / "slow").output.split())
    assert "lsim in --metrics: every field resized to 224x224" in slow
    assert "leave it out with --metrics mse" in slow and slow.index("lsim in --metrics") < slow.index("wrote ")
    fast = run_cli(*args, "--metrics", "mse,vgg", "--out", tmp_path / "fast").output
    assert "in --metrics:" not in fast


def test_the_notice_names_every_expensive_metric_computed_and_the_rest():
    assert cost_notice(["mse", "vgg"], ["mse", "vgg"]) is None
    assert cost_notice(["lsim", "mse"], ["mse"]) is None  # lsim's weights missing: nothing to pay for
    both = cost_notice(["mse", "lsim", "lpips", "energy"], ["mse", "lsim", "lpips", "energy"])
    assert both.startswith("lsim and lpips in --metrics: ") and "LPIPS's CNN (AlexNet, VGG or SqueezeNet)" in both
    assert both.endswith("leave them out with --metrics mse,energy")
    assert "--metrics with cheaper metrics" in cost_notice(["lsim"], ["lsim"])
    variants = cost_notice(["mse", "lpips-squeeze", "mse+0.1*lsim"], ["mse", "lpips-squeeze", "mse+0.1*lsim"])
    assert variants.startswith("lpips-squeeze and mse+0.1*lsim in --metrics:") and "--metrics mse" in variants


def test_error_spectra_hold_each_rows_error_energy_by_scale(data):
    """frames.json's spectra: the bicubic row's error spectrum is the mean over the evaluated frames of the energy
    spectrum (engine/physics.py, tested on its own) of the bicubic error computed here from the files, and its
    shells hold nearly all of that error's kinetic energy (Parseval; the modes beyond the last whole shell are left
    out); every model row has one, the reference only its energy."""
    spectra = data.report["spectra"]
    with h5py.File(data.fine) as handle:
        step = spacing(handle)
    chosen, errors, energies = [1, 3, 5], [], []
    for sim in ("sim_0000", "sim_0001"):
        coarse, fine = frames(data.coarse, sim, chosen), frames(data.fine, sim, chosen)
        up = upsample_frame(coarse, 2)
        ex, ey = up["velocity_x"] - fine["velocity_x"], up["velocity_y"] - fine["velocity_y"]
        errors.append(energy_spectrum(ex, ey, step)[0])
        u, v = (ex[..., :-1] + ex[..., 1:]) / 2, (ey[..., :-1, :] + ey[..., 1:, :]) / 2
        energies.append(0.5 * (u.square() + v.square()).mean(dim=(1, 2)))
    bicubic = spectra["rows"]["bicubic"]
    assert np.allclose(bicubic["error"], torch.cat(errors).mean(dim=0).numpy(), rtol=1e-5, atol=1e-12)
    assert 0.95 < sum(bicubic["error"]) / torch.cat(energies).mean().item() <= 1 + 1e-6
    assert len(bicubic["error"]) == len(spectra["wavenumbers"][bicubic["grid"]])
    assert spectra["rows"]["sr2"]["error"] is not None and spectra["rows"]["ae4"]["error"] is not None
    assert spectra["rows"]["fine/reference"]["error"] is None and sum(spectra["rows"]["fine/reference"]["energy"]) > 0
