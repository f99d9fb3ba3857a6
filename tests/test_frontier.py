"""The frontier's pieces without data: resampling a frame onto any coarser grid, bicubic upsampling by any factor,
the checks of `--frontier` resolutions and the equal-accuracy placement of a learned row (engine/frontier.py)."""

import math

import numpy as np
import pytest
import torch

from fluidloss_cli.engine.data.downsample import COARSENERS
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.frontier import (
    ABOVE,
    BELOW,
    INTERPOLATED,
    NOT_FINITE,
    check_frontier,
    equal_accuracy,
    resample_frame,
)
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.upsample import upsample_frame, upsample_to


def random_frame(height: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"velocity_x": torch.rand(2, height, width + 1, generator=generator, dtype=torch.float64),
            "velocity_y": torch.rand(2, height + 1, width, generator=generator, dtype=torch.float64),
            "density": torch.rand(2, height, width, generator=generator, dtype=torch.float64)}


def test_resampling_by_a_whole_factor_is_the_flux_conserving_downsampling():
    frame = random_frame(32, 16)
    resampled = resample_frame(frame, Resolution(16, 8))
    for name, values in frame.items():
        expected = torch.from_numpy(np.ascontiguousarray(COARSENERS[name](values.numpy(), 2, 2)))
        torch.testing.assert_close(resampled[name], expected, rtol=0, atol=1e-12)


def test_resampling_by_any_factor_keeps_linear_velocity_and_the_mean_of_cell_fields():
    """128x64 -> 80x40 (factor 1.6): a velocity linear across its faces is sampled exactly where the coarse faces
    lie, uniform along them; a cell field keeps its area mean."""
    fine, coarse = Resolution(128, 64), Resolution(80, 40)
    frame = random_frame(*fine)
    x_lines = torch.arange(fine.width + 1, dtype=torch.float64) / fine.width  # face positions, domain units
    y_lines = torch.arange(fine.height + 1, dtype=torch.float64) / fine.height
    frame["velocity_x"] = (0.5 + 2 * x_lines).expand(2, fine.height, -1).clone()
    frame["velocity_y"] = (1 - y_lines)[:, None].expand(2, -1, fine.width).clone()
    resampled = resample_frame(frame, coarse)
    assert resampled["velocity_x"].shape == (2, 80, 41) and resampled["velocity_y"].shape == (2, 81, 40)
    coarse_x = torch.arange(coarse.width + 1, dtype=torch.float64) / coarse.width
    coarse_y = torch.arange(coarse.height + 1, dtype=torch.float64) / coarse.height
    torch.testing.assert_close(resampled["velocity_x"], (0.5 + 2 * coarse_x).expand(2, 80, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(resampled["velocity_y"], (1 - coarse_y)[:, None].expand(2, -1, 40), rtol=0,
                               atol=1e-12)
    torch.testing.assert_close(resampled["density"].mean(dim=(-2, -1)), frame["density"].mean(dim=(-2, -1)),
                               rtol=1e-12, atol=0)


def test_bicubic_upsampling_to_a_grid_is_the_whole_factor_one_and_keeps_constants_at_any_factor():
    frame = random_frame(16, 8)
    for name, values in upsample_to(frame, Resolution(32, 16)).items():
        torch.testing.assert_close(values, upsample_frame(frame, 2)[name], rtol=0, atol=0)
    constant = {name: torch.full_like(values, 0.3) for name, values in random_frame(80, 40).items()}
    upsampled = upsample_to(constant, Resolution(128, 64))
    assert upsampled["velocity_x"].shape == (2, 128, 65) and upsampled["density"].shape == (2, 128, 64)
    for values in upsampled.values():
        torch.testing.assert_close(values, torch.full_like(values, 0.3), rtol=0, atol=1e-12)
    with pytest.raises(FluidlossError, match="not the same aspect"):
        upsample_to(frame, Resolution(32, 32))


def test_frontier_resolutions_lie_between_coarse_and_fine_with_the_fine_aspect():
    coarse, fine = Resolution(64, 32), Resolution(128, 64)
    assert check_frontier([Resolution(112, 56), Resolution(80, 40)], coarse, fine) == [(80, 40), (112, 56)]
    for bad, message in [([Resolution(64, 32)], "does not lie between"), ([Resolution(128, 64)], "does not lie"),
                         ([Resolution(100, 40)], "aspect"), ([Resolution(80, 40)] * 2, "more than once")]:
        with pytest.raises(FluidlossError, match=message):
            check_frontier(bad, coarse, fine)


FRONTIER = [(1.0, 1e-3), (2.0, 2.5e-4), (4.0, 1e-4)]
"""(ms per frame, error) of the plain solver at three resolutions, coarse first."""


def test_equal_accuracy_interpolates_cost_against_error_log_log():
    # 5e-4 lies halfway between 1e-3 and 2.5e-4 in log error: the plain cost halfway in log cost, sqrt(1 * 2) ms
    placed = equal_accuracy("coarse+SOL", "mse", 5e-4, 0.5, FRONTIER, fine_ms=8.0)
    assert placed.status == INTERPOLATED
    assert placed.plain_ms_per_frame == pytest.approx(math.sqrt(2))
    assert placed.speed_up == pytest.approx(math.sqrt(2) / 0.5)
    assert equal_accuracy("v", "mse", 2.5e-4, 1.0, FRONTIER).plain_ms_per_frame == pytest.approx(2.0)  # a point
    assert equal_accuracy("v", "mse", 1e-3, 1.0, FRONTIER).plain_ms_per_frame == pytest.approx(1.0)


def test_an_error_outside_the_frontier_is_not_extrapolated():
    above = equal_accuracy("coarse+SOL", "mse", 2e-3, 0.5, FRONTIER, fine_ms=8.0)
    assert (above.status, above.speed_up, above.bounds) == (ABOVE, None, (None, 2.0))  # coarse: 1 ms at a lower error
    below = equal_accuracy("coarse+SOL", "mse", 5e-5, 0.5, FRONTIER, fine_ms=8.0)
    assert (below.status, below.speed_up, below.bounds) == (BELOW, None, (8.0, 16.0))  # beyond 4 ms, at most fine's
    assert "above" in above.describe() and "below" in below.describe()
    assert equal_accuracy("v", "mse", float("nan"), 0.5, FRONTIER).status == NOT_FINITE


def test_a_frontier_that_is_not_monotone_is_read_at_its_first_crossing():
    frontier = [(1.0, 1e-3), (2.0, 1.2e-3), (3.0, 4e-4)]  # the second grid worse than the coarse one
    placed = equal_accuracy("v", "mse", 6e-4, 1.0, frontier)
    share = math.log(6e-4 / 1.2e-3) / math.log(4e-4 / 1.2e-3)
    assert placed.status == INTERPOLATED and placed.plain_ms_per_frame == pytest.approx(2 * 1.5 ** share)
