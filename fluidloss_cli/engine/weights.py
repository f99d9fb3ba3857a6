"""Pretrained weight files: where each comes from, what it must hash to, where it is looked for, how it is installed.

Lookup order: $FLUIDLOSS_WEIGHTS_DIR, then the user cache (~/.cache/fluidloss/weights, honouring XDG_CACHE_HOME), then
a file's own extra places (torch's hub cache for torchvision backbones, the `lpips` package for its linear layers).
Nothing is ever downloaded implicitly; `install` and `download` put verified files into the user cache.
"""

import hashlib
import importlib.util
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.atomic import atomic_path, write_error
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.notice import warn

FormatCheck = Callable[[Path], object]
"""Loads a weight file into its network, raising FluidlossError when the file has the wrong format."""


def cache_dir() -> Path:
    """The user cache that `import` and `download` install into."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fluidloss" / "weights"


def _hub_checkpoints() -> list[Path]:
    """torch's hub cache, where torchvision keeps the backbones it has downloaded."""
    import torch

    return [Path(torch.hub.get_dir()) / "checkpoints"]


def _lpips_package_weights() -> list[Path]:
    """The folder of linear-layer weights that ships inside the `lpips` package."""
    spec = importlib.util.find_spec("lpips")
    return [Path(spec.origin).parent / "weights" / "v0.1"] if spec and spec.origin else []


@dataclass(frozen=True)
class WeightFile:
    """One pretrained weight file: its official source and SHA-256, and the places it may already be."""

    name: str
    filename: str
    url: str
    sha256: str
    """The full official digest, or for torchvision files the 8-digit prefix that their file names carry."""
    description: str
    extra_dirs: Callable[[], list[Path]] = field(default=lambda: [])
    extra_filename: str = ""
    """The file's name in `extra_dirs` when it differs from `filename`."""

    def candidates(self) -> list[Path]:
        """Every path this file is looked for at, in lookup order."""
        return [*self.before_cache(), cache_dir() / self.filename,
                *(d / (self.extra_filename or self.filename) for d in self.extra_dirs())]

    def before_cache(self) -> list[Path]:
        """Where this file is looked for before the user cache: in $FLUIDLOSS_WEIGHTS_DIR, when it is set."""
        env = os.environ.get("FLUIDLOSS_WEIGHTS_DIR")
        return [Path(env) / self.filename] if env else []

    def locate(self) -> Path | None:
        """The first existing candidate, or None."""
        return next((p for p in self.candidates() if p.is_file()), None)

    def require(self) -> Path:
        """The file's path, with a one-line warning when it is not the official file; raises a FluidlossError that
        says where it was looked for and how to install it when it is missing."""
        path = self.locate()
        if path is None:
            looked = ", ".join(str(p.parent) for p in self.candidates())
            raise FluidlossError(f"{self.description} weights {self.filename} not found (looked in {looked}); "
                                 f"{self.how_to_install}")
        digest = sha256_cached(path)
        if not self.is_official(digest):
            warn(f"{path} is not the official {self.description} weights {self.filename} (SHA-256 {digest[:16]}..., "
                 f"official {self.official[:16]}...): results differ from the published ones")
        return path

    @property
    def how_to_install(self) -> str:
        """Where the file comes from and the commands that install it."""
        if not self.url:
            return f"it has no download address: install a copy with `fluidloss weights import {self.name} FILE`"
        return (f"official source {self.url}; install it with `fluidloss weights import {self.name} FILE` or "
                f"`fluidloss weights download {self.name}`")

    @property
    def official(self) -> str:
        """The official digest as messages show it; a torchvision prefix is marked as one."""
        return self.sha256 if len(self.sha256) == 64 else f"{self.sha256}... (the prefix in its file name)"

    def is_official(self, digest: str) -> bool:
        """Whether a SHA-256 hex digest is the official one (for torchvision files: starts with the official prefix)."""
        return digest.startswith(self.sha256)


