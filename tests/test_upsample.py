"""Bicubic upsampling of staggered fields, the super-resolution baseline: samples land where they belong."""

import h5py
import torch

from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.upsample import super_resolve, upsample_frame


def linear_field(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """f(y, x) = 0.3 x - 0.7 y + 2 (fine-grid units)."""
    return 0.3 * cols[None, :] - 0.7 * rows[:, None] + 2.0


def positions(count: int, on_edges: bool) -> torch.Tensor:
    """Sample coordinates along one axis in units of the grid spacing: edges at 0, 1, ..; centres at 0.5, 1.5, .."""
    return torch.arange(count, dtype=torch.float64) + (0.0 if on_edges else 0.5)


def test_linear_fields_are_reproduced_at_the_true_sample_positions():
    """torch's cubic convolution (a = -0.75) is exact for linear data at half-way points and off by at most 0.047
    coarse cells x slope at quarter points, per axis: here at most 0.094. A quarter cell misplaced would be 0.35."""
    coarse_h, coarse_w, factor = 8, 6, 2
    layout = {"velocity_x": ((coarse_h, coarse_w + 1), (False, True)),
              "velocity_y": ((coarse_h + 1, coarse_w), (True, False)), "density": ((coarse_h, coarse_w), (False, False))}
    coarse = {name: linear_field(positions(h, er) * factor, positions(w, ec) * factor)[None]
              for name, ((h, w), (er, ec)) in layout.items()}
    fine = upsample_frame(coarse, factor)
    for name, ((h, w), (er, ec)) in layout.items():
        expected = linear_field(positions(coarse_h * factor + er, er), positions(coarse_w * factor + ec, ec))
        assert fine[name].shape[-2:] == expected.shape
        torch.testing.assert_close(fine[name][0, 3:-3, 3:-3], expected[3:-3, 3:-3], atol=0.1, rtol=0)


def test_bicubic_of_a_downsampled_flow_is_near_the_fine_flow(karman_files):
    fine_path, coarse_path = karman_files
    with h5py.File(fine_path) as fine, h5py.File(coarse_path) as coarse:
        truth = {n: torch.from_numpy(fine["sim_0000"][n][40:41]) for n in ("velocity_x", "velocity_y")}
        low = {n: torch.from_numpy(coarse["sim_0000"][n][40:41]) for n in ("velocity_x", "velocity_y")}
    up = upsample_frame(low, 2)
    for name in truth:
        error = (up[name] - truth[name]).abs().mean()
        nearest = torch.nn.functional.interpolate(low[name][None], size=truth[name].shape[-2:])[0]
        assert error < 0.05 * truth[name].abs().mean() and error < (nearest - truth[name]).abs().mean()


def test_an_untrained_sr_network_is_exactly_bicubic():
    """SR predicts a residual on bicubic upsampling and its output layer starts at zero."""
    torch.manual_seed(0)
    frame = {"velocity_x": torch.randn(2, 8, 7), "velocity_y": torch.randn(2, 9, 6), "density": torch.rand(2, 8, 6)}
    model = model_class("sr")(in_channels=3, out_channels=3, factor=2, width=8, blocks=1)
    fine = super_resolve(model, frame, 2)
    for name, values in upsample_frame(frame, 2).items():
        assert torch.equal(fine[name], values)
