"""The study report: the per-cell results of every shard merged into `report.md`, `report.json` and figures.

Per task and scene, a table of every loss (rows) against every metric (columns). A trained row's value pools the
models of every training seed over every test simulation: the mean and sample standard deviation of those
seeds x simulations values (for SOL a simulation's value is its mean over the rollout steps and start frames, for SR
and AE over the test frames). The best value of a column is marked only when its interval mean ± std overlaps no
other loss's interval, and only where every loss has a spread (two values or more) and all are measured on as many
seeds (none pending). Per scene, a table of how far
its test simulations lie from its training data (engine/data/novelty.py).
"""

import math
from pathlib import Path

from fluidloss_cli.engine.data.novelty import ABOUT, HEADER, as_records, novelty, rows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.metric_facts import MetricFacts
from fluidloss_cli.engine.results import BASELINES, BICUBIC, REFERENCE
from fluidloss_cli.engine.study.figures import plot_example, plot_rollout, plot_spectra, plot_training
from fluidloss_cli.engine.study.files import read_json, write_json, write_text
from fluidloss_cli.engine.study.layout import (DATA, FAILED, FIGURES, OOD, PLAN, RENDER, REPORT_DATA, REPORT_FILE, RESULT,
                                               cell_folder)
from fluidloss_cli.engine.study.sections import (ROW_PENDING, Row, Section, as_json, at_step, build_section, marked,
                                                 summary)
from fluidloss_cli.engine.verdicts import AGAINST, Verdict, model_means, verdicts


def cell_text(row: Row, metric: str, facts: MetricFacts | None, best: bool) -> str:
    """A table cell: `mean ± std`, bold when marked best; `missing` (weights) or `—` where there is no value."""
    if row.status:
        return "—"
    if metric not in row.values:
        return "missing" if facts and facts.missing and row.name != REFERENCE else "—"
    mean, std = summary(row.values[metric])
    text = "nan" if math.isnan(mean) else f"{mean:.4g}" + ("" if std is None else f" ± {std:.2g}")
    return f"**{text}**" if best else text


