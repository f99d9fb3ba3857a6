"""The perceptual losses weigh a field's boundary as its authors' recipes do, not as edge padding did.

Earlier releases padded a 64x32 Karman component to 64x64 by replicating its edge values, so its two boundary rows
filled half of every image and carried 2-4x the interior's gradient per cell. Fed as the authors feed them (LSiM: the
official 224x224 resize; LPIPS: enlarged by a whole factor), every row keeps its share of the image; what is left is
each network's own treatment of an image border. Measured here for a uniform random error on smooth fields of the
two staggered velocity shapes of a 64x32 grid: the boundary rows' share of the metric (LPIPS; LSiM squared, which is
a sum over features) and of its gradient, divided by their share of the area.
"""

import pytest
import torch
import torch.nn.functional as F
from weight_fixtures import shared_file
from fluidloss_cli.engine.fields import rescale_jointly, upsample_to_min
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.losses.lsim import lsim_images

SHAPES = [(32, 65), (33, 64)]
"""vx and vy of a 64x32 cell grid (rows = y)."""


@pytest.fixture(scope="module")
def perceptual(tmp_path_factory):
    """LSiM and SqueezeNet-LPIPS with the real weights of the shared folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLUIDLOSS_WEIGHTS_DIR", str(shared_file("weights", "LSiM.pth").parent))
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch")))
        shared_file("weights", "squeezenet1_1_features.pth")
        return {name: build_loss(name) for name in ("lsim", "lpips-squeeze")}


def edge_padded(loss, name):
    """The earlier recipe: joint rescale, then the short side padded to 64 by replicating edge values."""
    low, high = (0.0, 255.0) if name == "lsim" else (-1.0, 1.0)
    network = loss.net if name == "lsim" else loss.compare

    def pad(x):
        missing = 64 - x.shape[-2]
        return F.pad(x, (0, 0, missing // 2, missing - missing // 2), mode="replicate").expand(-1, 3, -1, -1)

    return lambda pred, ref: network(*(pad(x) for x in rescale_jointly(pred, ref, low, high))).mean()


def boundary_weights(distance, squared: bool, shape) -> tuple[float, float]:
    """(metric, gradient) share of the two boundary rows divided by their share of the area."""
    h, w = shape
    g = torch.Generator().manual_seed(2)
    ref = F.avg_pool2d(torch.randn(24, 1, h + 8, w + 8, generator=g), 9, 1)
    error = 0.1 * (2 * torch.rand(24, 1, h, w, generator=g) - 1)
    rows = torch.zeros(1, 1, h, 1)
    rows[:, :, [0, -1]] = 1
    power = 2 if squared else 1
    edge = distance(ref + error * rows, ref).item() ** power
    inside = distance(ref + error * (1 - rows), ref).item() ** power
    pred = (ref + error).requires_grad_()
    distance(pred, ref).backward()
    gradient = (pred.grad.abs() * rows).sum() / pred.grad.abs().sum()
    area = 2 / h
    return edge / (edge + inside) / area, gradient.item() / area


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["lsim", "lpips-squeeze"])
def test_the_boundary_weighs_no_more_than_twice_its_area_and_less_than_edge_padding_gave_it(perceptual, name, shape):
    loss = perceptual[name]
    metric, gradient = boundary_weights(loss, name == "lsim", shape)
    old_metric, old_gradient = boundary_weights(edge_padded(loss, name), name == "lsim", shape)
    assert metric < 2 and gradient < 2, (metric, gradient)
    assert old_metric > 3 and old_gradient > 1.9, (old_metric, old_gradient)
    assert metric < old_metric / 1.8 and gradient < old_gradient / 2.5


@pytest.mark.parametrize("shape", SHAPES)
def test_every_row_keeps_its_share_of_the_image(shape):
    field = torch.arange(shape[0] * shape[1], dtype=torch.float32).view(1, 1, *shape)
    last = field.numel() - 1
    for image in (upsample_to_min(field), lsim_images(field, field)[0][:, :1] * last / 255):  # back to the indices
        counts = torch.bincount(image.flatten().round().long(), minlength=field.numel()).view(shape).float()
        rows = counts.sum(dim=1)
        assert rows.min() > 0
        assert rows.max() / rows.min() <= 2  # nearest-neighbour resize to 224: 7 or 6 pixels a row, never 16+
        assert rows[0] <= rows.mean() * 1.2 and rows[-1] <= rows.mean() * 1.2
