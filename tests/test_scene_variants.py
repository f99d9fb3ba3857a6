"""Variants of a scene (another obstacle, another source): their own geometry in both solvers and in the stored data,
and models trained on the base scene evaluated on them end to end (the out-of-distribution test), while a model of
another scene is still refused. A variant defined in this file alone, registered by one call, runs the same way."""

import json
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from studies import small_config, study
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import register_scene, same_family, scene_class, scene_family, unregister_scene
from fluidloss_cli.engine.scenes.base import Wake
from fluidloss_cli.engine.scenes.buoyancy import Buoyancy
from fluidloss_cli.engine.scenes.karman import CYLINDER_CENTRE, INFLOW_SPEED, Karman

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ["--epochs", "1", "--batch-size", "4", "--width", "8", "--blocks", "1", "--device", "cpu"]


def masks(name: str, resolution: Resolution) -> dict[str, np.ndarray]:
    cls = scene_class(name)
    return cls(resolution, cls.default_dt, cls.reynolds_range and cls.reynolds_range[0], 0).masks()


def test_variants_change_their_geometry_only():
    """The wide cylinder covers (15/10)^2 the cells of karman's, the narrow source half of buoyancy's; same family,
    same defaults, and each is its own scene."""
    wide, karman = masks("karman-wide-cylinder", Resolution(128, 64)), masks("karman", Resolution(128, 64))
    assert wide["obstacle_mask"].sum() / karman["obstacle_mask"].sum() == pytest.approx(2.25, rel=0.06)
    assert np.array_equal(wide["inflow_mask"], karman["inflow_mask"])
    narrow, buoyancy = masks("buoyancy-narrow-source", Resolution(64, 64)), masks("buoyancy", Resolution(64, 64))
    assert narrow["inflow_mask"].sum() / buoyancy["inflow_mask"].sum() == pytest.approx(0.5, rel=1e-6)
    assert scene_family("karman-wide-cylinder") == "karman" and scene_family("karman") == "karman"
    assert same_family("karman", "karman-wide-cylinder") and not same_family("karman-wide-cylinder", "buoyancy")
    assert scene_class("karman-wide-cylinder").default_resolution == Karman.default_resolution


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 64x32 -> 32x16 (Re 1e5, 2e5) with a SOL model; its wide-cylinder variant at a new Re; buoyancy 32x32 ->
    16x16 with an SR and an AE model; its narrow-source variant with a new seed. Models one epoch each."""
    folder = tmp_path_factory.mktemp("variants")
    d = SimpleNamespace(**{name: folder / f"{name}.h5" for name in
                           ("k64", "k32", "w64", "w32", "b32", "b16", "n32", "n16")})
    for scene, res, extra, fine, coarse in (
            ("karman", "64x32", ["--re", "1e5", "2e5", "--frames", "8"], d.k64, d.k32),
            ("karman-wide-cylinder", "64x32", ["--re", "1.5e5", "--frames", "6"], d.w64, d.w32),
            ("buoyancy", "32x32", ["--frames", "6"], d.b32, d.b16),
            ("buoyancy-narrow-source", "32x32", ["--frames", "6", "--seed", "7"], d.n32, d.n16)):
        run_cli("generate", scene, "--res", res, "--warmup", "0", *extra, "--out", fine)
        run_cli("downsample", fine, "--res", f"{int(res.split('x')[0]) // 2}x{int(res.split('x')[1]) // 2}",
                "--out", coarse)
    run_cli("train", "sol", "--data", d.k32, "--unroll", "1", "--out", folder / "sol", *SMALL)
    run_cli("train", "sr", "--coarse", d.b16, "--fine", d.b32, "--out", folder / "sr", *SMALL)
    run_cli("train", "ae", "--data", d.b32, "--latent", "4", "--out", folder / "ae", *SMALL[:-4], "--device", "cpu")
    d.sol, d.sr, d.ae = (folder / name / "best.pt" for name in ("sol", "sr", "ae"))
    return d


def test_variant_data_store_the_variant_geometry(data):
    with h5py.File(data.w64) as wide, h5py.File(data.k64) as karman:
        assert str(wide.attrs["scene"]) == "karman-wide-cylinder"
        assert json.loads(wide["sim_0000"].attrs["parameters"])["cylinder_radius"] == 15.0
        assert json.loads(karman["sim_0000"].attrs["parameters"])["cylinder_radius"] == 10.0
        assert wide["sim_0000"]["obstacle_mask"][()].sum() > 2 * karman["sim_0000"]["obstacle_mask"][()].sum()
    with h5py.File(data.n32) as narrow:
        assert json.loads(narrow["sim_0000"].attrs["parameters"])["source_box_xy"] == [[75.0, 125.0], [0.0, 5.0]]


def test_a_sol_model_of_the_base_scene_rolls_out_on_its_variant(data, tmp_path):
    """evaluate rollout and simulate take a karman model to the wide-cylinder data, on the variant's own solver."""
    out = tmp_path / "eval"
    run_cli("evaluate", "rollout", "--data", data.w32, "--sol", data.sol, "--start", "0", "--steps", "3",
            "--metrics", "mse,divergence", "--device", "cpu", "--out", out)
    rows = json.loads((out / "evaluation.json").read_text())["grids"]["coarse"]["rows"]
    assert list(rows) == ["reference", "coarse", "sol"]
    assert all(np.isfinite(rows[row]["metrics"]["mse"]["mean"]) for row in ("coarse", "sol"))
    run_cli("simulate", "karman-wide-cylinder", "--from", data.w32, "--steps", "2", "--sol", data.sol,
            "--out", tmp_path / "rollout.h5")
    with h5py.File(tmp_path / "rollout.h5") as rollout:
        assert str(rollout.attrs["scene"]) == "karman-wide-cylinder"


