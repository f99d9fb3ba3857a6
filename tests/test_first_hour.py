"""What a new user meets first: help without a command, examples in every help, one name per concept (the old
spellings kept, hidden), output that a pipe gets unwrapped, and results that say whether they beat their baseline."""

import io
import json
import re
import subprocess
import sys

import pytest
import typer
from rich.table import Table

from conftest import assert_one_line_error, run_cli
from processes import ROOT, Run
from fluidloss_cli.app import app
from fluidloss_cli.commands import benchmark as benchmark_cmd
from fluidloss_cli.commands.common import (
    RENAMED,
    START,
    UNWRAPPED_WIDTH,
    Unwrapped,
    expand_multi_value_flags,
    rename_old_flags,
)
from fluidloss_cli.commands.examples import EXAMPLES

GROUPS = ["train", "evaluate", "study", "weights"]


def commands() -> dict[str, "typer.main.click.Command"]:
    """Every subcommand of the app a user sees (hidden ones left out) by its path after `fluidloss`, e.g. "train sol"."""
    found = {}

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            if not getattr(command, "hidden", False):
                found[" ".join(path)] = command
            return
        for name, sub in subcommands.items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = commands()


@pytest.mark.parametrize("args", [[], *([group] for group in GROUPS)])
def test_a_group_without_a_command_prints_its_help(args):
    run = Run(*args)
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith("Usage: fluidloss") and "Commands:" in run.stdout and "error" not in run.output
    assert run.loaded == []


def test_every_subcommand_has_examples_that_parse():
    """Each help ends with Examples; each example names its own command and parses with its options (no renamed
    or unknown flag)."""
    assert set(EXAMPLES) == set(COMMANDS)
    for path, command in COMMANDS.items():
        with command.make_context(f"fluidloss {path}", ["--help"], resilient_parsing=True) as ctx:
            text = command.get_help(ctx)
        assert "Examples:" in text, path
        for line in EXAMPLES[path]:
            assert line.startswith(f"fluidloss {path} ") or line == f"fluidloss {path}", line
            assert line in text.replace("\n    ", " ") or line[:60] in text, (path, line)
            args = line.removeprefix(f"fluidloss {path}").split()
            args = expand_multi_value_flags([a.strip('"') for a in args])
            command.make_context(f"fluidloss {path}", args)  # raises on an unknown option or a bad value


def test_the_study_run_examples_choose_models_of_their_study():
    """Each `--first` glob of the `study run` examples matches a model of its preset (one named a task that the
    preset had dropped, which `study run` refuses)."""
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import read_config
    from fluidloss_cli.engine.study.shard import first

    for line in EXAMPLES["study run"]:
        args = [a.strip("'") for a in line.split()]
        patterns = [args[k + 1] for k, a in enumerate(args) if a == "--first"]
        cells = {cell.id: cell for cell in plan_cells(read_config(ROOT / args[3]))}
        assert first(cells, list(cells), patterns)[0] in cells, line


def test_help_shows_the_scene_defaults():
    out = Run("generate", "--help").stdout
    assert "karman 128x64, buoyancy 128x128" in " ".join(out.split())
    assert "karman 650, buoyancy 0" in " ".join(out.split())
    assert "Scene to simulate: karman, buoyancy, karman-wide-cylinder, buoyancy-narrow-source." in " ".join(out.split())
    assert "karman-wide-cylinder 128x64" not in out  # a variant's defaults are its base's, not listed twice


def test_one_name_per_concept():
    """--metrics and --start everywhere, --res for every resolution, one placeholder style, one start default."""
    names = {path: {opt for p in c.params for opt in p.opts} for path, c in COMMANDS.items()}
    for path, options in names.items():
        assert not options & {"--metric", "--frame", "--coarse-res"}, path
    assert "--metrics" in names["evaluate pair"] and "--res" in names["benchmark"]
    starts = {path: next(p for p in c.params if p.name == "start") for path, c in COMMANDS.items()
              if "--start" in names[path]}
    assert set(starts) == {"evaluate rollout", "evaluate frames", "benchmark", "simulate"}
    assert starts["benchmark"].default == starts["evaluate frames"].default == START
    assert starts["evaluate rollout"].default == [START] and "--first" not in names["evaluate frames"]
    for path in ("evaluate rollout", "evaluate frames", "benchmark", "simulate"):  # Typer's own: <file>, <int>
        assert not re.search(r"^  --[\w-]+ [A-Z]+ ", Run(*path.split(), "--help").stdout, re.MULTILINE), path


