"""Metric properties of every loss (non-negativity, symmetry, d(x, x) = 0), gradients, batching, the size rule,
ranking on real PhiFlow fields, and CPU/CUDA agreement. VGG and LPIPS run on backbone files of random weights."""

import copy
from functools import lru_cache

import pytest
import torch
from weight_fixtures import shared_file

from fluidloss_cli.engine.fields import upsample_to_min
from fluidloss_cli.engine.loss_names import LOSS_CLASSES
from fluidloss_cli.engine.losses import FieldLoss, build_loss, field_loss
from fluidloss_cli.engine.phiflow_grids import velocity_faces

NAMES = list({entry.cls: name for name, entry in reversed(LOSS_CLASSES.items())}.values())[::-1]
"""The first registered name of every loss class (mse, mae, lsim, vgg, lpips: LPIPS with its default AlexNet
backbone); a loss class added to the registry is tested here too. The other VGG layers and LPIPS backbones share
their class's code and are loaded in test_weights.py."""


@pytest.fixture(scope="module")
def losses(backbone_hub, tmp_path_factory) -> dict[str, FieldLoss]:
    """Every loss under test, built once through the registry with the real LSiM.pth and the random backbones."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLUIDLOSS_WEIGHTS_DIR", str(shared_file("weights", "LSiM.pth").parent))
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        mp.setenv("TORCH_HOME", str(backbone_hub))
        return {name: build_loss(name) for name in NAMES}


@lru_cache(maxsize=1)
def plume_velocities() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Staggered velocities (vx [1, 64, 65], vy [1, 65, 64]) of the first 16 steps of a 64x64 PhiFlow smoke plume."""
    from phi.torch import flow

    with flow.math.precision(64):
        box = flow.Box(x=64, y=64)
        smoke = flow.CenteredGrid(0, flow.extrapolation.BOUNDARY, x=64, y=64, bounds=box)
        velocity = flow.StaggeredGrid(0, flow.extrapolation.ZERO, x=64, y=64, bounds=box)
        inflow = 0.2 * flow.resample(flow.Sphere(x=32, y=9.5, radius=5), to=smoke, soft=True)
        frames = []
        for _ in range(16):
            smoke = flow.advect.mac_cormack(smoke, velocity, 1) + inflow
            buoyancy = flow.resample(smoke * (0, 0.1), to=velocity)
            velocity, _ = flow.fluid.make_incompressible(flow.advect.semi_lagrangian(velocity, velocity, 1) + buoyancy)
            frames.append(tuple(torch.from_numpy(f)[None] for f in velocity_faces(velocity)))
    return frames


def pair(shape=(2, 1, 64, 64), seed: int = 0, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random reference field and a noisy prediction of it."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.nn.functional.avg_pool2d(torch.randn(*shape[:2], shape[2] + 4, shape[3] + 4, generator=g), 5, 1)
    return (ref + 0.3 * torch.randn(*shape, generator=g)).to(dtype), ref.to(dtype)


@pytest.mark.parametrize("name", NAMES)
def test_non_negative_symmetric_and_zero_on_identical_fields(losses, name):
    loss = losses[name]
    pred, ref = pair()
    d = loss(pred, ref).item()
    assert d > 0
    assert loss(ref, pred).item() == pytest.approx(d, rel=1e-5)
    assert loss(ref, ref).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_the_prediction_only(losses, name):
    loss = losses[name]
    pred, ref = (t.requires_grad_() for t in pair())
    loss(pred, ref).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert ref.grad is None
    assert all(not p.requires_grad for p in loss.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences_in_float64(losses, name):
    loss64 = copy.deepcopy(losses[name]).double()
    pred, ref = pair(shape=(2, 1, 64, 64), seed=1, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: loss64(p, ref), (pred.requires_grad_(),), fast_mode=True)


@pytest.mark.parametrize("name", NAMES)
def test_identical_fields_give_zero_gradients(losses, name):
    ref = pair()[1]
    pred = ref.clone().requires_grad_()
    losses[name](pred, ref).backward()
    assert torch.count_nonzero(pred.grad) == 0


@pytest.mark.parametrize("name", NAMES)
def test_a_batch_is_the_mean_of_its_samples(losses, name):
    pred, ref = pair(shape=(3, 2, 64, 64), seed=2)
    per_sample = [losses[name](pred[i:i + 1], ref[i:i + 1]).item() for i in range(3)]
    assert losses[name](pred, ref).item() == pytest.approx(sum(per_sample) / 3, rel=1e-4)


@pytest.mark.parametrize("name", ["vgg", "lpips"])
def test_fields_below_64_px_are_enlarged_by_a_whole_factor_not_padded(losses, name):
    pred, ref = pair(shape=(2, 1, 64, 32), seed=3)
    d = losses[name](pred, ref)
    assert d.item() == pytest.approx(losses[name](upsample_to_min(pred), upsample_to_min(ref)).item(), rel=1e-6)
    assert losses[name](ref, ref).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.filterwarnings("ignore")  # PhiFlow's own deprecation and sparse-solver warnings
@pytest.mark.parametrize("name", ["mse", "mae", "lsim"])
def test_a_one_cell_shift_ranks_closer_than_a_later_frame(losses, name):
    frames = plume_velocities()
    vx, vy = frames[10]
    shifted = [torch.roll(vx, 1, dims=2), torch.roll(vy, 1, dims=2)]
    d_shift = field_loss(losses[name], [vx, vy], shifted).item()
    d_later = field_loss(losses[name], [vx, vy], list(frames[15])).item()
    assert 0 < d_shift < d_later


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cpu_and_cuda_agree(losses, name, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    pred, ref = pair(seed=4)
    on_gpu = copy.deepcopy(losses[name]).to("cuda")
    assert on_gpu(pred.cuda(), ref.cuda()).item() == pytest.approx(losses[name](pred, ref).item(), rel=1e-4)
