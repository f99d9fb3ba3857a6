"""Staggered velocity <-> tensors, the padding rule for small fields, and the joint rescale to image range."""

import pytest
import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import (
    MIN_SIDE,
    image_pair,
    upsample_to_min,
    rescale_jointly,
    stack_staggered,
    unstack_staggered,
)


def staggered(b: int = 2, h: int = 5, w: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """A random staggered velocity on an h x w grid."""
    return torch.randn(b, h, w + 1), torch.randn(b, h + 1, w)


def test_stack_zero_pads_each_component_to_the_face_grid():
    vx, vy = staggered()
    t = stack_staggered(vx, vy)
    assert t.shape == (2, 2, 6, 8)
    assert torch.equal(t[:, 0, :5, :], vx) and torch.equal(t[:, 1, :, :7], vy)
    assert not t[:, 0, 5, :].any() and not t[:, 1, :, 7].any()


def test_unstack_inverts_stack():
    vx, vy = staggered()
    ux, uy = unstack_staggered(stack_staggered(vx, vy), 5, 7)
    assert torch.equal(ux, vx) and torch.equal(uy, vy)


def test_stack_passes_gradients_to_both_components():
    vx, vy = (t.requires_grad_() for t in staggered())
    stack_staggered(vx, vy).sum().backward()
    assert torch.equal(vx.grad, torch.ones_like(vx)) and torch.equal(vy.grad, torch.ones_like(vy))


@pytest.mark.parametrize("vy_shape", [(2, 5, 7), (2, 6, 8), (3, 6, 7)])
def test_stack_rejects_components_of_different_grids(vy_shape):
    with pytest.raises(FluidlossError, match="vx \\[B, H, W\\+1\\] and vy \\[B, H\\+1, W\\]"):
        stack_staggered(torch.zeros(2, 5, 8), torch.zeros(vy_shape))


def test_unstack_rejects_a_tensor_too_small_for_the_grid():
    with pytest.raises(FluidlossError, match="unstack_staggered"):
        unstack_staggered(torch.zeros(1, 2, 5, 8), 5, 7)


def test_upsample_to_min_repeats_every_value_of_a_64x32_karman_component_2x2():
    frame = torch.randn(3, 1, 32, 65)
    enlarged = upsample_to_min(frame)
    assert enlarged.shape == (3, 1, 64, 130) and MIN_SIDE == 64
    for dy in (0, 1):
        for dx in (0, 1):
            assert torch.equal(enlarged[..., dy::2, dx::2], frame)


def test_upsample_to_min_takes_the_smallest_whole_factor_and_keeps_large_fields():
    assert upsample_to_min(torch.randn(1, 1, 20, 100)).shape == (1, 1, 80, 400)
    assert upsample_to_min(torch.randn(1, 1, 63, 100)).shape == (1, 1, 126, 200)
    big = torch.randn(1, 1, 64, 65)
    assert upsample_to_min(big) is big


def test_rescale_jointly_maps_the_joint_range_of_each_pair_and_channel():
    a = torch.tensor([[[[0.0, 1.0]], [[5.0, 5.0]]]])  # [1, 2, 1, 2]
    b = torch.tensor([[[[2.0, 4.0]], [[6.0, 7.0]]]])
    ra, rb = rescale_jointly(a, b, 0.0, 255.0)
    assert torch.allclose(ra, torch.tensor([[[[0.0, 63.75]], [[0.0, 0.0]]]]))
    assert torch.allclose(rb, torch.tensor([[[[127.5, 255.0]], [[127.5, 255.0]]]]))


def test_rescale_jointly_maps_a_constant_pair_to_the_low_end():
    ra, rb = rescale_jointly(torch.full((1, 1, 3, 3), 2.5), torch.full((1, 1, 3, 3), 2.5), -1.0, 1.0)
    assert torch.equal(ra, torch.full_like(ra, -1.0)) and torch.equal(rb, ra)


def test_image_pair_gives_rgb_images_of_at_least_the_minimum_size_in_range():
    pred, ref = torch.randn(4, 1, 64, 32), torch.randn(4, 1, 64, 32)
    a, b = image_pair(pred, ref, -1.0, 1.0)
    assert a.shape == b.shape == (4, 3, 128, 64)
    assert torch.equal(a[:, 0], a[:, 2]) and torch.equal(b[:, 1], b[:, 2])
    lo = torch.minimum(a.amin(dim=(1, 2, 3)), b.amin(dim=(1, 2, 3)))
    hi = torch.maximum(a.amax(dim=(1, 2, 3)), b.amax(dim=(1, 2, 3)))
    assert torch.allclose(lo, torch.full((4,), -1.0)) and torch.allclose(hi, torch.ones(4))
