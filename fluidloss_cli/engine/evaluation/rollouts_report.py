"""The evaluation report: per-step and summary statistics over the test simulations, as JSON, CSV and table cells.

Every metric of every row is summarised over the simulations (mean and sample standard deviation) three ways: per
rollout step, averaged over the steps, and at the final step. A missing metric stays in the report with its reason.
"""

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import torch

from fluidloss_cli.engine.atomic import write_text
from fluidloss_cli.engine.data.novelty import Novelty, as_records
from fluidloss_cli.engine.evaluation.against_mse import judge, model_mean, trained_as
from fluidloss_cli.engine.evaluation.rollouts import Evaluation, Results
from fluidloss_cli.engine.outputs import check_output_folder
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.results import BICUBIC, COARSE, COARSE_GRID, REFERENCE, ROLLOUTS_FILE, json_ready, metric_facts

SUMMARIES = {"mean": "averaged over the rollout steps", "final": "at the final rollout step"}
"""--summary choice -> what the table's values are."""


def spread(values: torch.Tensor) -> torch.Tensor:
    """Sample standard deviation over the simulations (first axis); NaN for a single simulation."""
    return values.std(dim=0) if values.shape[0] > 1 else torch.full(values.shape[1:], math.nan, dtype=values.dtype)


def statistics(values: torch.Tensor) -> dict[str, Any]:
    """Summaries of one metric's values [simulations, steps]: per step, averaged over the steps, at the final step."""
    over_steps, final = values.mean(dim=1, keepdim=True), values[:, -1:]
    return {"mean": over_steps.mean().item(), "std": spread(over_steps).item(),
            "final_mean": final.mean().item(), "final_std": spread(final).item(),
            "step_mean": values.mean(dim=0).tolist(), "step_std": spread(values).tolist(),
            "per_simulation": values.tolist()}


def coarse_errors(evaluation: Evaluation, results: Results) -> dict[str, float | None]:
    """Each test simulation's uncorrected coarse error: the baseline's MSE averaged over the rollout steps (None
    without an mse column)."""
    mse = results.values[COARSE_GRID][COARSE].get("mse")
    names = [sim for sim, _, _ in evaluation.grids[COARSE_GRID].info.simulations]
    return {sim: None if mse is None else mse[i].mean().item() for i, sim in enumerate(names)}


def document(evaluation: Evaluation, results: Results, train: Path | None = None,
             distances: list[Novelty] | None = None) -> dict[str, Any]:
    """Everything the evaluation found, with what it ran on: the content of evaluation.json; the decision rule's
    verdicts of the SOL checkpoints against the MSE ones (`against_mse`, empty without both); with the `distances`
    of the test data from the training data `train`, those too (`novelty`)."""
    grids = {}
    for name, grid in evaluation.grids.items():
        measured = results.values.get(name, {})
        rows = {row: {"metrics": {metric: statistics(values) for metric, values in measured.get(row, {}).items()},
                      "spectrum": spectrum.mean(dim=0).tolist()}
                for row, spectrum in results.spectra[name].items()}
        grids[name] = {"dataset": grid.info.identity(), "spacing": list(grid.geometry.spacing),
                       "wavenumbers": results.wavenumbers[name].tolist(), "rows": rows}
    metrics = {m.name: m.to_json() for m in evaluation.metrics}
    coarse_rows = grids[COARSE_GRID]["rows"]
    means = {label: {metric: model_mean(values["per_simulation"]) for metric, values in row["metrics"].items()}
             for label, row in coarse_rows.items()}
    found = {"against_mse": judge(means, trained_as(evaluation.checkpoints["sol"]), metric_facts(metrics))}
    found |= {} if distances is None else {"novelty": {
        "train": str(train), "stride": distances[0].stride,
        "simulations": as_records(distances, coarse_errors(evaluation, results))}}
    return json_ready({
        "provenance": provenance(),
        "simulations": [sim for sim, _, _ in evaluation.grids[COARSE_GRID].info.simulations],
        "starts": evaluation.starts, "steps": evaluation.steps,
        "checkpoints": {kind: {label: str(path) for label, path in paths.items()}
                        for kind, paths in evaluation.checkpoints.items()},
        "solvers": {row: pipeline.solver.solver for row, pipeline in evaluation.corrections.items()},
        "amp": evaluation.amp,
        "metrics": metrics,
        "grids": grids,
    } | found)


