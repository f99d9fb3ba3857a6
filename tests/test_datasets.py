"""The files `generate` and `downsample` write: shapes, attributes, physics."""

import h5py
import numpy as np
import pytest
from conftest import attrs_json, divergence, run_cli, spacing

from fluidloss_cli.engine.data.downsample import coarsen_cells


def test_karman_file_layout_and_attributes(karman_files):
    fine, coarse = karman_files
    with h5py.File(fine) as f:
        assert f.attrs["format"] == "fluidloss-dataset" and f.attrs["scene"] == "karman"
        assert list(f.attrs["resolution"]) == [128, 64] and f.attrs["dt"] == 1.0 and f.attrs["frames"] == 50
        assert sorted(f) == ["sim_0000", "sim_0001"]
        assert [f[s].attrs["reynolds"] for s in sorted(f)] == [1e5, 2e5]
        sim = f["sim_0001"]
        assert sim["velocity_x"].shape == (50, 128, 65) and sim["velocity_y"].shape == (50, 129, 64)
        assert sim["velocity_x"].chunks == (1, 128, 65) and sim["velocity_x"].compression is not None
        assert sim["obstacle_mask"].shape == (128, 64) and sim["density"].shape == (50, 128, 64)
        assert set(np.unique(sim["obstacle_mask"][()])) == {0.0, 1.0} and f.attrs["warmup"] == 0
        params = attrs_json(sim, "parameters")
        assert params["reynolds"] == 2e5 and params["viscosity"] == pytest.approx(32**2 / 2e5)
        assert params["cylinder_radius"] == 10.0 and params["seed"] == 0
        prov = attrs_json(f, "provenance")
        assert {"fluidloss", "phiflow", "torch", "created"} <= set(prov)
        assert "generate karman --res 128x64" in prov["command"]
    with h5py.File(coarse) as f:
        assert list(f.attrs["resolution"]) == [64, 32]
        assert f["sim_0000"]["velocity_x"].shape == (50, 64, 33)
        assert f["sim_0000"]["velocity_y"].shape == (50, 65, 32)
        prov = attrs_json(f, "provenance")
        assert prov["source"].endswith("k.h5") and prov["source_resolution"] == [128, 64]
        assert "generate karman" in prov["source_provenance"]["command"]


def test_karman_flow_is_divergence_free_outside_the_cylinder(karman_files):
    fine, _ = karman_files
    with h5py.File(fine) as f:
        sim = f["sim_0000"]
        div = divergence(sim["velocity_x"][-1], sim["velocity_y"][-1], *spacing(f))
        near_obstacle = coarsen_cells(np.pad(sim["obstacle_mask"][()], 1), 1, 1)
        solid = np.zeros_like(near_obstacle, dtype=bool)
        for dy in (-1, 0, 1):  # cells touching the cylinder carry its boundary flux
            for dx in (-1, 0, 1):
                solid |= np.roll(np.roll(near_obstacle > 0, dy, 0), dx, 1)
        assert np.abs(div[~solid[1:-1, 1:-1]]).max() < 1e-3
        assert np.abs(sim["velocity_y"][-1]).max() > 0.5  # the channel actually flows


@pytest.mark.slow
def test_buoyancy_256_is_divergence_free_and_walls_are_closed(buoyancy_files):
    fine, _ = buoyancy_files
    with h5py.File(fine) as f:
        sim = f["sim_0000"]
        assert sim["density"].shape == (40, 256, 256) and sim["velocity_x"].shape == (40, 256, 257)
        vx, vy = sim["velocity_x"][-1], sim["velocity_y"][-1]
        assert np.abs(divergence(vx, vy, *spacing(f))).max() < 1e-4 * np.abs(vy).max() / spacing(f)[0] + 1e-6
        assert not vx[:, [0, -1]].any() and not vy[[0, -1], :].any()
        assert np.isnan(sim.attrs["reynolds"]) and "cosine" in attrs_json(sim, "parameters")["pressure_solve"]


@pytest.mark.parametrize("which", ["karman_files", "buoyancy_files"])
def test_downsampling_conserves_flux_exactly(which, request):
    """Coarse divergence equals the block average of the fine divergence: fluxes are conserved."""
    fine, coarse = request.getfixturevalue(which)
    with h5py.File(fine) as f, h5py.File(coarse) as c:
        (fy, fx) = (np.array(f.attrs["resolution"]) // np.array(c.attrs["resolution"]))
        for name in f:
            fine_div = divergence(f[name]["velocity_x"][-5:], f[name]["velocity_y"][-5:], *spacing(f)).astype(np.float64)
            coarse_div = divergence(c[name]["velocity_x"][-5:], c[name]["velocity_y"][-5:], *spacing(c))
            expected = coarsen_cells(fine_div, fy, fx)
            assert np.abs(coarse_div - expected).max() < 1e-5 * (1 + np.abs(fine_div).max())
            if "density" in f[name]:
                np.testing.assert_allclose(c[name]["density"][-1], coarsen_cells(f[name]["density"][-1], fy, fx), atol=1e-5)
                assert c[name]["density"][-1].sum() * fy * fx == pytest.approx(f[name]["density"][-1].sum(), rel=1e-5)


@pytest.mark.slow
def test_buoyancy_divergence_free_after_downsampling(buoyancy_files):
    _, coarse = buoyancy_files
    with h5py.File(coarse) as c:
        sim = c["sim_0000"]
        div = divergence(sim["velocity_x"][-1], sim["velocity_y"][-1], *spacing(c))
        assert np.abs(div).max() < 1e-4


@pytest.mark.slow
def test_buoyancy_plume_rises(tmp_path):
    out = tmp_path / "plume.h5"
    run_cli("generate", "buoyancy", "--res", "64x64", "--frames", "250", "--out", out)
    with h5py.File(out) as f:
        density = f["sim_0000"]["density"][()]
        vy = f["sim_0000"]["velocity_y"][-1]
    rows = np.arange(64)[None, :]
    centroid = (density.sum(axis=2) * rows).sum(axis=1) / np.maximum(density.sum(axis=(1, 2)), 1e-9)
    assert centroid[50] < centroid[150] < centroid[249]
    top = np.nonzero(density[-1].sum(axis=1) > 0.01 * density[-1].sum(axis=1).max())[0].max()
    assert top > 64 * 0.2 and vy.max() > 1.0


def test_seeds_make_simulations_differ_and_repeat_exactly(tmp_path):
    out = tmp_path / "seeds.h5"
    run_cli("generate", "buoyancy", "--res", "32x32", "--frames", "20", "--seed", "1", "2", "1", ok=False)
    run_cli("generate", "buoyancy", "--res", "32x32", "--frames", "20", "--seed", "1", "2", "--out", out)
    again = tmp_path / "again.h5"
    run_cli("generate", "buoyancy", "--res", "32x32", "--frames", "20", "--seed", "1", "--out", again)
    with h5py.File(out) as f, h5py.File(again) as g:
        a, b = f["sim_0000"]["velocity_x"][-1], f["sim_0001"]["velocity_x"][-1]
        assert [f[s].attrs["seed"] for s in sorted(f)] == [1, 2]
        assert np.abs(a - b).max() > 1e-3
        np.testing.assert_array_equal(a, g["sim_0000"]["velocity_x"][-1])
