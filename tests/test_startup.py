"""The command line answers help, version and option errors without loading torch or PhiFlow (seconds each)."""

import pytest

from conftest import assert_one_line_error
from processes import Run


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["downsample", "--help"],
                                  ["train", "sol", "--help"], ["train", "sr", "--help"], ["train", "ae", "--help"],
                                  ["evaluate", "rollout", "--help"], ["evaluate", "pair", "--help"],
                                  ["simulate", "--help"], ["benchmark", "--help"], ["weights", "import", "--help"]])
def test_help_loads_neither_torch_nor_phiflow(args):
    run = Run(*args)
    assert run.exit_code == 0 and "Usage:" in run.stdout
    assert run.loaded == []


def test_version_names_fluidloss_and_the_simulation_libraries():
    run = Run("--version")
    assert run.exit_code == 0 and run.loaded == []
    line = run.stdout.strip()
    assert line.startswith("fluidloss ") and all(f"{name} " in line for name in ("torch", "phiflow", "phiml"))


@pytest.mark.parametrize("args, fragment", [
    (["generate", "nosuch", "--out", "x.h5"], "unknown scene 'nosuch'"),
    (["generate", "karman", "--res", "12", "--out", "x.h5"], "malformed"),
    (["downsample", "in.h5", "--res", "64by32", "--out", "x.h5"], "malformed"),
    (["simulate", "plume", "--out", "x.h5"], "unknown scene 'plume'"),
    (["evaluate", "rollout", "--data", "d.h5", "--summary", "median", "--out", "e"], "--summary must be one of"),
    (["benchmark", "--data", "d.h5"], "give --res HxW (the coarse grid) or a --sol checkpoint"),
    (["benchmark", "--data", "d.h5", "--coarse-res", "64"], "malformed"),
    (["generate", "karman", "--config", "missing.toml", "--out", "x.h5"], "missing.toml: no such config file"),
    (["train", "sol", "--data", "missing.h5", "--out", "run"], "missing.h5: no such file"),
    (["train", "sr", "--coarse", "c.h5", "--fine", "f.h5", "--out", "run"], "c.h5: no such file"),
    (["evaluate", "rollout", "--data", "d.h5", "--out", "e"], "d.h5: no such file"),
    (["evaluate", "frames", "--data", "d.h5", "--out", "e"], "d.h5: no such file"),
    (["simulate", "karman", "--sol", "nope.pt", "--out", "x.h5"], "nope.pt: no such checkpoint"),
    (["benchmark", "--data", "d.h5", "--coarse-res", "64x32"], "d.h5: no such file"),
    (["downsample", "d.h5", "--res", "64x32", "--out", "x.h5"], "d.h5: no such file"),
    (["train", "sol", "--data", "d.h5", "--loss", "nosuchloss", "--out", "run"], "unknown loss 'nosuchloss'"),
    (["train", "ae", "--data", "d.h5", "--loss", "mse+0.1*msee", "--out", "run"], "unknown loss 'msee'"),
    (["evaluate", "rollout", "--data", "d.h5", "--metrics", "mse,nosuchmetric", "--out", "e"],
     "metric 'nosuchmetric': not a physical measure"),
    (["evaluate", "frames", "--data", "d.h5", "--metrics", "vorticity,vorticity", "--out", "e"],
     "vorticity named more than once"),
])
def test_option_and_input_errors_come_before_the_heavy_imports(args, fragment, tmp_path):
    run = Run(*args, cwd=tmp_path)
    assert run.loaded == [], run.output
    assert_one_line_error(run, fragment)


def test_help_texts_name_every_registry_entry():
    """The light defaults module spells the measure and quantity names out (for the commands' help, without loading
    the registries); they must match the registries, and the commands must take them from there."""
    from fluidloss_cli.commands import evaluate, simulate
    from fluidloss_cli.engine import defaults
    from fluidloss_cli.engine import metric_facts
    from fluidloss_cli.engine.metrics import MEASURES
    from fluidloss_cli.engine.models import sr_net
    from fluidloss_cli.engine.render import QUANTITIES
    from fluidloss_cli.engine.study import config, scene_spec

    assert list(metric_facts.MEASURES) == list(MEASURES) and evaluate.MEASURE_NAMES == ", ".join(MEASURES)
    assert defaults.QUANTITIES == tuple(QUANTITIES) and simulate.QUANTITY_NAMES == ", ".join(QUANTITIES)
    assert set(defaults.DEFAULT_METRICS.split(",")) <= {*MEASURES, "mse", "mae", "lsim", "lpips", "vgg"}
    assert evaluate.DEFAULT_METRICS is defaults.DEFAULT_METRICS
    assert sr_net.FACTORS is defaults.SR_FACTORS and scene_spec.SR_FACTORS is defaults.SR_FACTORS
    assert config.VAL_SPLIT == defaults.VAL_SPLIT


def test_a_foreign_input_file_is_refused_before_the_heavy_imports(tmp_path):
    (tmp_path / "notes.h5").write_text("not HDF5")
    run = Run("train", "ae", "--data", "notes.h5", "--out", "run", cwd=tmp_path)
    assert run.loaded == [], run.output
    assert_one_line_error(run, "notes.h5: not a readable HDF5 file")