_TORCHVISION = "https://download.pytorch.org/models/"
SQUEEZENET_FEATURES_SHA256 = "435cedb387e95bc8291893f61a3a64f0345b8c23a05139aceef43947efb3d52d"
"""torchvision's SqueezeNet-1.1 ImageNet weights, the `features` part alone, as LPIPS's own code saves it
(`squeezenet1_1(pretrained=True).features.state_dict()`): all that LPIPS with the SqueezeNet backbone uses."""
_LPIPS = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/"

WEIGHTS: dict[str, WeightFile] = {
    w.name: w
    for w in [
        WeightFile(
            "lsim", "LSiM.pth", "https://github.com/tum-pbs/LSIM/raw/master/Models/LSiM.pth",
            "6f9d3934e9a14222c25bcd58cb81e79e8c1e2bde5e2968ab04612d9b08057634", "LSiM",
        ),
        WeightFile(
            "vgg16", "vgg16-397923af.pth", _TORCHVISION + "vgg16-397923af.pth", "397923af", "VGG-16 (ImageNet)",
            _hub_checkpoints,
        ),
        WeightFile(
            "alexnet", "alexnet-owt-7be5be79.pth", _TORCHVISION + "alexnet-owt-7be5be79.pth", "7be5be79",
            "AlexNet (ImageNet)", _hub_checkpoints,
        ),
        WeightFile(
            "squeezenet", "squeezenet1_1-b8a52dc0.pth", _TORCHVISION + "squeezenet1_1-b8a52dc0.pth", "b8a52dc0",
            "SqueezeNet 1.1 (ImageNet)", _hub_checkpoints,
        ),
        WeightFile(
            "squeezenet-features", "squeezenet1_1_features.pth", "", SQUEEZENET_FEATURES_SHA256,
            "SqueezeNet 1.1 (ImageNet) features only",
        ),
        WeightFile(
            "lpips-alex", "lpips-v0.1-alex.pth", _LPIPS + "alex.pth",
            "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", "LPIPS v0.1 AlexNet linear layers",
            _lpips_package_weights, "alex.pth",
        ),
        WeightFile(
            "lpips-vgg", "lpips-v0.1-vgg.pth", _LPIPS + "vgg.pth",
            "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", "LPIPS v0.1 VGG linear layers",
            _lpips_package_weights, "vgg.pth",
        ),
        WeightFile(
            "lpips-squeeze", "lpips-v0.1-squeeze.pth", _LPIPS + "squeeze.pth",
            "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76", "LPIPS v0.1 SqueezeNet linear layers",
            _lpips_package_weights, "squeeze.pth",
        ),
    ]
}


def weight_file(name: str) -> WeightFile:
    """Look a weight file up by name; unknown names raise a FluidlossError listing the valid ones."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise FluidlossError(f"unknown weight file {name!r}; valid names: {', '.join(WEIGHTS)}") from None


def sha256_cached(path: Path) -> str:
    """`sha256_of`, computed once per file version (path, size, modification time) in a process."""
    stat = path.stat()
    return _sha256_of_version(path.resolve(), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256_of_version(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reason(exc: BaseException) -> str:
    """An exception's message on one short line, for the FluidlossError that reports a bad weight file. torch's
    refusal of pickled objects advises loading with weights_only=False, which would run whatever code the file holds:
    that advice is never passed on."""
    text = " ".join(str(exc).split())
    if "weights only load failed" in text.lower() or "weights_only" in text:
        return ("it holds pickled Python objects besides tensors and plain data, which are never loaded (a damaged "
                "or foreign file)")
    if len(text) < 20:  # e.g. a bare byte value from the unpickler
        text = f"{type(exc).__name__} {text}".strip()
    return text[:300]


def load_state(path: Path) -> Any:
    """Read a torch weight file safely (weights_only, onto the CPU); unreadable files raise a FluidlossError."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or truncated file
        raise FluidlossError(f"{path} is not a readable torch weight file: {reason(exc)}") from None


def _verify(entry: WeightFile, path: Path, check_format: FormatCheck, force: bool, origin: str,
            advice: str = "use --force to install it anyway") -> None:
    """Raise unless `path` hashes to the official digest (skipped with `force`) and loads into its network;
    `advice` says what the user can do about a foreign digest with the command at hand."""
    digest = sha256_of(path)
    if not force and not entry.is_official(digest):
        raise FluidlossError(
            f"{origin} is not the official {entry.filename}: its SHA-256 is {digest}, "
            f"the official one is {entry.official} ({advice})"
        )
    check_format(path)


