"""LSiM parity with the official implementation: published plume values, a float64 transcription of the official
formula, scipy's nearest-neighbour resize, native sizes, and the errors of `lsim_distance`."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from weight_fixtures import shared_file

from fluidloss_cli.engine.losses import lsim_distance
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import rescale_jointly
from fluidloss_cli.engine.losses import build_loss, field_loss
from fluidloss_cli.engine.losses.lsim import LSiMNet, resize_nearest


def plume(name: str) -> np.ndarray:
    """An RGB image [256, 256, 3] of the published LSiM example."""
    return np.array(Image.open(shared_file("reference", "lsim", f"{name}.png")))[..., :3]


def official_float64(path, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The official LSiM forward transcribed literally, in float64: standardise each feature map with the stored
    mean and std (resampled when the map is not 55/26/12 wide), divide by sqrt(C) - 1, weight the squared difference
    with the clamped 1x1 convolution, average over space, sum over slices, take the root."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    sd = {k: v.double() for k, v in ckpt["stateDict"].items()}
    convs = [("slice1.0", 4, 2, False), ("slice2.1", 1, 2, True), ("slice3.1", 1, 1, True),
             ("slice4.0", 1, 1, False), ("slice5.0", 1, 1, False)]
    result = 0
    for i, (name, stride, pad, pool) in enumerate(convs):
        if pool:
            a, b = F.max_pool2d(a, 4, 2), F.max_pool2d(b, 4, 2)
        w, bias = sd[f"basenet.{name}.weight"], sd[f"basenet.{name}.bias"]
        a, b = (F.relu(F.conv2d(x, w, bias, stride=stride, padding=pad)) for x in (a, b))
        acc, m2 = ckpt["normAcc"][i].double(), ckpt["normM2"][i].double()
        if a.shape[-2:] != acc.shape:
            acc, m2 = (F.interpolate(t[None, None], size=a.shape[-2:], mode="bilinear", align_corners=True)[0, 0]
                       for t in (acc, m2))
        std = torch.sqrt(m2 / (ckpt["normCount"][i] - 1))
        na, nb = ((x - acc) / (std + 1e-10) / (math.sqrt(x.shape[1]) - 1) for x in (a, b))
        lin = torch.clamp(sd[f"lin{i}.1.weight"], min=0)
        result = result + F.conv2d((nb - na) ** 2, lin).mean(dim=(2, 3))
    return torch.sqrt(result).view(-1)


def test_published_plume_values(weights_env):
    ref = plume("plumeReference")
    assert lsim_distance(ref, plume("plumeA")) == pytest.approx(0.3791, abs=1e-3)
    assert lsim_distance(ref, plume("plumeB")) == pytest.approx(0.4433, abs=1e-3)


def test_distance_to_itself_is_zero_and_distance_is_symmetric(weights_env):
    ref, other = plume("plumeReference"), plume("plumeB")
    assert lsim_distance(ref, ref) == 0.0
    assert lsim_distance(ref, other) == pytest.approx(lsim_distance(other, ref), rel=1e-6)


@pytest.mark.parametrize("size", [64, 96, 224])
def test_network_matches_a_float64_transcription_of_the_official_formula(weights_env, size):
    ref, other = (torch.from_numpy(plume(n)).permute(2, 0, 1)[None].double() for n in ("plumeReference", "plumeA"))
    a, b = rescale_jointly(resize_nearest(ref, size), resize_nearest(other, size), 0.0, 255.0)
    expected = official_float64(weights_env.weights / "LSiM.pth", a, b)
    net32 = LSiMNet.from_file(weights_env.weights / "LSiM.pth")
    net64 = copy.deepcopy(net32).double()
    # the network keeps the variance as the checkpoint's float32 M2 / (count - 1): float32 rounding, then exact
    assert net64(a, b).item() == pytest.approx(expected.item(), rel=1e-9)
    assert net32(a.float(), b.float()).item() == pytest.approx(expected.item(), rel=1e-5)


def test_resize_matches_scipy_zoom_order_0():
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    image = np.random.default_rng(0).random((256, 256, 3))
    expected = scipy_ndimage.zoom(image, (224 / 256, 224 / 256, 1), order=0)
    ours = resize_nearest(torch.from_numpy(image).permute(2, 0, 1)[None], 224)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(ours, expected)


@pytest.mark.parametrize("shape", [(64, 64), (64, 65), (100, 80), (130, 64)])
def test_native_sizes_from_64_up(weights_env, shape):
    rng = np.random.default_rng(1)
    a, b = rng.random((*shape, 1)), rng.random((*shape, 1))
    d = lsim_distance(a, b, resize_to=None)
    assert math.isfinite(d) and d > 0
    assert lsim_distance(a, a, resize_to=None) == 0.0


def test_one_channel_equals_the_channel_repeated_to_rgb(weights_env):
    a, b = plume("plumeReference")[..., :1], plume("plumeA")[..., :1]
    assert lsim_distance(a, b) == pytest.approx(lsim_distance(np.repeat(a, 3, axis=2), np.repeat(b, 3, axis=2)), rel=1e-6)


def test_the_training_loss_on_64x32_staggered_velocities_is_the_official_distance_per_component(weights_env):
    rng = np.random.default_rng(2)
    shapes = [(3, 32, 65), (3, 33, 64)]  # vx, vy of a 64x32 cell grid, batch 3
    preds, refs = ([torch.from_numpy(rng.standard_normal(s)).float() for s in shapes] for _ in range(2))
    loss = field_loss(build_loss("lsim"), preds, refs)
    official = [sum(lsim_distance(p[n, :, :, None].numpy(), r[n, :, :, None].numpy()) for p, r in zip(preds, refs))
                for n in range(3)]
    assert loss.item() == pytest.approx(sum(official) / 3, rel=1e-5)


@pytest.mark.parametrize("name, published", [("plumeA", 0.3791), ("plumeB", 0.4433)])
def test_the_training_loss_gives_the_published_plume_distances(weights_env, name, published):
    ref, other = (torch.from_numpy(plume(n)[..., 0]).float()[None, None] for n in ("plumeReference", name))
    assert build_loss("lsim")(other, ref).item() == pytest.approx(published, abs=1e-3)


@pytest.mark.parametrize("a_shape, b_shape", [((64, 64, 3), (64, 65, 3)), ((64, 64, 2), (64, 64, 2)),
                                              ((64, 64), (64, 64))])
def test_rejects_inputs_that_are_not_two_hwc_arrays_of_one_shape(weights_env, a_shape, b_shape):
    with pytest.raises(FluidlossError, match=r"\[H, W, C\]"):
        lsim_distance(np.zeros(a_shape), np.zeros(b_shape))


def test_rejects_nan(weights_env):
    a = np.zeros((64, 64, 1))
    a[3, 3, 0] = np.nan
    with pytest.raises(FluidlossError, match="NaN"):
        lsim_distance(a, np.zeros((64, 64, 1)))


def test_missing_weights_name_the_file_its_source_and_the_install_command(weights_env):
    (weights_env.weights / "LSiM.pth").unlink()
    with pytest.raises(FluidlossError) as err:
        lsim_distance(np.zeros((64, 64, 1)), np.ones((64, 64, 1)))
    message = str(err.value)
    for part in ["LSiM.pth", "https://github.com/tum-pbs/LSIM", "fluidloss weights import lsim FILE",
                 str(weights_env.weights), str(weights_env.cache)]:
        assert part in message


def test_a_foreign_checkpoint_is_refused_with_its_path(tmp_path):
    path = tmp_path / "LSiM.pth"
    torch.save({"stateDict": {"basenet.slice1.0.weight": torch.zeros(3)}}, path)
    with pytest.raises(FluidlossError, match="is not an LSiM checkpoint"):
        LSiMNet.from_file(path)
