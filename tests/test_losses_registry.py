"""The loss registry: names and weighted sums, errors before any work, input checks, sums over staggered fields."""

import pytest
import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.loss_names import LOSS_CLASSES
from fluidloss_cli.engine.losses import build_loss, field_loss, loss_class
from fluidloss_cli.engine.loss_names import parse_spec
from fluidloss_cli.engine.losses.combine import CombinedLoss
from fluidloss_cli.engine.losses.mae import MAELoss
from fluidloss_cli.engine.losses.mse import MSELoss


def fields(*shape: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random tensors of one shape."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)


@pytest.mark.parametrize("spec, terms", [
    ("mse+0.1*lsim", [(1.0, "mse"), (0.1, "lsim")]),
    (" 2 * MSE + 1e-3*mae ", [(2.0, "mse"), (0.001, "mae")]),
    ("1e+2*vgg3", [(100.0, "vgg3")]),
    ("lpips-alex", [(1.0, "lpips-alex")]),
])
def test_parse_spec_reads_weighted_sums(spec, terms):
    assert parse_spec(spec) == terms


@pytest.mark.parametrize("spec, problem", [
    ("", "empty term"), ("mse+", "empty term"), ("mse++lsim", "empty term"), ("lsm", "unknown loss 'lsm'"),
    ("mse-lsim", "unknown loss 'mse-lsim'"), ("mse*0.1", "unknown loss '0.1'"), ("a*mse", "'a' is not a number"),
    ("0*mse", "positive"), ("-1*mse", "positive"), ("inf*mse", "positive"), ("mse+2*mse", "mse appears twice"),
])
def test_malformed_specs_raise_one_helpful_line(spec, problem):
    with pytest.raises(FluidlossError) as err:
        build_loss(spec)
    message = str(err.value)
    assert problem in message and "\n" not in message
    assert "e.g. 'mse+0.1*lsim'" in message
    assert all(name in message.split("losses: ")[1] for name in LOSS_CLASSES)  # every registered loss is named


def test_single_names_build_their_loss_and_sums_build_a_combination():
    assert type(build_loss("mse")) is MSELoss and type(build_loss("MAE")) is MAELoss
    combined = build_loss("mse+0.5*mae")
    assert isinstance(combined, CombinedLoss)
    pred, ref = fields(3, 2, 8, 9)
    assert combined(pred, ref).item() == pytest.approx(MSELoss()(pred, ref).item() + 0.5 * MAELoss()(pred, ref).item())


def test_combination_with_lsim_is_the_weighted_sum(weights_env):
    pred, ref = fields(2, 1, 64, 64)
    expected = build_loss("mse")(pred, ref) + 0.1 * build_loss("lsim")(pred, ref)
    assert build_loss("mse+0.1*lsim")(pred, ref).item() == pytest.approx(expected.item(), rel=1e-6)


def test_mse_and_mae_sum_over_channels_and_average_over_the_batch():
    pred, ref = fields(4, 3, 5, 6)
    assert build_loss("mse")(pred, ref).item() == pytest.approx(((pred - ref) ** 2).mean().item() * 3, rel=1e-6)
    assert build_loss("mae")(pred, ref).item() == pytest.approx((pred - ref).abs().mean().item() * 3, rel=1e-6)


@pytest.mark.parametrize("spec, filename, url, command", [
    ("vgg", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "import vgg16 FILE"),
    ("lpips", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
     "import alexnet FILE"),
    ("mse+lpips-squeeze", "squeezenet1_1-b8a52dc0.pth",
     "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth", "import squeezenet FILE"),
])
def test_missing_backbone_weights_fail_at_construction_naming_file_source_and_command(weights_env, spec, filename,
                                                                                        url, command):
    with pytest.raises(FluidlossError) as err:
        build_loss(spec)
    message = str(err.value)
    assert filename in message and url in message and f"fluidloss weights {command}" in message
    assert str(weights_env.torch_home / "hub" / "checkpoints") in message


def test_vgg_names_select_their_taps(backbones_env):
    assert len(build_loss("vgg").features) == 16 and len(build_loss("vgg4").features) == 23
    assert [loss_class(f"vgg{i}").args for i in range(1, 5)] == [("relu1_2",), ("relu2_2",), ("relu3_3",), ("relu4_3",)]


@pytest.mark.parametrize("pred, ref, problem", [
    (torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 9), "of one shape"),
    (torch.zeros(2, 8, 8), torch.zeros(2, 8, 8), "of one shape"),
    (torch.zeros(2, 1, 8, 8, dtype=torch.int64), torch.zeros(2, 1, 8, 8, dtype=torch.int64), "floating point"),
    (torch.full((2, 1, 8, 8), float("nan")), torch.zeros(2, 1, 8, 8), "NaN"),
    (torch.zeros(2, 1, 8, 8), torch.full((2, 1, 8, 8), float("inf")), "NaN or infinite"),
])
def test_bad_inputs_raise_before_any_computation(pred, ref, problem):
    with pytest.raises(FluidlossError, match=problem):
        build_loss("mse+mae")(pred, ref)


def test_the_finite_check_can_be_switched_off():
    loss = build_loss("mse")
    loss.check_finite = False
    assert torch.isnan(loss(torch.full((1, 1, 4, 4), float("nan")), torch.zeros(1, 1, 4, 4)))


def test_field_loss_sums_over_the_staggered_components():
    vx, vx_ref = fields(3, 16, 17, seed=1)
    vy, vy_ref = fields(3, 17, 16, seed=2)
    loss = build_loss("mse")
    expected = loss(vx[:, None], vx_ref[:, None]) + loss(vy[:, None], vy_ref[:, None])
    assert field_loss(loss, [vx, vy], [vx_ref, vy_ref]).item() == pytest.approx(expected.item(), rel=1e-6)


def test_field_loss_batches_fields_of_equal_shape_without_changing_the_sum():
    (a, a_ref), (b, b_ref), (c, c_ref) = fields(2, 8, 8, seed=3), fields(2, 8, 9, seed=4), fields(2, 8, 8, seed=5)
    loss = build_loss("mae")
    separate = sum(field_loss(loss, [p], [r]) for p, r in [(a, a_ref), (b, b_ref), (c, c_ref)])
    assert field_loss(loss, [a, b, c], [a_ref, b_ref, c_ref]).item() == pytest.approx(separate.item(), rel=1e-6)


@pytest.mark.parametrize("preds, refs", [
    ([torch.zeros(2, 8, 9)], []),
    ([torch.zeros(2, 8, 9)], [torch.zeros(2, 9, 8)]),
    ([torch.zeros(2, 8, 9), torch.zeros(3, 9, 8)], [torch.zeros(2, 8, 9), torch.zeros(3, 9, 8)]),
    ([torch.zeros(2, 1, 8, 9)], [torch.zeros(2, 1, 8, 9)]),
])
def test_field_loss_rejects_mismatched_fields(preds, refs):
    with pytest.raises(FluidlossError, match="field_loss"):
        field_loss(build_loss("mse"), preds, refs)
