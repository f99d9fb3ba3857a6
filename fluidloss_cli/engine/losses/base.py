"""What every loss shares: the [B, C, H, W] contract, input checks, the reduction, and sums over staggered fields."""

from collections.abc import Sequence

import torch
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import image_pair


def check_pair(pred: torch.Tensor, ref: torch.Tensor, finite: bool = True) -> None:
    """Raise a FluidlossError unless pred and ref are floating [B, C, H, W] tensors of one shape (and finite)."""
    if pred.ndim != 4 or pred.shape != ref.shape:
        raise FluidlossError(f"loss inputs must be two [B, C, H, W] tensors of one shape, got {list(pred.shape)} "
                             f"and {list(ref.shape)}")
    if not (pred.is_floating_point() and ref.is_floating_point()):
        raise FluidlossError(f"loss inputs must be floating point, got {pred.dtype} and {ref.dtype}")
    if finite and not (torch.isfinite(pred).all() & torch.isfinite(ref).all()):
        raise FluidlossError("loss inputs contain NaN or infinite values")


class FieldLoss(nn.Module):
    """A loss on fields [B, C, H, W]: each channel is a scalar field compared on its own by `distances`; the
    per-channel values are summed and averaged over the batch. Gradients flow to the prediction only."""

    check_finite: bool = True
    """Check inputs for NaN/inf on every call; on CUDA that is one scalar device-to-host copy, so a training loop
    that has validated its data may switch it off."""

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-field distances [N] of one-channel fields [N, 1, H, W]."""
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Scalar loss: distances summed over channels, averaged over the batch."""
        check_pair(pred, ref, self.check_finite)
        b, c, h, w = pred.shape
        d = self.distances(pred.reshape(b * c, 1, h, w), ref.detach().reshape(b * c, 1, h, w))
        return d.view(b, c).sum(dim=1).mean()

    def train(self, mode: bool = True) -> "FieldLoss":
        """Stay in evaluation mode: a loss has nothing to train, and dropout inside pretrained metrics must stay off."""
        return super().train(False)

    def frozen(self) -> "FieldLoss":
        """Freeze all weights and switch to evaluation mode; constructors end with it."""
        self.requires_grad_(False)
        return self.eval()


class PerceptualLoss(FieldLoss):
    """A loss that compares fields as RGB images with a pretrained network: fields are rescaled jointly to
    `image_range`, repeated to three channels and enlarged to the networks' minimum size (`fields.image_pair`)
    before `compare`."""

    image_range: tuple[float, float] = (0.0, 1.0)

    def compare(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-image distances [N] of RGB images [N, 3, H, W]."""
        raise NotImplementedError

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Turn the field pairs into images and compare them."""
        return self.compare(*image_pair(pred, ref, *self.image_range))


def field_loss(loss: nn.Module, preds: Sequence[torch.Tensor], refs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum a loss over fields of differing shapes, each [B, H_i, W_i]; a staggered velocity is compared as
    F(X, X') + F(Y, Y'). Fields of equal shape go through the loss together, as channels of one batch."""
    if len(preds) != len(refs) or not preds:
        raise FluidlossError(f"field_loss needs as many predicted as reference fields (>= 1), got {len(preds)} "
                             f"and {len(refs)}")
    for p, r in zip(preds, refs):
        if p.ndim != 3 or p.shape != r.shape or p.shape[0] != preds[0].shape[0]:
            raise FluidlossError(f"field_loss: each field pair must be [B, H, W] of one shape and batch size, got "
                                 f"{list(p.shape)} and {list(r.shape)}")
    groups: dict[torch.Size, list[int]] = {}
    for i, p in enumerate(preds):
        groups.setdefault(p.shape, []).append(i)
    return sum(loss(torch.stack([preds[i] for i in idx], 1), torch.stack([refs[i] for i in idx], 1))
               for idx in groups.values())
