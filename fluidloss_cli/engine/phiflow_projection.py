"""Exact pressure projection of a PhiFlow staggered velocity in a closed rectangular box, by the cosine-transform
solve of `cosine_poisson` (the buoyancy scene's, which scales to 256 x 256 and beyond)."""

import torch
from phi import math
from phi.field import Field

from fluidloss_cli.engine.cosine_poisson import solve_neumann_poisson


def project_closed_box(velocity: Field) -> Field:
    """Make a staggered velocity in a closed box (zero normal velocity at walls) divergence-free.

    Computed in float64 whatever the input precision: the pressure can be far larger than the
    velocity correction it yields, and float32 would leave divergence ~1e-3 of the velocity scale.
    """
    dx, dy = (float(s) for s in velocity.dx.numpy("vector"))
    batch_shape = velocity.shape.batch
    order = [*batch_shape.names, "x", "y"]  # PhiFlow's own dimension order, so values wrap back as they are
    vx, vy = (velocity.vector[axis].values.native(order) for axis in "xy")  # interior faces [..., W-1, H], [..., W, H-1]
    dtype = vx.dtype
    vx, vy = vx.double(), vy.double()
    div = torch.diff(torch.nn.functional.pad(vx, (0, 0, 1, 1)), dim=-2) / dx
    div = div + torch.diff(torch.nn.functional.pad(vy, (1, 1)), dim=-1) / dy
    pressure = solve_neumann_poisson(div, dx, dy)
    vx = vx - torch.diff(pressure, dim=-2) / dx
    vy = vy - torch.diff(pressure, dim=-1) / dy
    components = [math.wrap(c.to(dtype), batch_shape, math.spatial("x,y")) for c in (vx, vy)]
    return velocity.with_values(math.stack(components, math.dual(vector="x,y")))