def test_the_command_list_follows_the_workflow_with_whole_summaries():
    """`fluidloss --help` lists generate ... weights in the order a user meets them, each with its whole first
    sentence (click cut them with "..."); a group's list too."""
    for args, first in ((), "generate"), (("study",), "plan"):
        listing = Run(*args, "--help").stdout.split("Commands:")[1]
        names = re.findall(r"^  ([\w-]+) ", listing, re.MULTILINE)
        assert names[0] == first and "..." not in listing, listing
    names = re.findall(r"^  ([\w-]+) ", Run("--help").stdout.split("Commands:")[1], re.MULTILINE)
    assert names == ["generate", "downsample", "train", "evaluate", "simulate", "benchmark", "study", "export",
                     "weights"]


def test_every_command_but_the_study_subcommands_takes_a_config_file():
    """README's claim, checked against the app."""
    without = sorted(path for path, command in COMMANDS.items()
                     if "--config" not in {opt for p in command.params for opt in p.opts})
    assert without and all(path.startswith("study ") for path in without), without


def test_help_placeholders_name_one_value_and_defaults_read_alike():
    """`<file>`, `<int>`, ... for a repeatable option too (never `<list[Path]>`), and help text defaults written as
    Typer writes its own (`default: X`), not `(default X)`."""
    for path in COMMANDS:
        text = Run(*path.split(), "--help").stdout
        assert not re.search(r"^  --[\w-]+ <list\[", text, re.MULTILINE), path
        assert not re.search(r"\(default [^:]", text), path


def test_old_spellings_still_work_but_are_not_shown():
    assert rename_old_flags(["benchmark", "--data", "d.h5", "--frame", "3", "--coarse-res=32x16"]) == \
        ["benchmark", "--data", "d.h5", "--start", "3", "--res=32x16"]
    assert rename_old_flags(["simulate", "karman", "--frame", "3"]) == ["simulate", "karman", "--start", "3"]
    assert rename_old_flags(["evaluate", "pair", "a", "b", "--metric", "mse"])[-2:] == ["--metrics", "mse"]
    assert rename_old_flags(["evaluate", "frames", "--first", "3"])[-2:] == ["--start", "3"]
    assert rename_old_flags(["evaluate", "rollout", "--frame", "3"])[-2] == "--frame"  # not a flag of its own
    for path, renamed in RENAMED.items():
        text = Run(*path, "--help").stdout
        assert not any(f"{old} " in text or f"{old}," in text for old in renamed), path


def test_an_old_spelling_reaches_its_option(tmp_path):
    """`benchmark --coarse-res 64` and a config's `coarse_res` key are read as `--res`: the same refusal, at once."""
    run = Run("benchmark", "--data", "d.h5", "--coarse-res", "64", cwd=tmp_path)
    assert run.loaded == []
    assert_one_line_error(run, "malformed")
    (tmp_path / "bench.toml").write_text('coarse_res = "64"\nframe = 3\n')
    run = Run("benchmark", "--data", "d.h5", "--config", "bench.toml", cwd=tmp_path)
    assert_one_line_error(run, "malformed")


def test_shell_completion_is_offered():
    """`--install-completion` is offered, and the completion it installs answers (bash's protocol: the words so far),
    commands and options, and the values of registries and choices: scenes, losses, models, solvers, metrics (the
    last item of a list), activations, quantities."""
    assert "--install-completion" in Run("--help").stdout
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "_FLUIDLOSS_COMPLETE": "complete_bash"}
    for words, expected in (("fluidloss tr", "train"), ("fluidloss train s", "sr\nsol"),
                            ("fluidloss benchmark --sta", "--start"), ("fluidloss generate k", "karman\nkarman-wide-cylinder"),
                            ("fluidloss train sol --activation l", "leaky_relu"),
                            ("fluidloss train sol --loss lpips-s", "lpips-squeeze"),
                            ("fluidloss train sr --model s", "sr"), ("fluidloss simulate karman --solver p", "phiflow"),
                            ("fluidloss evaluate rollout --metrics mse,vort", "mse,vorticity"),
                            ("fluidloss simulate karman --quantity d", "density")):
        done = subprocess.run([sys.executable, "-m", "fluidloss_cli"], capture_output=True, text=True, cwd=ROOT,
                              env={**env, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)})
        assert done.returncode == 0 and done.stdout.strip() == expected, (words, done.stdout, done.stderr)


def test_a_pipe_gets_unwrapped_lines():
    """On a terminal rich wraps at its width; a file or pipe gets every line and table whole (COLUMNS ignored)."""
    out = io.StringIO()
    console = Unwrapped(file=out, width=None)
    assert not console.is_terminal and console.width == UNWRAPPED_WIDTH
    long = " ".join(f"word{i}" for i in range(60))
    console.print(long)
    table = Table()
    table.add_column("cell", overflow="fold")
    table.add_row("karman-sol-mse+0.1*lsim-seed2-unroll4-width16-" * 3)
    console.print(table)
    lines = out.getvalue().splitlines()
    assert lines[0] == long and any("karman-sol-mse+0.1*lsim-seed2-unroll4-width16-" * 3 in line for line in lines)


