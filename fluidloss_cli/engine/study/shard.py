"""Deterministic shares of a study's cells, so a Slurm array (or any scheduler) runs a study with no coordinator.

The groups of cells (one per trained model: its training, evaluation and rendering) are sorted by name and dealt
round-robin: group k goes to shard k mod N. The data cells a shard's groups need are run by every shard that needs
them, under the cell lock: the first makes them, the others wait for its result.
"""

import re

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.study.cells import Cell, closure


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N) with 0 <= I < N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise FluidlossError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(match.group(1)), int(match.group(2))


def shard_cells(cells: dict[str, Cell], index: int, count: int) -> list[str]:
    """The ids of the cells shard `index` of `count` runs: its groups' cells and the data cells they need."""
    groups = sorted({cell.group for cell in cells.values() if cell.group})
    mine = {group for k, group in enumerate(groups) if k % count == index}
    return closure(cells, [cell.id for cell in cells.values() if cell.group in mine])
