"""The native step with a fixed CG iteration count has no host synchronisation: torch.compile traces a whole step,
forward and backward, as one graph (`fullgraph=True` fails on any graph break, such as a `.item()` or a
data-dependent `if`), which is what CUDA graphs need to capture it. Checked on the CPU with the `aot_eager` backend
(no C compiler needed); the compiled step equals the eager one."""

import pytest
import torch

from fluidloss_cli.engine.native import PressureSolve, native_step
from fluidloss_cli.engine.resolution import Resolution

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("scene, resolution", [("karman", Resolution(32, 16)), ("buoyancy", Resolution(16, 16))])
def test_a_fixed_iteration_step_compiles_to_one_graph(scene, resolution):
    step = native_step(scene, resolution, 1.0, "cpu", settings=PressureSolve(check_every=None, max_iterations=4))
    height, width = resolution.height, resolution.width
    generator = torch.Generator().manual_seed(0)
    start = {"velocity_x": 0.1 * torch.rand(2, height, width + 1, generator=generator),
             "velocity_y": 0.1 * torch.rand(2, height + 1, width, generator=generator),
             "density": torch.rand(2, height, width, generator=generator)}
    reynolds = torch.tensor([1e5, 2e5], dtype=torch.float64)

    def loss_and_gradient(run) -> tuple[dict, torch.Tensor]:
        frame = {name: value.clone().requires_grad_(name == "velocity_x") for name, value in start.items()}
        out = run(run(frame, reynolds), reynolds)  # two steps, as an unrolled SOL window
        (out["velocity_x"] ** 2).sum().add((out["velocity_y"] ** 2).sum()).backward()
        return out, frame["velocity_x"].grad

    eager, eager_grad = loss_and_gradient(step)
    compiled, compiled_grad = loss_and_gradient(torch.compile(step, fullgraph=True, backend="aot_eager"))
    for name in eager:
        torch.testing.assert_close(compiled[name], eager[name], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled_grad, eager_grad, rtol=1e-4, atol=1e-5)
    assert eager_grad.abs().sum() > 0
