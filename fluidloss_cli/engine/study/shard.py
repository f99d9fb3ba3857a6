"""Which of a study's cells a run takes, and in which order: deterministic shares, so a Slurm array (or any
scheduler) runs a study with no coordinator; and the models a user wants first.

The groups of cells (one per trained model: its training, evaluation and rendering) are sorted by name and dealt
round-robin: group k goes to shard k mod N. The data cells a shard's groups need are run by every shard that needs
them, under the cell lock: the first makes them, the others wait for its result.
"""

import fnmatch
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


def first(cells: dict[str, Cell], chosen: list[str], patterns: list[str]) -> list[str]:
    """`chosen` reordered so that the models matching any of `patterns` (`task/scene/loss/seedK` globs, a weighted
    loss as its folder name, e.g. `sol/karman_a/mse/*`) and the cells they need come first, each part in plan order;
    a pattern that matches no chosen model is an error naming one that would."""
    models = sorted({cells[cell_id].group.removeprefix("train/") for cell_id in chosen if cells[cell_id].group})
    wanted = []
    for pattern in patterns:
        matching = [model for model in models if fnmatch.fnmatch(model, pattern)]
        if not matching:
            raise FluidlossError(f"--first {pattern!r} matches no model of this run (task/scene/loss/seed, e.g. "
                                 f"{models[0] if models else 'sol/karman/mse/seed0'})")
        wanted += matching
    ahead = set(closure(cells, [cell_id for cell_id in chosen if cells[cell_id].group.removeprefix("train/") in wanted]))
    return [cell_id for cell_id in chosen if cell_id in ahead] + [cell_id for cell_id in chosen if cell_id not in ahead]