def _destination(entry: WeightFile) -> Path:
    """The cache path a file is installed at (its folder created)."""
    dest = cache_dir() / entry.filename
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(dest, exc) from None
    return dest


def read_before_cache(entry: WeightFile) -> list[Path]:
    """The copies of `entry` that commands read before the user cache's (in $FLUIDLOSS_WEIGHTS_DIR, unless that is
    the cache itself): an install into the cache would not be what they read."""
    cache = (cache_dir() / entry.filename).resolve()
    return [earlier for earlier in entry.before_cache() if earlier.is_file() and earlier.resolve() != cache]


def refuse_shadowed(entry: WeightFile, src: Path) -> None:
    """Refuse to install `src` into the user cache where a different file of its name is read first (in
    $FLUIDLOSS_WEIGHTS_DIR): the import would report success while every command kept reading the other file."""
    for earlier in read_before_cache(entry):
        if sha256_of(earlier) != sha256_of(src):
            raise FluidlossError(f"{earlier} is read before the user cache (FLUIDLOSS_WEIGHTS_DIR) and differs from "
                                 f"{src}: replace or remove it, or unset FLUIDLOSS_WEIGHTS_DIR; nothing was installed")


def install(entry: WeightFile, src: Path, check_format: FormatCheck, force: bool = False) -> Path:
    """Verify a local file and copy it into the user cache under its official name; returns the installed path."""
    if not src.is_file():
        raise FluidlossError(f"{src} does not exist or is not a file")
    _verify(entry, src, check_format, force, str(src))
    refuse_shadowed(entry, src)
    dest = _destination(entry)
    with atomic_path(dest) as part:
        shutil.copyfile(src, part)
    return dest


def _fetch(entry: WeightFile, url: str, out: Path, timeout: float) -> None:
    """Stream a URL into a file; network failures become a FluidlossError that says how to install by hand."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(out, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        raise FluidlossError(
            f"could not download {entry.filename} from {url}: {getattr(exc, 'reason', exc)}; "
            f"fetch it where a network is reachable and run `fluidloss weights import {entry.name} FILE`"
        ) from None


MIRROR_SCHEMES = ("http", "https", "ftp", "file")


def check_mirror(mirror: str | None) -> None:
    """Refuse a --mirror that is no URL urllib can fetch from (before any download starts)."""
    if mirror is None:
        return
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in MIRROR_SCHEMES or not (parts.netloc or (parts.scheme == "file" and parts.path)):
        schemes = ", ".join(f"{scheme}://..." for scheme in MIRROR_SCHEMES)
        raise FluidlossError(f"--mirror {mirror!r} is not a URL: expected {schemes}, e.g. https://example.org/weights")


def download(entry: WeightFile, check_format: FormatCheck, mirror: str | None = None, timeout: float = 30.0) -> Path:
    """Fetch the official file (or MIRROR/FILENAME) into the user cache, verifying it; returns the installed path."""
    if not entry.url and not mirror:
        raise FluidlossError(f"{entry.filename} has no official download address; install a copy with "
                             f"`fluidloss weights import {entry.name} FILE` (or pass --mirror)")
    url = f"{mirror.rstrip('/')}/{entry.filename}" if mirror else entry.url
    for earlier in read_before_cache(entry):  # only the official file is downloaded: a different one shadows it
        if not entry.is_official(sha256_of(earlier)):
            raise FluidlossError(f"{earlier} is read before the user cache (FLUIDLOSS_WEIGHTS_DIR) and is not the "
                                 "official file: replace or remove it, or unset FLUIDLOSS_WEIGHTS_DIR; nothing was "
                                 "downloaded")
    dest = _destination(entry)
    with atomic_path(dest) as part:
        _fetch(entry, url, part, timeout)
        _verify(entry, part, check_format, force=False, origin=f"the file at {url}",
                advice="it was not installed; a file you trust can be installed with `fluidloss weights import "
                       f"{entry.name} FILE --force`")
    return dest