def cell(report: dict, grid: str, row: str, metric: str, summary: str) -> str:
    """The table text of one metric of one row: `mean` over `± std`, `missing`, or `—` where it does not apply."""
    values = report["grids"][grid]["rows"][row]["metrics"].get(metric)
    if values is None:
        return "missing" if report["metrics"][metric]["missing"] and row != REFERENCE else "—"
    prefix = "final_" if summary == "final" else ""
    mean, std = values[prefix + "mean"], values[prefix + "std"]
    text = "nan" if mean is None else f"{mean:.4g}"
    return text if std is None else f"{text}\n± {std:.2g}"


def table(report: dict, grid: str, summary: str) -> list[list[str]]:
    """Table cells of one grid: a row per evaluated row (label first), a column per metric; the reference only
    where it has a value (a measure of a frame alone)."""
    return [[row, *(cell(report, grid, row, metric, summary) for metric in report["metrics"])]
            for row, content in report["grids"][grid]["rows"].items() if row != REFERENCE or content["metrics"]]


def baseline_row(grid: str) -> str:
    """The row every other row of a grid is judged against: the uncorrected coarse solver (bicubic-upsampled on the
    fine grid)."""
    return COARSE if grid == COARSE_GRID else f"{COARSE}+{BICUBIC}"


def worse_than_baseline(report: dict, grid: str, summary: str) -> tuple[str | None, set[str]]:
    """The metric that judges the rows of a grid (the first error column with values: lower is better) and the rows
    whose value of it is larger than the baseline row's (NaN counts as larger)."""
    rows = report["grids"][grid]["rows"]
    key = "final_mean" if summary == "final" else "mean"
    base = rows.get(baseline_row(grid), {}).get("metrics", {})
    facts = metric_facts(report["metrics"])
    metric = next((m for m in facts if facts[m].is_error and base.get(m, {}).get(key) is not None), None)
    if metric is None:
        return None, set()
    limit = base[metric][key]
    worse = set()
    for row, content in rows.items():
        value = content["metrics"].get(metric, {}).get(key, math.nan)
        if row not in (REFERENCE, baseline_row(grid)) and not (value is not None and value <= limit):
            worse.add(row)
    return metric, worse


def summary_csv(report: dict) -> str:
    """One line per grid, row and metric: the summaries over the steps and at the final step, or why it is missing."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["grid", "row", "metric", "mean", "std", "final_mean", "final_std", "simulations", "missing"])
    for grid, content in report["grids"].items():
        for row, values in content["rows"].items():
            for metric, about in report["metrics"].items():
                stats = values["metrics"].get(metric)
                if about["missing"] and row != REFERENCE:
                    writer.writerow([grid, row, metric, "", "", "", "", "", about["missing"]])
                elif stats is not None:
                    writer.writerow([grid, row, metric, *(stats[k] for k in ("mean", "std", "final_mean", "final_std")),
                                     len(stats["per_simulation"]), ""])
    return out.getvalue()


def steps_csv(report: dict) -> str:
    """One line per grid, row, metric and rollout step: mean and standard deviation over the simulations."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["grid", "row", "metric", "step", "mean", "std"])
    for grid, content in report["grids"].items():
        for row, values in content["rows"].items():
            for metric, stats in values["metrics"].items():
                for step, (mean, std) in enumerate(zip(stats["step_mean"], stats["step_std"]), start=1):
                    writer.writerow([grid, row, metric, step, mean, std])
    return out.getvalue()


def novelty_csv(report: dict) -> str:
    """The test vs training distances: a line per test simulation, the numbers of the console table."""
    records = report["novelty"]["simulations"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def check_out(out: Path, overwrite: bool) -> None:
    """Create the output folder, refusing one that holds an earlier evaluation unless `overwrite`."""
    check_output_folder(out, ROLLOUTS_FILE, "an evaluation", overwrite)


def write_tables(report: dict, out: Path) -> list[Path]:
    """Write summary.csv and steps.csv (and novelty.csv) into `out`, each atomically; evaluation.json, which marks
    the evaluation finished, comes last (`write_report`), after the plots."""
    files = {"summary.csv": summary_csv(report), "steps.csv": steps_csv(report)} | \
        ({"novelty.csv": novelty_csv(report)} if "novelty" in report else {})
    for name, text in files.items():
        write_text(out / name, text)
    return [out / name for name in files]


def write_report(report: dict, out: Path) -> Path:
    """Write evaluation.json, the file that marks `out` as holding a finished evaluation, so an evaluation
    interrupted before it is simply run again."""
    write_text(out / ROLLOUTS_FILE, json.dumps(report, indent=1, allow_nan=False))
    return out / ROLLOUTS_FILE
