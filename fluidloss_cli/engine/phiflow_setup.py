"""The one place that configures PhiFlow for fluidloss: torch backend, quiet warnings, speed-up patches.

`scene_class` calls `configure` before it loads a scene, so everything that simulates runs configured, while commands
that only check their options (or print help) never import PhiFlow or torch at all.
"""

import warnings

_configured = False


def configure() -> None:
    """Make PhiFlow compute on torch, silence torch warnings that say nothing actionable, install the speed-ups. Once."""
    global _configured
    if _configured:
        return
    from phi.torch import TORCH
    from phiml.backend import set_global_default_backend

    from fluidloss_cli.engine import phiflow_patch

    set_global_default_backend(TORCH)
    # phiml builds its pressure matrices as torch sparse CSR and compiles steps with torch.jit.trace; both make torch
    # warn on every run.
    warnings.filterwarnings("ignore", message=r".*[Ss]parse (CSR tensor support|invariant checks)")
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
    phiflow_patch.install()
    _configured = True