def test_sr_and_ae_models_of_the_base_scene_evaluate_on_its_variant(data, tmp_path):
    out = tmp_path / "eval"
    run_cli("evaluate", "frames", "--data", data.n16, "--fine", data.n32, "--sr", data.sr, "--ae", data.ae,
            "--metrics", "mse", "--device", "cpu", "--out", out)
    rows = json.loads((out / "frames.json").read_text())["rows"]
    assert {"bicubic", "sr", "ae"} <= set(rows)
    assert all(np.isfinite(rows[row]["metrics"]["mse"]["mean"]) for row in ("sr", "ae"))


def test_a_model_of_another_scene_is_still_refused(data, tmp_path):
    result = run_cli("evaluate", "rollout", "--data", data.n16, "--sol", data.sol, "--steps", "2", "--device", "cpu",
                     "--out", tmp_path / "eval", ok=False)
    assert_one_line_error(result, "corrects karman", "not buoyancy-narrow-source")


class ShiftedCylinderKarman(Karman):
    """karman with its cylinder 25 units to the right: a variant defined outside the package."""

    name = "karman-shifted"
    wake = Wake(diameter=20.0, centre=(CYLINDER_CENTRE[0] + 25.0, CYLINDER_CENTRE[1]), speed=INFLOW_SPEED)


def test_a_variant_defined_outside_the_package_is_one_call(tmp_path):
    """Registered by one call, it generates with the native solver (its base's step on its geometry) and matches
    PhiFlow's step for the same variant; a variant must subclass its base."""
    register_scene("karman-shifted", ShiftedCylinderKarman, variant_of="karman")
    try:
        with pytest.raises(FluidlossError, match="must subclass"):
            register_scene("buoyancy-shifted", Buoyancy, variant_of="karman")
        for solver in ("native", "phiflow"):
            run_cli("generate", "karman-shifted", "--res", "32x16", "--re", "1e5", "--frames", "4", "--warmup", "0",
                    "--solver", solver, "--out", tmp_path / f"{solver}.h5")
        with h5py.File(tmp_path / "native.h5") as native, h5py.File(tmp_path / "phiflow.h5") as phiflow:
            obstacle = native["sim_0000"]["obstacle_mask"][()]
            assert obstacle.sum() > 0 and obstacle[:, :8].sum() < obstacle[:, 8:].sum()  # right of the middle (16 wide)
            for name in ("velocity_x", "velocity_y"):
                a, b = native["sim_0000"][name][()], phiflow["sim_0000"][name][()]
                assert np.abs(a - b).max() < 1e-3 * np.abs(b).max()
    finally:
        unregister_scene("karman-shifted")


OOD_STUDY = small_config("[tasks.sol]\nunroll = 1\nwidth = 8\nblocks = 1\nstart = [1]\nsteps = 3\n", name="ood",
                         losses=("mse", "mae")).replace("test_seeds = [7]", 'test_seeds = [7]\nood = "karman-wide-cylinder"')


def test_a_study_evaluates_every_model_on_the_scenes_variant(env, tmp_path):
    """`[scenes.NAME] ood`: the test simulations again on the variant, every model evaluated there too, and a section
    of its own in the report (table and verdicts), beside the in-distribution one."""
    config, out = tmp_path / "ood.toml", tmp_path / "out"
    config.write_text(OOD_STUDY)
    study(env, "run", config, "--out", out)
    with h5py.File(out / "cells/data/karman/ood-coarse/data.h5") as ood, \
            h5py.File(out / "cells/data/karman/test-coarse/data.h5") as test:
        assert str(ood.attrs["scene"]) == "karman-wide-cylinder" and str(test.attrs["scene"]) == "karman"
        assert [ood[sim].attrs["reynolds"] for sim in ood] == [test[sim].attrs["reynolds"] for sim in test]
    for loss in ("mse", "mae"):
        assert (out / f"cells/ood/sol/karman/{loss}/seed0/result.json").exists()
    report = json.loads((out / "report.json").read_text())
    assert {"sol/karman", "sol/karman/ood", "verdicts/sol/karman/ood"} <= set(report)
    inside, outside = report["sol/karman"]["mse"]["values"], report["sol/karman/ood"]["mse"]["values"]
    assert len(inside["mse"]) == len(outside["mse"]) == 1 and inside["mse"] != outside["mse"]
    text = (out / "report.md").read_text()
    assert "## sol · karman · out of distribution: karman-wide-cylinder" in text
    assert "## out-of-distribution test vs training data · karman" in text
    novel = report["novelty/karman/ood"]
    assert len(novel) == 1 and novel[0]["nearest_trajectory"] > 0


def test_an_ood_scene_must_be_a_variant_of_the_scene(env, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(OOD_STUDY.replace("karman-wide-cylinder", "buoyancy-narrow-source"))
    done = study(env, "plan", config, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("error: scenes.karman.ood: buoyancy-narrow-source is not a variant of karman "
                                   "(the variants: karman-wide-cylinder)")
