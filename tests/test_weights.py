"""Weight files: lookup order, `fluidloss weights list/import/download`, and VGG/LPIPS loading from files built here."""

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner
from weight_fixtures import shared_file

from fluidloss_cli.app import app
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.weights import WEIGHTS, sha256_of

LSIM_SHA256 = "6f9d3934e9a14222c25bcd58cb81e79e8c1e2bde5e2968ab04612d9b08057634"


def run(*args: str):
    """Invoke `fluidloss ARGS...` in-process."""
    return CliRunner().invoke(app, list(args))


def error_line(result) -> str:
    """The one-line error of a failed command, after checking it failed the way user errors do."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (URL, folder it serves) standing in for a download mirror."""
    folder = tmp_path / "mirror"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        """Serves the folder without logging every request."""

        def log_message(self, *args) -> None:
            """Keep the test output clean."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def test_lookup_order_is_env_dir_then_user_cache_then_hub(weights_env, monkeypatch):
    vgg = WEIGHTS["vgg16"]
    hub = weights_env.torch_home / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    cached = weights_env.cache / "fluidloss" / "weights"
    cached.mkdir(parents=True)
    for folder in (weights_env.weights, cached, hub):
        (folder / vgg.filename).write_bytes(b"x")
    assert vgg.candidates() == [weights_env.weights / vgg.filename, cached / vgg.filename, hub / vgg.filename]
    assert vgg.locate() == weights_env.weights / vgg.filename
    monkeypatch.delenv("FLUIDLOSS_WEIGHTS_DIR")
    assert vgg.locate() == cached / vgg.filename
    (cached / vgg.filename).unlink()
    assert vgg.locate() == hub / vgg.filename


def test_lpips_linear_layers_are_found_in_the_lpips_package_with_their_official_checksums(weights_env):
    for net in ("alex", "vgg", "squeeze"):
        entry = WEIGHTS[f"lpips-{net}"]
        path = entry.locate()
        assert path is not None and path.parent.parts[-3:] == ("lpips", "weights", "v0.1")
        assert entry.is_official(sha256_of(path))


def test_list_shows_presence_location_and_checksum(backbones_env):
    result = run("weights", "list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "lsim            present" in out and str(backbones_env.weights / "LSiM.pth") in out
    assert f"{LSIM_SHA256}  official" in out
    assert "vgg16           present" in out and "NOT official (official: 397923af..." in out
    assert "lpips-alex      present" in out


def test_list_shows_where_a_missing_file_was_looked_for_and_its_source(weights_env):
    out = run("weights", "list").stdout
    assert "alexnet         missing" in out
    for folder in (weights_env.weights, weights_env.cache / "fluidloss" / "weights",
                   weights_env.torch_home / "hub" / "checkpoints"):
        assert f"looked   {folder / 'alexnet-owt-7be5be79.pth'}" in out
    assert "source   https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in out


def test_import_installs_the_official_lsim_file_into_the_user_cache(weights_env):
    result = run("weights", "import", "lsim", str(shared_file("weights", "LSiM.pth")))
    assert result.exit_code == 0, result.output
    installed = weights_env.cache / "fluidloss" / "weights" / "LSiM.pth"
    assert sha256_of(installed) == LSIM_SHA256


def test_import_refuses_a_file_whose_checksum_is_not_official(backbones_env):
    own = backbones_env.checkpoints / "squeezenet1_1-b8a52dc0.pth"
    line = error_line(run("weights", "import", "squeezenet", str(own)))
    assert "is not the official squeezenet1_1-b8a52dc0.pth" in line and sha256_of(own) in line
    assert "b8a52dc0... (the prefix in its file name)" in line and "--force" in line
    assert not (backbones_env.cache / "fluidloss" / "weights").exists()


def test_import_force_installs_a_well_formed_file_that_the_loss_then_loads(backbones_env, monkeypatch):
    own = backbones_env.checkpoints / "squeezenet1_1-b8a52dc0.pth"
    assert run("weights", "import", "squeezenet", str(own), "--force").exit_code == 0
    installed = backbones_env.cache / "fluidloss" / "weights" / own.name
    assert installed.read_bytes() == own.read_bytes()
    monkeypatch.setenv("TORCH_HOME", str(backbones_env.torch_home))  # the hub copy is gone: only the cache has it
    loss = build_loss("lpips-squeeze")
    assert torch.equal(loss.model.net.slice1[0].weight, torch.load(installed, weights_only=True)["features.0.weight"])


@pytest.mark.parametrize("name, content, problem", [
    ("vgg16", b"not a torch file", "is not a readable torch weight file"),
    ("vgg16", "squeezenet", "is not a torchvision vgg16 state dict"),
    ("lsim", {"stateDict": {}}, "is not an LSiM checkpoint"),
    ("lpips-alex", {"lin0.model.1.weight": torch.zeros(1, 3, 1, 1)}, "is not an LPIPS v0.1 alex linear-layer file"),
])
def test_import_force_still_refuses_a_file_of_the_wrong_format(backbones_env, tmp_path, name, content, problem):
    path = tmp_path / "candidate.pth"
    if content == "squeezenet":
        path = backbones_env.checkpoints / "squeezenet1_1-b8a52dc0.pth"
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    assert problem in error_line(run("weights", "import", name, str(path), "--force"))
    assert not (backbones_env.cache / "fluidloss" / "weights" / WEIGHTS[name].filename).exists()


def test_import_rejects_unknown_names_and_missing_files(weights_env, tmp_path):
    assert "unknown weight file 'vgg19'; valid names: lsim, vgg16, alexnet" in error_line(
        run("weights", "import", "vgg19", str(shared_file("weights", "LSiM.pth"))))
    assert "does not exist" in error_line(run("weights", "import", "lsim", str(tmp_path / "nothing.pth")))


def test_download_fails_with_one_line_when_the_server_is_unreachable(weights_env):
    line = error_line(run("weights", "download", "vgg16", "--mirror", "http://127.0.0.1:9/", "--timeout", "2"))
    assert "could not download vgg16-397923af.pth from http://127.0.0.1:9/vgg16-397923af.pth" in line
    assert "fluidloss weights import vgg16 FILE" in line
    assert list((weights_env.cache / "fluidloss" / "weights").iterdir()) == []


def test_download_installs_a_verified_file_from_a_mirror(weights_env, mirror):
    url, folder = mirror
    (weights_env.weights / "LSiM.pth").unlink()
    (folder / "LSiM.pth").write_bytes(shared_file("weights", "LSiM.pth").read_bytes())
    result = run("weights", "download", "--mirror", url, "lsim")
    assert result.exit_code == 0, result.output
    assert sha256_of(weights_env.cache / "fluidloss" / "weights" / "LSiM.pth") == LSIM_SHA256
    assert "lsim is already present" in run("weights", "download", "lsim").output


def test_download_refuses_a_file_that_is_not_official(backbones_env, mirror, monkeypatch):
    url, folder = mirror
    monkeypatch.setenv("TORCH_HOME", str(backbones_env.torch_home))
    (folder / "squeezenet1_1-b8a52dc0.pth").write_bytes(
        (backbones_env.checkpoints / "squeezenet1_1-b8a52dc0.pth").read_bytes())
    line = error_line(run("weights", "download", "squeezenet", "--mirror", url))
    assert f"the file at {url}/squeezenet1_1-b8a52dc0.pth is not the official" in line
    assert list((backbones_env.cache / "fluidloss" / "weights").iterdir()) == []


def test_vgg_loss_loads_the_features_of_the_file(backbones_env):
    state = torch.load(backbones_env.checkpoints / "vgg16-397923af.pth", weights_only=True)
    loss = build_loss("vgg")
    loaded = loss.features.state_dict()
    assert loaded.keys() == {k.removeprefix("features.") for k in state if k.startswith("features.") and
                             int(k.split(".")[1]) < 16}
    assert all(torch.equal(v, state[f"features.{k}"]) for k, v in loaded.items())


@pytest.mark.parametrize("net, trunk", [("alex", "alexnet-owt-7be5be79.pth"), ("squeeze", "squeezenet1_1-b8a52dc0.pth"),
                                        ("vgg", "vgg16-397923af.pth")])
def test_lpips_loss_loads_trunk_and_linear_layers_from_their_files(backbones_env, net, trunk):
    features = torch.load(backbones_env.checkpoints / trunk, weights_only=True)
    lins = torch.load(WEIGHTS[f"lpips-{net}"].locate(), map_location="cpu", weights_only=True)
    model = build_loss(f"lpips-{net}").model
    for key, value in model.net.state_dict().items():
        assert torch.equal(value, features[f"features.{key.split('.', 1)[1]}"])
    for key, value in lins.items():
        assert torch.equal(model.state_dict()[key], value)


def test_squeezenet_features_file_installs_and_serves_the_squeezenet_lpips(weights_env):
    shared = shared_file("weights", "squeezenet1_1_features.pth")
    assert run("weights", "import", "squeezenet-features", str(shared)).exit_code == 0
    installed = weights_env.cache / "fluidloss" / "weights" / "squeezenet1_1_features.pth"
    assert sha256_of(installed) == WEIGHTS["squeezenet-features"].sha256 == sha256_of(shared)
    assert "squeezenet-features present" in " ".join(run("weights", "list").output.split())
    features = torch.load(installed, weights_only=True)
    model = build_loss("lpips-squeeze").model  # torchvision's full squeezenet file is absent: the features file serves
    for key, value in model.net.state_dict().items():
        assert torch.equal(value, features[key.split(".", 1)[1]])
    field = torch.linspace(-1, 1, 32 * 64).reshape(1, 1, 32, 64).sin()
    noise = torch.randn(field.shape, generator=torch.Generator().manual_seed(0))
    noisy = [field + amplitude * noise for amplitude in (0.05, 0.5)]
    near, far = (float(build_loss("lpips-squeeze")(n, field)) for n in noisy)
    assert 0 < near < far


def test_squeezenet_features_has_no_download_address(weights_env):
    line = error_line(run("weights", "download", "squeezenet-features"))
    assert "has no official download address" in line and "weights import squeezenet-features FILE" in line
    assert "is not the features part of a torchvision squeezenet1_1" in error_line(
        run("weights", "import", "squeezenet-features", str(shared_file("weights", "LSiM.pth")), "--force"))
