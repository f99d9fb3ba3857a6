"""The weight W of a weighted sum `mse+W*LOSS` that balances its two terms: for any task (sol, sr, ae), the norm of
each loss's gradient with respect to the weights of the network as training starts it (same seed, same model, same
batches as `fluidloss train TASK` would draw), beside MSE's. W = |grad mse| / |grad LOSS|, rounded to one significant
digit, makes the two terms pull equally at the start (docs/study.md, "Decision rule": the weighted sum's weight).

The task is set up exactly as `fluidloss train TASK` sets it up (`--option NAME=VALUE` for its options, e.g. the data
files), so the numbers hold for the models a study trains with those options. Run from the repository root, e.g.
    python benchmarks/loss_gradients.py sr --option coarse=sr_ae/cells/data/karman/train-coarse/data.h5 \
        --option fine=sr_ae/cells/data/karman/train-fine/data.h5 --option width=32 --option blocks=8 \
        --losses mse lsim lpips-squeeze
"""

import argparse
import math
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import build
from fluidloss_cli.engine.phiflow_setup import configure
from fluidloss_cli.engine.training.rng import seed_everything
from fluidloss_cli.engine.training.tasks import TASKS


def value_of(text: str) -> Any:
    """An option's value from the command line: an int, a float, true/false, else the string itself."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def gradient_norms(task: str, options: dict[str, Any], losses: list[str], batches: int, batch_size: int,
                   seed: int) -> dict[str, tuple[float, float]]:
    """Per loss: its mean value and the norm of its gradient (mean over `batches` batches spread evenly over the
    training data) at the network's initialisation."""
    setup = TASKS[task](seed=seed, **options)
    seed_everything(seed)
    model: nn.Module = build(setup.model, setup.model_config)
    step = max(1, len(setup.train) // (batches * batch_size))
    chosen = Subset(setup.train, [i * step for i in range(min(batches * batch_size, len(setup.train)))])
    found = {}
    for spec in losses:
        loss = build_loss(spec)
        total, grads = 0.0, None
        for batch in DataLoader(chosen, batch_size=batch_size):
            model.zero_grad(set_to_none=True)
            value = setup.batch_loss(model, loss, batch)
            value.backward()
            flat = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
            total, grads = total + value.item(), flat if grads is None else grads + flat
        count = math.ceil(len(chosen) / batch_size)
        found[spec] = (total / count, float(grads.norm()) / count)
    return found


def one_digit(value: float) -> float:
    """`value` rounded to one significant digit (0.0104 -> 0.01, 0.0036 -> 0.004)."""
    return float(f"{value:.0e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="an option of `fluidloss train TASK`, by its name (coarse=..., width=32)")
    parser.add_argument("--losses", nargs="+", default=["mse", "lsim"])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure()
    options = {name.replace("-", "_"): value_of(value) for name, value in (o.split("=", 1) for o in args.option)}
    found = gradient_norms(args.task, options, ["mse", *[s for s in args.losses if s != "mse"]], args.batches,
                           args.batch_size, args.seed)
    reference = found["mse"][1]
    print(f"{args.task}, seed {args.seed}, {args.batches} batches of {args.batch_size}, at initialisation")
    print(f"{'loss':<16}{'value':>12}{'|grad|':>12}{'|grad|/mse':>12}{'W (mse+W*loss)':>16}")
    for spec, (value, norm) in found.items():
        weight = "" if spec == "mse" else f"{one_digit(reference / norm):g}"
        print(f"{spec:<16}{value:>12.4g}{norm:>12.4g}{norm / reference:>12.4g}{weight:>16}")


if __name__ == "__main__":
    main()