def table(section: Section, metrics: list[str], seeds: int) -> list[str]:
    """The markdown table of a section; a row measured on fewer than the study's `seeds` says on how many."""
    best = {metric: marked(section, metric) for metric in metrics}
    extra = ["compression"] if section.kind == "ae" else []
    lines = ["| loss | " + " | ".join(extra + metrics) + " |", "|---" * (1 + len(extra) + len(metrics)) + "|"]
    for row in section.rows:
        name = row.name + (f" ({row.status})" if row.status else "") + \
            (f" ({row.seeds} of {seeds} seeds)" if 0 < row.seeds < seeds else "")
        cells = ([f"{row.compression:.3g}" if row.compression else "—"] if extra else [])
        cells += [cell_text(row, m, section.metrics.get(m), best[m] == row.name) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def section_verdicts(section: Section, metrics: list[str], seeds: int) -> dict[str, dict[str, Verdict]]:
    """Metric -> loss -> its verdict against MSE by the decision rule (`verdicts`), for the section's trained rows;
    `pending` while any of its losses (one not started too) has fewer than the study's `seeds` measured."""
    trained = [row for row in section.rows if row.seed_ids and not row.status]
    waiting = {row.name: {} for row in section.rows if row.status == ROW_PENDING}
    found = {}
    for metric in metrics:
        facts = section.metrics.get(metric)
        models = {row.name: model_means(row.values[metric], row.seed_ids) for row in trained if metric in row.values}
        if facts is not None and models:
            found[metric] = verdicts(models | waiting, facts, seeds)
    return found


def verdict_lines(section: Section, metrics: list[str], found: dict[str, dict[str, Verdict]]) -> list[str]:
    """The verdict table: every loss against MSE on every metric with a direction (`found`: `section_verdicts`)."""
    shown = [metric for metric in metrics if found.get(metric)]
    if not shown:
        return []
    losses = [row.name for row in section.rows if any(row.name in found[m] for m in shown)]
    lines = [f"## {section.title} · against {AGAINST}", "",
             f"Against {AGAINST}, by the decision rule (docs/study.md): per model the mean over the test simulations; "
             "paired t-test over common seeds (errors as log ratios), Holm-adjusted over the losses of a column, "
             "level 0.05. Effect: loss/mse (ratio) or loss - mse (difference).", "",
             "| loss | " + " | ".join(shown) + " |", "|---" * (1 + len(shown)) + "|"]
    for loss in losses:
        lines.append(f"| {loss} | " + " | ".join(found[m][loss].text() if loss in found[m] else "—" for m in shown)
                     + " |")
    return lines + [""]


def epoch_lines(section: Section) -> list[str]:
    """Each model's best validation epoch of the epochs it ran and its validation loss there (the value a
    learning-rate sweep chooses by); a best epoch that is the last says it was still improving when training
    stopped."""
    lines = []
    for loss, logs in section.training.items():
        runs = [(min(log, key=lambda r: r["val_loss"]), len(log)) for log in logs if log]
        if runs:
            text = ", ".join(f"{best['epoch']}/{ran} (val {best['val_loss']:.4g})" for best, ran in runs)
            still = sum(best["epoch"] == ran for best, ran in runs)
            lines.append(f"- {loss}: {text}" + (f"; {still} still improving at the end" if still else ""))
    return ["Best validation epoch / epochs run (its validation loss), per seed:", "", *lines, ""] if lines else []


def verdicts_json(found: dict[str, dict[str, Verdict]]) -> dict:
    """The verdicts (`section_verdicts`) as report.json stores them: metric -> loss -> verdict."""
    return {metric: {loss: verdict.to_json() for loss, verdict in by_loss.items()} for metric, by_loss in found.items()}


SHOWN_STEPS = (1, 10, 25, 50)
"""Rollout steps of the by-step tables, besides the unrolled steps trained through and the last one."""


def step_lines(plan: dict, section: Section) -> list[str]:
    """SOL: each metric that is also one of the task's losses at single rollout steps (the first, the last one
    trained through, later ones, the last), a table per metric, rows and marks as in the section's table; a model
    that leads on its loss only near the trained horizon shows it here, where the whole-rollout mean hides it."""
    task = plan["tasks"][section.task]
    length = max((len(curves[0]) for row in section.rows for curves in row.steps.values() if curves), default=0)
    unroll = task.get("options", {}).get("unroll")
    steps = sorted({s for s in (*SHOWN_STEPS, unroll, length) if s and s <= length})
    metrics = [m for m in plan["metrics"] if m in task.get("losses", plan["losses"])
               and any(row.steps.get(m) for row in section.rows)]
    if not steps or not metrics:
        return []
    horizon = f": step {unroll} is the last of the {unroll} unrolled steps training went through" if unroll else ""
    lines = [f"## {section.title} · by rollout step", "",
             f"The rows above are means over all {length} rollout steps. Here each metric that is also a training loss "
             f"at single steps{horizon} (mean ± std over seeds x test simulations, each simulation's value its mean "
             f"over the start frames).", ""]
    at = {step: at_step(section, step) for step in steps}
    for metric in metrics:
        best = {step: marked(at[step], metric) for step in steps}
        lines += [f"{metric} at rollout step:", "", "| loss | " + " | ".join(map(str, steps)) + " |",
                  "|---" * (1 + len(steps)) + "|"]
        for index, row in enumerate(section.rows):
            if row.status or not row.steps.get(metric):
                continue
            cells = [cell_text(at[step].rows[index], metric, section.metrics.get(metric), best[step] == row.name)
                     for step in steps]
            lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def novelty_section(out: Path, scene: str, baseline: Row | None, role: str = "test") -> tuple[list[str], list[dict]]:
    """How far the scene's coarse test simulations (`role` test, or `ood`: those of its variant) lie from its coarse
    training data, beside the uncorrected coarse solver's rollout MSE per test simulation (the SOL baseline; none
    without it): report lines and records."""
    test, train = (cell_folder(out, f"data/{scene}/{kind}-coarse") / DATA for kind in (role, "train"))
    if not (test.exists() and train.exists()):
        return [], []
    found = novelty(test, train)
    errors = baseline.values.get("mse") if baseline else None
    records = as_records(found, {item.simulation: error for item, error in zip(found, errors or [])})
    what = "test" if role == "test" else "out-of-distribution test"
    lines = [f"## {what} vs training data · {scene}", "",
             f"The coarse {what} data against the coarse training data (nearest frame searched for "
             f"{'every test frame' if found[0].stride == 1 else f'every {found[0].stride}th test frame'}). {ABOUT}", "",
             "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows(records)] + [""], records


def cell_lines(out: Path, plan: dict) -> list[str]:
    """A table of every cell: status, wall time and device."""
    lines = ["| cell | status | wall time (s) | device |", "|---|---|---|---|"]
    for cell in plan["cells"]:
        folder = cell_folder(out, cell["id"])
        result = read_json(folder / RESULT) or read_json(folder / FAILED) or {}
        status = result.get("status", "pending") + (f": {result['reason']}" if result.get("reason") else "")
        wall = f"{result['wall_s']:.1f}" if "wall_s" in result else "—"
        lines.append(f"| {cell['id']} | {status} | {wall} | {result.get('device', '—')} |")
    return lines


def panels_show(plan: dict, scene: str) -> str:
    """What the SR/AE comparison panels of a scene show: its density where the scene scores density (buoyancy's
    plume), else the speed (Karman's density is a passive marker)."""
    from fluidloss_cli.engine.scenes import scene_class  # loads PhiFlow: only for a study with SR or AE tasks

    return "density" if "density" in scene_class(plan["scenes"][scene]["kind"]).scored_fields() else "speed"


def section_lines(out: Path, plan: dict, section: Section,
                  found: dict[str, dict[str, Verdict]]) -> tuple[list[str], list[Path]]:
    """A section's markdown (heading, data, table, verdicts `found`, figures, the rendered rollout) and the figures it
    wrote."""
    task, scene, info = section.task, section.scene, plan["scenes"][section.scene]
    seeds = plan["tasks"][task].get("seeds", plan["seeds"])
    if section.ood:
        lines = [f"## {section.title}", "",
                 f"The models of the section {task} · {scene}, evaluated on {section.ood}, a variant of the scene "
                 f"(another geometry, docs/dataset.md): its {info['test_simulations']} simulation(s) have the test "
                 f"simulations' Reynolds numbers and seeds; no model saw this geometry in training.", ""]
    elif section.pipeline:
        sol = plan["tasks"][section.pipeline]
        lines = [f"## {section.title}", "",
                 f"The use case: the coarse {info['coarse']} solver corrected by the {section.pipeline} model of "
                 f"loss {sol['losses'][0]} of the same seed, each step super-resolved by the models of the section "
                 f"{task} · {scene}, against the fine {info['fine']} reference over the {section.pipeline} rollouts. "
                 f"{BICUBIC}: the same corrected rollouts upsampled bicubically.", ""]
    else:
        lines = [f"## {section.title}", "",
                 f"Fine {info['fine']}, coarse {info['coarse']}; {info['frames']} frames per simulation after "
                 f"{info['warmup']} warm-up frames; {info['train_simulations']} training and "
                 f"{info['test_simulations']} test simulation(s); {len(seeds)} training seed(s).", ""]
    again = section.ood or section.pipeline  # the models of another section, evaluated again
    lines += table(section, plan["metrics"], len(seeds)) + [""] + ([] if again else epoch_lines(section))
    plots = [] if again else [("training", "training curves", lambda p: plot_training(section, p))]
    if section.rollouts:
        plots.insert(0, ("rollout", "error over the rollout", lambda p: plot_rollout(section, plan["metrics"], p)))
    else:
        plots.append(("comparison", "one test frame", lambda p: plot_example(out, section, panels_show(plan, scene), p)))
        plots.append(("spectra", "error spectra", lambda p: plot_spectra(out, section, p)))
    files = []
    for kind, title, draw in plots:
        name = f"{section.key.replace('/', '_')}_{kind}.png"
        draw(out / FIGURES / name)
        if (out / FIGURES / name).exists():
            files.append(out / FIGURES / name)
            lines += [f"![{section.key.replace('/', ' ')}: {title}]({FIGURES}/{name})", ""]
    render = [] if again else sorted((cell_folder(out, f"render/{task}/{scene}") / RENDER).glob("frame_*.png"))
    if render:
        lines += [f"![{task} {scene}: coarse | coarse+SOL | reference, last rollout frame]"
                  f"({render[-1].relative_to(out).as_posix()})", ""]
    lines += verdict_lines(section, plan["metrics"], found)
    if section.kind == "sol":  # the SOL task's unrolled steps
        lines += step_lines(plan, section)
    return lines, files


HOW_TO_READ = """Each trained row pools every training seed's model over every test simulation: the value is the mean
of those seeds x simulations values and ± their sample standard deviation (its spread). For SOL a simulation's value
is its mean over the rollout steps (and start frames), for SR and AE over the test frames. The baseline row (the
uncorrected coarse solver for SOL, bicubic upsampling for SR; an autoencoder has none: its compression ratio is
given instead) and the reference row (measures of the reference alone: divergence, energy) are spread over the test
simulations only. **Bold**: the best loss of a column (lowest for errors, highest for correlations such as
vorticity), marked only where its interval mean ± std overlaps no other loss's interval, every loss has a
spread and every loss is measured on as many seeds (none pending); divergence is an error (0: incompressible); measures without a better direction (energy) are compared with
the reference row and never marked. The verdict table below each section's table is the study's decision rule
(docs/study.md): it alone says whether a loss is better or worse than MSE; `pending` (the effect and p so far) while
any loss of the column (MSE included) has fewer seeds measured than the study plans. `missing`: the metric's weights are not on this machine; `skipped: weights missing`: the loss could not be
trained here."""


def write_report(out: Path) -> list[Path]:
    """Merge the cell results in `out` into report.md, report.json and figures/; returns the files written."""
    plan = read_json(out / PLAN)
    if plan is None:
        raise FluidlossError(f"{out} holds no study ({PLAN} is missing): run `fluidloss study run` first")
    files, lines, data = [], [f"# Study report: {plan['name']}", "", HOW_TO_READ, ""], {}
    baselines: dict[str, Row] = {}
    for task, about in plan["tasks"].items():
        for scene in about["scenes"]:
            sol = about["options"].get("rollout_sol")
            kinds = [{}] + [{"ood": True}] * bool(plan["scenes"][scene].get("ood")) + \
                [{"pipeline": True}] * bool(sol and scene in plan["tasks"].get(sol, {}).get("scenes", ()))
            for kind in kinds:
                section = build_section(out, plan, task, scene, **kind)
                if section.kind == "sol" and section.rows and section.rows[0].name == BASELINES["sol"].title:
                    baselines.setdefault((scene, OOD if section.ood else "test"), section.rows[0])
                judged = section_verdicts(section, plan["metrics"], len(about.get("seeds", plan["seeds"])))
                found, drawn = section_lines(out, plan, section, judged)
                lines, files, data[section.key] = lines + found, files + drawn, as_json(section)
                data[f"verdicts/{section.key}"] = verdicts_json(judged)
    for scene in plan["scenes"]:
        found, data[f"novelty/{scene}"] = novelty_section(out, scene, baselines.get((scene, "test")))
        lines += found
        if plan["scenes"][scene].get("ood"):
            found, data[f"novelty/{scene}/{OOD}"] = novelty_section(out, scene, baselines.get((scene, OOD)), OOD)
            lines += found
    lines += ["## Cells", ""] + cell_lines(out, plan) + [""]
    write_text(out / REPORT_FILE, "\n".join(lines))
    write_json(out / REPORT_DATA, data)
    return [out / REPORT_FILE, out / REPORT_DATA, *files]
