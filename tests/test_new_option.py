"""The option contract, proved from outside the package: a training option declared in this file alone (one
`TaskOption`, registered with one call) is a flag of `fluidloss train sol` with its help and its check, a key a study
config accepts and checks at plan time and passes on to its cells' command lines, a value the checkpoint records,
and a value a resumed run must repeat; with no module of the package edited."""

import json

import pytest

from conftest import assert_one_line_error, run_cli
from studies import small_config
from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.ranges import Range
from fluidloss_cli.engine.task_options import TaskOption, register_option, unregister_option

pytestmark = pytest.mark.usefixtures("one_thread")

DROPOUT = TaskOption("dropout", 0.0, "Dropout rate of the correction network.",
                     allowed=Range(lambda v: 0 <= v < 1, "from 0 to below 1"))

STUDY = small_config("[tasks.sol]\nunroll = 2\ndropout = DROPOUT\n", name="d", seeds=(0, 1, 2), batch_size=2,
                     frames=12)


@pytest.fixture
def dropout():
    """`--dropout` declared for `train sol` during the test, forgotten after it."""
    register_option("sol", DROPOUT)
    yield
    unregister_option("sol", "dropout")


def test_a_declared_option_is_a_flag_with_its_help_and_check(dropout, tmp_path):
    help_text = run_cli("train", "sol", "--help").output
    assert "--dropout" in help_text and "Dropout rate of the correction network." in help_text
    assert_one_line_error(run_cli("train", "sol", "--data", tmp_path / "missing.h5", "--dropout", "1.5", "--out",
                                  tmp_path / "run", ok=False), "--dropout must be from 0 to below 1, got 1.5")


def test_a_declared_option_reaches_the_checkpoint_and_resume_compares_it(dropout, karman_files, tmp_path):
    _, coarse = karman_files
    run = tmp_path / "run"
    common = ["train", "sol", "--data", coarse, "--unroll", "1", "--width", "4", "--blocks", "1", "--batch-size", "16",
              "--out", run]
    run_cli(*common, "--epochs", "1", "--dropout", "0.25")
    assert load_checkpoint(run / "last.pt")["task_options"]["dropout"] == 0.25
    assert json.loads((run / "config.json").read_text())["task_options"]["dropout"] == 0.25
    resumed = run_cli(*common, "--epochs", "1", "--dropout", "0.5", "--resume", ok=False)
    assert_one_line_error(resumed, "dropout differ")


def test_a_declared_option_is_a_study_key_checked_at_plan_time_and_passed_to_the_cells(dropout):
    from fluidloss_cli.engine.errors import FluidlossError
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import parse_config

    cells = {cell.id: cell for cell in plan_cells(parse_config(STUDY.replace("DROPOUT", "0.25")))}
    args = list(cells["train/sol/karman/mse/seed0"].args)
    assert args[args.index("--dropout") + 1] == "0.25"
    with pytest.raises(FluidlossError, match=r"tasks\.sol\.dropout must be from 0 to below 1, got 2"):
        parse_config(STUDY.replace("DROPOUT", "2"))
    with pytest.raises(FluidlossError, match="dropout must be a float"):
        parse_config(STUDY.replace("DROPOUT", '"high"'))


def test_an_undeclared_option_is_no_study_key():
    from fluidloss_cli.engine.errors import FluidlossError
    from fluidloss_cli.engine.study.config import parse_config

    with pytest.raises(FluidlossError, match="unknown key.*dropout"):
        parse_config(STUDY.replace("DROPOUT", "0.25"))
