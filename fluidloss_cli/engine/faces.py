"""Conversion between PhiFlow staggered grids and the face arrays stored in datasets.

Datasets always hold every face of the grid, boundary faces included: `velocity_x` [H, W+1] and
`velocity_y` [H+1, W] (row = y, column = x), whatever the boundary condition; for closed walls the
boundary faces are the zeros the wall imposes.
"""

import numpy as np
from phi.field import Field


def velocity_faces(velocity: Field, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """All x-faces [H, W+1] and y-faces [H+1, W] of an unbatched 2-D staggered velocity."""
    padded = velocity.staggered_tensor()  # [x=W+1, y=H+1] per component, boundaries filled in
    vx = padded.vector["x"].numpy("y,x")[:-1, :]
    vy = padded.vector["y"].numpy("y,x")[:, :-1]
    return vx.astype(dtype, copy=False), vy.astype(dtype, copy=False)


def cell_values(grid: Field) -> np.ndarray:
    """Cell-centred values [H, W] of an unbatched 2-D grid, as float32."""
    return grid.values.numpy("y,x").astype(np.float32, copy=False)
