"""CUDA check: capture one SOL training step (forward through `--unroll` corrected native steps, the loss and the
backward) in a CUDA graph, replay it, and compare with the same step run eagerly: loss and gradients must agree,
and the replay's time per step is printed against eager's (interleaved, same run).

The native solver needs a fixed CG iteration count for this (`PressureSolve(check_every=None)`): a convergence test
reads a value back to the host, which a graph cannot hold. tests/test_native_capture.py checks on the CPU that such
a step traces as one graph; this runs the capture itself. CUDA only.

Run from the repository root:  python benchmarks/cuda_graph_sol.py [--batch 64] [--unroll 4] [--iterations 60]
"""

import argparse
import statistics
import sys
import time

import torch

from fluidloss_cli.engine.correction import CorrectedSolver, correction_channels
from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.native import PressureSolve, native_step
from fluidloss_cli.engine.resolution import Resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--unroll", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=60, help="CG iterations per pressure solve (fixed).")
    parser.add_argument("--res", default="64x32", help="Karman coarse grid HxW.")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("cuda_graph_sol: needs a CUDA device (torch.cuda.is_available() is False)")
    device = torch.device("cuda")
    height, width = (int(n) for n in args.res.lower().split("x"))
    resolution = Resolution(height, width)
    corrected = CorrectedSolver("karman", resolution, 1.0, device, "native")  # masks and the network's input
    settings = PressureSolve(check_every=None, max_iterations=args.iterations)
    step = native_step("karman", resolution, 1.0, device, settings=settings)
    torch.manual_seed(0)
    inputs, outputs = correction_channels("karman")
    model = model_class("sol")(in_channels=inputs, out_channels=outputs, width=16, blocks=2, kernel_size=5).to(device)
    with torch.no_grad():  # trained-like weights: a zero output layer (as built) would zero the others' gradients
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    generator = torch.Generator(device=device).manual_seed(0)
    start = {"velocity_x": 0.5 + 0.1 * torch.rand(args.batch, height, width + 1, device=device, generator=generator),
             "velocity_y": 0.5 + 0.1 * torch.rand(args.batch, height + 1, width, device=device, generator=generator),
             "density": torch.rand(args.batch, height, width, device=device, generator=generator)}
    target = {k: v.flip(-1) for k, v in start.items()}  # any fixed reference
    reynolds = torch.full((args.batch,), 1e5, device=device)

    def loss_and_backward() -> torch.Tensor:
        frame, loss = dict(start), torch.zeros((), device=device)
        for _ in range(args.unroll):
            frame = corrected.correct(step(frame, reynolds), reynolds, model)
            loss = loss + sum((frame[k] - target[k]).square().mean() for k in ("velocity_x", "velocity_y"))
        loss.backward()
        return loss.detach()

    def eager() -> tuple[torch.Tensor, list[torch.Tensor]]:
        for p in model.parameters():
            p.grad = None
        loss = loss_and_backward()
        return loss, [p.grad.clone() for p in model.parameters()]

    expected_loss, expected_grads = eager()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            for p in model.parameters():
                p.grad = None
            loss_and_backward()
    torch.cuda.current_stream().wait_stream(side)
    for p in model.parameters():
        p.grad = None
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            static_loss = loss_and_backward()
    except Exception as exc:  # noqa: BLE001 - the check reports any capture failure in one line
        sys.exit(f"cuda_graph_sol: capture FAILED: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    graph.replay()
    torch.cuda.synchronize()
    loss_error = abs(static_loss.item() - expected_loss.item()) / abs(expected_loss.item())
    grad_error = max(((p.grad - g).abs().max() / g.abs().max().clamp(min=1e-30)).item()
                     for p, g in zip(model.parameters(), expected_grads))

    def timed(run) -> float:
        torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        torch.cuda.synchronize()
        return 1e3 * (time.perf_counter() - started)

    times: dict[str, list[float]] = {"eager": [], "graph": []}
    for _ in range(args.repeats):
        times["eager"].append(timed(eager))
        times["graph"].append(timed(graph.replay))
    plain, replay = statistics.median(times["eager"]), statistics.median(times["graph"])
    ok = loss_error < 1e-4 and grad_error < 1e-3
    print(f"cuda_graph_sol: {torch.cuda.get_device_name(device)}, karman {resolution}, batch {args.batch}, unroll "
          f"{args.unroll}, {args.iterations} CG iterations: capture {'OK' if ok else 'MISMATCH'} (loss rel. diff "
          f"{loss_error:.1e}, gradients {grad_error:.1e}); step eager {plain:.2f} ms, graph replay {replay:.2f} ms, "
          f"{plain / replay:.2f}x")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
