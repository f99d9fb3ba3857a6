"""`fluidloss study plan --from FOLDER` on published study folders: the cell timings come from cells/*/result.json
alone (a folder without plan.json), a cell counts only where its recorded command is the planned one, and a study
none of whose cells was measured gets "no estimate", never "about 0 s"."""

import json
import shlex
import shutil
from pathlib import Path

from conftest import assert_one_line_error, run_cli
from fluidloss_cli.engine.study.cells import Cell
from fluidloss_cli.engine.study.estimate import schedule

ROOT = Path(__file__).resolve().parents[1]
PBDL, SMALL = ROOT / "docs" / "study_pbdl_padded", ROOT / "docs" / "study_small"


def plan(config: Path, folder: Path) -> tuple[str, dict[str, str]]:
    """`study plan CONFIG --from FOLDER`: its last line (rich's wrapping undone) and cell -> estimate column."""
    output = run_cli("study", "plan", config, "--from", folder).output
    lines = output.strip().splitlines()
    cells = {parts[1].strip(): parts[4].strip() for line in lines if (parts := line.split("│")) and len(parts) == 6
             and "/" in parts[1]}
    return lines[-1], cells


def results_only(tmp_path: Path) -> Path:
    """A copy of docs/study_pbdl_padded holding its cells' result.json files and nothing else (no plan.json)."""
    copy = tmp_path / "published"
    for result in (PBDL / "cells").rglob("result.json"):
        target = copy / result.relative_to(PBDL)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result, target)
    return copy


def test_a_folder_without_plan_json_gives_the_estimate_of_the_study_folder_itself(tmp_path):
    copy = results_only(tmp_path)
    assert not (copy / "plan.json").exists()
    whole, whole_cells = plan(PBDL / "study.toml", PBDL)
    published, published_cells = plan(PBDL / "study.toml", copy)
    assert published_cells == whole_cells and sum(v.endswith(("s", "min", "h")) for v in whole_cells.values()) > 50
    assert published.replace(str(copy), "X") == whole.replace(str(PBDL), "X")
    assert published.startswith("estimate from") and "about 0 s" not in published


def only_result(copy: Path, cell: str) -> Path:
    """Delete every result.json of a copied study folder but `cell`'s; return that one's path."""
    path = copy / "cells" / cell / "result.json"
    for other in (copy / "cells").rglob("result.json"):
        if other != path:
            other.unlink()
    return path


def test_a_result_of_other_work_under_the_same_id_is_not_measured(tmp_path):
    copy, cell = results_only(tmp_path), "data/karman_a/test-coarse"
    path = only_result(copy, cell)
    last, cells = plan(PBDL / "study.toml", copy)
    assert cells[cell] != "not measured" and last.startswith("estimate from")
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "command": result["command"].replace("--res 64x32", "--res 32x16")}))
    last, cells = plan(PBDL / "study.toml", copy)
    assert cells[cell] == "not measured" and last.startswith("no estimate")


def test_a_study_none_of_whose_cells_was_measured_gets_no_estimate():
    last, cells = plan(ROOT / "sample_configs" / "study_smoke.toml", PBDL)
    assert set(cells.values()) <= {"not measured", "skipped: weights missing"} and cells
    assert last.startswith("no estimate: none of the study's cells is like a cell measured in")
    assert "about 0 s" not in last


def test_a_published_folder_without_timings_is_one_clear_line():
    result = run_cli("study", "plan", ROOT / "sample_configs" / "study_smoke.toml", "--from", SMALL, ok=False)
    assert_one_line_error(result, f"--from {SMALL}: holds no finished cell to measure", "cells/*/result.json")


def test_a_result_whose_command_has_the_options_in_another_order_is_measured(tmp_path):
    copy, cell = results_only(tmp_path), "data/karman_a/test-coarse"
    path = only_result(copy, cell)
    result = json.loads(path.read_text())
    words = shlex.split(result["command"])
    res = words.index("--res")
    reordered = [*words[:res], *words[res + 2:], *words[res:res + 2]]  # --res 64x32 moved to the end
    assert reordered != words
    path.write_text(json.dumps({**result, "command": shlex.join(reordered)}))
    last, cells = plan(PBDL / "study.toml", copy)
    assert cells[cell] != "not measured" and last.startswith("estimate from")


def test_the_wall_time_estimate_starts_cells_as_the_runner_does():
    """Two models of unequal training time and their evaluations, then two more, on 2 workers. The runner starts,
    whenever a worker is free, the first cell in plan order whose needs are done: a worker never idles while a
    training cell could run (the estimate once placed each cell in plan order and left such gaps: 11 h, not 9)."""
    hours = {"train/a": 4, "eval/a": 0.5, "train/b": 3, "eval/b": 0.5, "train/c": 3, "eval/c": 0.5, "train/d": 4,
             "eval/d": 0.5}
    cells = [Cell(name, name.split("/")[0], (), deps=(f"train/{name[-1]}", "data/test") if name.startswith("eval")
                  else ("data/train",)) for name in hours]  # data/*: finished before, not among the cells
    assert schedule(cells, {name: h * 3600 for name, h in hours.items()}, 2) == 9 * 3600
    assert schedule(cells, {name: h * 3600 for name, h in hours.items()}, 1) == sum(hours.values()) * 3600
    assert schedule(cells, {name: h * 3600 for name, h in hours.items()}, 8) == 4.5 * 3600
