"""`fluidloss export`: a real dataset, exported, read back by The Well's own loader (the_well 1.2.0's WellDataset),
field by field against the cell-centred fluidloss values; refusals of bad input as one line."""

import h5py
import numpy as np
import pytest
from the_well.data import WellDataset

from conftest import assert_one_line_error, run_cli

OPEN, WALL = 1.0, 0.0
"""the_well's BoundaryCondition codes, as WellDataset returns them per axis and side."""


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple]:
    """Tiny karman (two Re) and buoyancy datasets from the CLI, each exported into a Well folder `FOLDER/data/train`."""
    folder = tmp_path_factory.mktemp("well")
    found = {}
    for scene, args in {"karman": ["--res", "32x16", "--re", "1e5", "2e5", "--warmup", "0", "--frames", "6"],
                        "buoyancy": ["--res", "16x16", "--frames", "5"]}.items():
        source, well = folder / f"{scene}.h5", folder / scene
        run_cli("generate", scene, *args, "--out", source)
        out = well / "data" / "train" / f"{scene}.hdf5"  # export makes the folders
        run_cli("export", source, "--out", out)
        found[scene] = source, well, out
    return found


def cell_centred(sim: h5py.Group, frame: int) -> dict[str, np.ndarray]:
    """The fluidloss frame at cell centres, indexed [x, y] as The Well indexes space."""
    vx, vy = sim["velocity_x"][frame], sim["velocity_y"][frame]
    values = {"velocity_x": 0.5 * (vx[:, :-1] + vx[:, 1:]), "velocity_y": 0.5 * (vy[:-1, :] + vy[1:, :])}
    if "density" in sim:
        values["density"] = sim["density"][frame]
    return {name: value.T for name, value in values.items()}


@pytest.mark.parametrize("scene, boundary", [("karman", OPEN), ("buoyancy", WALL)])
def test_well_dataset_reads_the_fluidloss_values(exported, scene, boundary):
    source, well, _ = exported[scene]
    dataset = WellDataset(path=str(well), well_split_name="train", n_steps_input=2, n_steps_output=1)
    meta = dataset.metadata
    with h5py.File(source, "r") as src:
        sims = [src[name] for name in sorted(src) if name.startswith("sim_")]
        frames, (height, width) = int(src.attrs["frames"]), src.attrs["resolution"]
        (domain_height, domain_width), dt = src.attrs["domain_size"], float(src.attrs["dt"])
        channels = [*meta.field_names[0], *meta.field_names[1]]  # WellDataset stacks t0 fields, then t1 components
        assert channels == (["density"] if "density" in sims[0] else []) + ["velocity_x", "velocity_y"]
        assert meta.dataset_name == f"fluidloss_{scene}" and meta.spatial_resolution == (width, height)
        assert meta.n_trajectories_per_file == [len(sims)] and meta.n_steps_per_trajectory == [frames]
        windows = frames - 2  # two input steps and one output step per sample
        assert len(dataset) == len(sims) * windows
        for index in range(len(dataset)):
            trajectory, start = divmod(index, windows)
            sample = dataset[index]
            steps = [*sample["input_fields"], *sample["output_fields"]]
            for step, values in enumerate(steps):
                expected = cell_centred(sims[trajectory], start + step)
                for channel, name in enumerate(channels):
                    np.testing.assert_array_equal(values[..., channel].numpy(), expected[name],
                                                  err_msg=f"sample {index}, step {step}, {name}")
            reynolds = float(sims[trajectory].attrs["reynolds"])
            if np.isnan(reynolds):
                assert "constant_scalars" not in sample and meta.constant_scalar_names == []
            else:
                assert meta.constant_scalar_names == ["Reynolds"]
                assert sample["constant_scalars"].tolist() == [np.float32(reynolds)]
            assert (sample["boundary_conditions"] == boundary).all()
            grid = sample["space_grid"].numpy()
            np.testing.assert_allclose(grid[:, 0, 0], (np.arange(width) + 0.5) * domain_width / width, rtol=1e-6)
            np.testing.assert_allclose(grid[0, :, 1], (np.arange(height) + 0.5) * domain_height / height, rtol=1e-6)
            assert sample["output_time_grid"].tolist() == pytest.approx([2 * dt])  # from the window's first step
        obstacle = sims[0]["obstacle_mask"][()]
        if obstacle.any():  # karman's cylinder: a constant field
            assert "obstacle_mask" in meta.constant_field_names[0]
            at = meta.constant_field_names[0].index("obstacle_mask")
            np.testing.assert_array_equal(dataset[0]["constant_fields"][..., at].numpy(), obstacle.T)


def test_the_file_follows_the_well_layout(exported):
    source, _, out = exported["karman"]
    with h5py.File(out, "r") as well, h5py.File(source, "r") as src:
        assert well.attrs["n_trajectories"] == 2 and well.attrs["n_spatial_dims"] == 2
        assert list(well.attrs["simulation_parameters"]) == ["Reynolds"]
        assert well.attrs["grid_type"] == "cartesian"
        assert well["t1_fields/velocity"].shape == (2, 6, 16, 32, 2)
        assert well["t0_fields/density"].shape == (2, 6, 16, 32)
        assert sorted(well["boundary_conditions"]) == ["x_open", "y_open"]
        assert well["scalars/Reynolds"][()].tolist() == [1e5, 2e5]
        np.testing.assert_allclose(well["dimensions/time"][()], np.arange(6) * float(src.attrs["dt"]))
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporaries left


def test_export_refuses_bad_input_on_one_line(exported, tmp_path):
    source, _, out = exported["karman"]
    assert_one_line_error(run_cli("export", tmp_path / "missing.h5", "--out", tmp_path / "o.hdf5", ok=False),
                          "missing.h5: no such file")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.zeros(3)
    assert_one_line_error(run_cli("export", foreign, "--out", tmp_path / "o.hdf5", ok=False), "not a fluidloss dataset")
    assert_one_line_error(run_cli("export", source, "--out", out, ok=False), "exists", "--overwrite")
    assert_one_line_error(run_cli("export", source, "--out", tmp_path / "o.nc", ok=False), "*.hdf5 or *.h5")
    assert_one_line_error(run_cli("export", source, "--out", source, ok=False), "exists")
    (tmp_path / "file").write_text("")
    assert_one_line_error(run_cli("export", source, "--out", tmp_path / "file" / "o.hdf5", ok=False),
                          "not an existing directory")
    unknown = tmp_path / "unknown.h5"
    unknown.write_bytes(source.read_bytes())
    with h5py.File(unknown, "r+") as f:
        f.attrs["scene"] = "cavity"
    assert_one_line_error(run_cli("export", unknown, "--out", tmp_path / "o.hdf5", ok=False),
                          "'cavity' is not registered", "boundaries are unknown")
    assert not (tmp_path / "o.hdf5").exists()
    before = out.stat().st_mtime_ns
    run_cli("export", source, "--out", out, "--overwrite", "--name", "renamed")
    with h5py.File(out, "r") as well:
        assert well.attrs["dataset_name"] == "renamed"
    assert out.stat().st_mtime_ns != before