def test_study_plan_piped_keeps_cell_names_whole():
    done = subprocess.run([sys.executable, "-m", "fluidloss_cli", "study", "plan", "sample_configs/study_smoke.toml",
                           "--no-probe"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "60", "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stderr.splitlines() if line.startswith("│")]
    assert rows and all(not line.startswith("│  ") for line in rows)  # no folded continuation lines
    assert max(map(len, done.stderr.splitlines())) > 60


def test_evaluate_marks_rows_worse_than_the_uncorrected_solver():
    from fluidloss_cli.engine.evaluation import rollouts_report as reports

    def row(**values):
        return {"metrics": {m: {"mean": v, "final_mean": v} for m, v in values.items()}}

    report = {"metrics": {"vorticity": {}, "energy": {}, "mse": {}, "lsim": {}},
              "grids": {"coarse": {"rows": {"reference": row(energy=1.0), "coarse": row(vorticity=0.9, mse=2.0),
                                            "sol_good": row(vorticity=0.95, mse=1.0),
                                            "sol_bad": row(vorticity=0.99, mse=3.0),
                                            "sol_nan": row(vorticity=0.5, mse=None)}},
                        "fine": {"rows": {"coarse+bicubic": row(mse=1.0), "sol_bad+bicubic": row(mse=1.5)}}}}
    assert reports.worse_than_baseline(report, "coarse", "mean") == ("mse", {"sol_bad", "sol_nan"})
    assert reports.worse_than_baseline(report, "fine", "final") == ("mse", {"sol_bad+bicubic"})


def test_benchmark_marks_worse_variants_and_warns_of_spread():
    from fluidloss_cli.engine.benchmark import VariantResult
    from fluidloss_cli.engine.metrics import build_metrics

    import torch

    metrics = build_metrics("energy,mse", torch.device("cpu"))
    results = [VariantResult("fine", [1.0, 1.0], {"energy": 1.0, "mse": 0.0}),
               VariantResult("coarse", [0.5, 0.5], {"energy": 1.0, "mse": 2.0}),
               VariantResult("coarse+SOL", [0.1, 1.0], {"energy": 1.0, "mse": 3.0})]
    assert benchmark_cmd.judged_by(metrics) == "mse"
    assert benchmark_cmd.worse(results, "mse") == {"coarse+SOL"}
    assert "coarse+SOL 10.0-100.0 ms" in benchmark_cmd.spread_warning(results, 10)
    assert benchmark_cmd.spread_warning(results[:2], 10) is None
    out = io.StringIO()
    Unwrapped(file=out).print(benchmark_cmd.table(results, 10, metrics, "native", {"coarse+SOL"}))
    assert "coarse+SOL *" in out.getvalue() and "coarse *" not in out.getvalue()


def test_train_sol_prints_the_uncorrected_loss_to_beat(karman_files, tmp_path):
    """Before the first epoch and beside each: the validation loss of the zero correction, the uncorrected solver,
    also in metrics.jsonl; one throughput figure (per epoch)."""
    _, coarse = karman_files
    result = run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "run", "--unroll", "1", "--epochs", "2",
                     "--batch-size", "16", "--val-split", "0.5", "--width", "8", "--blocks", "1")
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    baseline = lines[0]["baseline_val_loss"]
    assert baseline > 0 and all(line["baseline_val_loss"] == baseline for line in lines)
    assert f"before training: val {baseline:.5g}, the uncorrected solver's" in result.output
    epochs = [line for line in result.output.splitlines() if line.startswith("epoch ") and ": train " in line]
    assert len(epochs) == 2 and all(f"(uncorrected solver {baseline:.5g}: " in line for line in epochs)
    assert result.output.count("samples/s") == 2  # the epoch lines'; the bar shows none


def test_the_baseline_is_the_zero_correction_and_changes_no_training(karman_files, tmp_path):
    """The baseline is the untrained model's validation loss, measured without touching the random states: the
    trained weights are those of a run that does not measure it."""
    import torch

    from fluidloss_cli.engine.training import TASKS, Trainer, TrainConfig

    _, coarse = karman_files
    config = TrainConfig(epochs=1, batch_size=16, lr=1e-3)
    trained = {}
    for measured in (True, False):
        setup = TASKS["sol"](data=coarse, val_split=0.5, unroll=1, width=8, blocks=1, seed=0)
        if not measured:
            setup.baseline = None
        trainer = Trainer(setup, config, tmp_path / str(measured), torch.device("cpu"))
        trainer.fit()
        trained[measured] = trainer.model.state_dict()
    for name, value in trained[True].items():
        assert torch.equal(value, trained[False][name]), name


def test_cheap_option_checks_answer_before_the_inputs_and_heavy_imports(tmp_path):
    run = Run("train", "sol", "--data", "missing.h5", "--unroll", "3", "--out", "run", cwd=tmp_path)
    assert run.loaded == []
    assert_one_line_error(run, "--unroll 3: expected one of 1, 2, 4, 8, 16")
