"""Conversion between PhiFlow grids and the face and cell arrays stored in datasets and fed to networks.

Datasets always hold every face of the grid, boundary faces included: `velocity_x` [H, W+1] and
`velocity_y` [H+1, W] (row = y, column = x), whatever the boundary condition; for closed walls the
boundary faces are the zeros the wall imposes. Batched grids carry their samples along PhiFlow's batch
dimension `b`; the torch conversions keep gradients, which Solver-in-the-Loop training needs.
"""

import numpy as np
import torch
import torch.nn.functional as F
from phi import math
from phi.field import Field

BATCH = math.batch("b")


def face_tensors(velocity: Field) -> tuple[torch.Tensor, torch.Tensor]:
    """All x-faces [..., H, W+1] and y-faces [..., H+1, W] of a 2-D staggered velocity as torch tensors (batch
    dimensions first). A grid stores every face (open boundaries) or all but the wall faces (closed walls, which
    are zero); other boundary conditions take PhiFlow's slower padding by the boundary condition."""
    order = [*velocity.shape.batch.names, "y", "x"]
    vx, vy = (c.native(order) for c in math.unstack(velocity.values, "~vector"))
    height, width = velocity.resolution.get_size("y"), velocity.resolution.get_size("x")
    missing_x, missing_y = width + 1 - vx.shape[-1], height + 1 - vy.shape[-2]
    if missing_x == missing_y == 0:
        return vx, vy
    if velocity.extrapolation == math.extrapolation.ZERO:
        return F.pad(vx, (missing_x // 2, missing_x // 2)), F.pad(vy, (0, 0, missing_y // 2, missing_y // 2))
    padded = velocity.staggered_tensor()  # [x=W+1, y=H+1] per component
    return padded.vector["x"].native(order)[..., :-1, :], padded.vector["y"].native(order)[..., :, :-1]


def velocity_faces(velocity: Field, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """All x-faces [H, W+1] and y-faces [H+1, W] of an unbatched 2-D staggered velocity, as numpy arrays."""
    return tuple(t.detach().cpu().numpy().astype(dtype, copy=False) for t in face_tensors(velocity))


def staggered_from_faces(vx: torch.Tensor, vy: torch.Tensor, like: Field) -> Field:
    """The staggered velocity with faces vx [B, H, W+1] and vy [B, H+1, W] (batch along `b`), on the grid and with
    the boundary condition of the unbatched `like`; faces that `like` does not store (closed walls) are dropped."""
    components, stored = [], dict(zip("xy", math.unstack(like.values, "~vector")))
    for axis, faces in (("x", vx), ("y", vy)):
        nx, ny = stored[axis].shape.get_size("x"), stored[axis].shape.get_size("y")  # the faces `like` keeps
        values = faces.transpose(-1, -2)  # [B, x, y]
        ox, oy = (values.shape[-2] - nx) // 2, (values.shape[-1] - ny) // 2
        components.append(math.wrap(values[..., ox:ox + nx, oy:oy + ny], BATCH, math.spatial("x,y")))
    return like.with_values(math.stack(components, math.dual(vector="x,y")))


def cell_tensor(grid: Field) -> torch.Tensor:
    """Cell-centred values [..., H, W] of a 2-D grid as a torch tensor (batch dimensions first)."""
    return grid.values.native([*grid.shape.batch.names, "y", "x"])


def centered_from_cells(values: torch.Tensor, like: Field) -> Field:
    """The cell-centred grid with values [B, H, W] (batch along `b`), on the grid of the unbatched `like`."""
    return like.with_values(math.wrap(values.transpose(-1, -2), BATCH, math.spatial("x,y")))


def cell_values(grid: Field) -> np.ndarray:
    """Cell-centred values [H, W] of an unbatched 2-D grid, as float32."""
    return cell_tensor(grid).detach().cpu().numpy().astype(np.float32, copy=False)
