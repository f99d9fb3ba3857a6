"""The report of a frame evaluation (`evaluation/frames.py`): statistics over the test frames and simulations, the
content of frames.json, its table cells and CSV, and the files written.
"""

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from fluidloss_cli.engine.atomic import atomic_path, write_text
from fluidloss_cli.engine.evaluation.against_mse import judge, model_mean, trained_as
from fluidloss_cli.engine.evaluation.frames import FrameEvaluation, Spectra
from fluidloss_cli.engine.outputs import check_output_folder
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.results import EXAMPLE_FILE, FRAMES_FILE, REFERENCE, json_ready, metric_facts

TABLE = "frames.csv"


def statistics(per_simulation: list[list[float]]) -> dict[str, Any]:
    """Mean over every frame; sample standard deviation of the simulations' means and over all frames."""
    sims = [np.mean(v) for v in per_simulation]
    pooled = np.concatenate([np.asarray(v, dtype=np.float64) for v in per_simulation])
    return {"mean": float(pooled.mean()),
            "std_simulations": float(np.std(sims, ddof=1)) if len(sims) > 1 else None,
            "std_frames": float(pooled.std(ddof=1)) if pooled.size > 1 else None,
            "per_simulation": [float(s) for s in sims], "frames": [len(v) for v in per_simulation]}


def document(evaluation: FrameEvaluation, values: dict, spectra: Spectra) -> dict[str, Any]:
    """The content of frames.json: provenance, data, rows (grid, checkpoint, compression ratio, statistics), the
    metric columns' facts, the rows' mean energy and error spectra, and the decision rule's verdicts of each task's
    checkpoints against its MSE ones on the same grid (`against_mse`, empty without both)."""
    rows = {}
    for label, measured in values.items():
        row = evaluation.rows.get(label)
        grid = row.grid if row else label.split("/")[0]
        rows[label] = {"grid": grid, "checkpoint": str(row.checkpoint) if row and row.checkpoint else None,
                       "compression_ratio": row.compression_ratio if row else None,
                       "metrics": {name: statistics(v) for name, v in measured.items()}}
    metrics = {m.name: m.to_json() for m in evaluation.metrics}
    checkpoints = {label: row.checkpoint for label, row in evaluation.rows.items() if row.checkpoint}
    resolutions = {label: str(evaluation.infos[row.grid].resolution)
                   for label, row in evaluation.rows.items() if row.checkpoint}
    means = {label: {metric: model_mean(stats["per_simulation"]) for metric, stats in rows[label]["metrics"].items()}
             for label in checkpoints if label in rows}
    return json_ready({
        "provenance": provenance(),
        "datasets": {grid: info.identity() for grid, info in evaluation.infos.items()},
        "simulations": [sim for sim, _, _ in evaluation.infos["data"].simulations],
        "start": evaluation.start, "stride": evaluation.stride, "amp": evaluation.amp,
        "metrics": metrics,
        "rows": rows,
        "spectra": spectra.to_json(),
        "against_mse": judge(means, trained_as(checkpoints, resolutions), metric_facts(metrics)),
    })


def cell(report: dict, row: str, metric: str) -> str:
    """Table text of one metric of one row: mean, ± std over simulations and over frames; `missing` or `—`."""
    stats = report["rows"][row]["metrics"].get(metric)
    if stats is None:
        return "missing" if report["metrics"][metric]["missing"] and not row.endswith(REFERENCE) else "—"
    text = "nan" if stats["mean"] is None else f"{stats['mean']:.4g}"
    for key, what in (("std_simulations", "sims"), ("std_frames", "frames")):
        if stats[key] is not None:
            text += f"\n± {stats[key]:.2g} ({what})"
    return text


def table(report: dict) -> list[list[str]]:
    """Table cells: a row per evaluated row (label, grid, compression ratio), a column per metric."""
    return [[row, content["grid"], "" if content["compression_ratio"] is None else f"{content['compression_ratio']:.3g}",
             *(cell(report, row, metric) for metric in report["metrics"])] for row, content in report["rows"].items()]


def table_csv(report: dict) -> str:
    """One line per row and metric: grid, compression ratio, mean, both standard deviations, or why it is missing."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "grid", "compression_ratio", "metric", "mean", "std_simulations", "std_frames",
                     "simulations", "missing"])
    for row, content in report["rows"].items():
        for metric, about in report["metrics"].items():
            stats = content["metrics"].get(metric)
            if about["missing"] and not row.endswith(REFERENCE):
                writer.writerow([row, content["grid"], content["compression_ratio"], metric, "", "", "", "",
                                 about["missing"]])
            elif stats is not None:
                writer.writerow([row, content["grid"], content["compression_ratio"], metric, stats["mean"],
                                 stats["std_simulations"], stats["std_frames"], len(stats["per_simulation"]), ""])
    return out.getvalue()


def write(report: dict, example: dict[str, np.ndarray], out: Path) -> list[Path]:
    """frames.json, frames.csv and example.npz in `out`, each written atomically; frames.json, which marks the
    evaluation finished, last (an evaluation interrupted before it is simply run again)."""
    write_text(out / TABLE, table_csv(report))
    with atomic_path(out / EXAMPLE_FILE) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, **example)
    write_text(out / FRAMES_FILE, json.dumps(report, indent=1, allow_nan=False))
    return [out / FRAMES_FILE, out / TABLE, out / EXAMPLE_FILE]


def check_out(out: Path, overwrite: bool) -> None:
    """Create the output folder, refusing one that holds an earlier frame evaluation unless `overwrite`."""
    check_output_folder(out, FRAMES_FILE, "a frame evaluation", overwrite)

