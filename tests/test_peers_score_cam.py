"""Score-CAM against its definition and against pytorch-grad-cam 1.5.7 and torchcam 0.5.0.

The definition below follows the authors' code one channel at a time (upsample A^k bilinearly,
min-max scale it, mask the input, take the class probability, ReLU(sum_k w_k A^k)); the activation
comes from an out-of-place copy of the model (tests/reference.py), the weights are float64.
One sample (Score-CAM runs one forward pass per channel), its top-1 class (a random-weight
network's fixed classes give all-zero maps after the ReLU).  Float32 forward passes of different
batch sizes differ in their last bits: maps agree to 2e-4 of their maximum.

The peers weight channels by a softmax over channels of logits (``weights="channel-softmax"``) and
differ from each other, and from the paper's masks, in one more place each, reproduced here:

* pytorch-grad-cam upsamples with ``nn.UpsamplingBilinear2d``, which is ``align_corners=True``
  (the corners of the map pinned to the corner pixels), not the half-pixel rule of the paper's
  ``F.interpolate``, and adds 1e-8 to the min-max denominator.
* torchcam min-max scales A^k at the layer's resolution and then upsamples, so a mask's peak is
  below 1 wherever the channel's maximum is interior (its docstring writes the paper's order).
  It subtracts the unmasked input's logit as the "baseline", which a softmax over channels ignores.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import camkit

from .peer_adapters import make_input, one_thread  # noqa: F401 (a fixture)
from .peer_adapters import shared_model as model_named
from .reference import activation_and_gradient, min_max

pytestmark = pytest.mark.usefixtures("one_thread")

# (model, layer): two layers no in-place op touches, one that a ReLU(inplace=True) overwrites
LAYERS = [("alexnet", "features.11"), ("resnet18", "layer4"), ("alexnet", "features.10"),
          ("shufflenet_v2_x1_0", "conv5")]


def definition(
    model: nn.Module, layer: str, x: torch.Tensor, classes: list[int], weights: str = "probability",
    upsample_first: bool = True, align_corners: bool = False, eps: float = 0.0,
) -> torch.Tensor:
    """Raw Score-CAM maps (B, h, w), one masked forward pass at a time."""
    activation, _ = activation_and_gradient(model, layer, x, classes)
    size = x.shape[-2:]

    def scaled(a: torch.Tensor) -> torch.Tensor:
        return (a - a.min()) / (a.max() - a.min() + eps)

    maps = []
    with torch.no_grad():
        for b, c in enumerate(classes):
            scores, constant = [], []
            for a in activation[b]:
                a = a[None, None]
                up = lambda m: F.interpolate(m, size=size, mode="bilinear", align_corners=align_corners)  # noqa: E731
                mask = scaled(up(a)) if upsample_first else up(scaled(a))
                if eps == 0 and a.max() == a.min():
                    mask = torch.zeros_like(mask)
                logits = model(x[b : b + 1] * mask)[0].double()
                scores.append(logits.softmax(dim=0)[c] if weights == "probability" else logits[c])
                constant.append(bool(a.max() == a.min()))
            scores = torch.stack(scores)
            if weights == "probability":
                w = scores.masked_fill(torch.tensor(constant), 0)
            else:
                w = scores.softmax(dim=0)
            maps.append((w[:, None, None] * activation[b].double()).sum(dim=0).clamp(min=0))
    return torch.stack(maps).float()


def top1(model: nn.Module, x: torch.Tensor) -> list[int]:
    with torch.no_grad():
        return model(x).argmax(dim=1).tolist()


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def case(model_name: str) -> tuple[nn.Module, torch.Tensor, list[int]]:
    model, x = model_named(model_name), make_input()[:1]
    return model, x, top1(model, x)


@pytest.mark.parametrize(("model_name", "layer"), LAYERS[:3])
def test_equal_to_the_definition_for_any_batch_size(model_name: str, layer: str) -> None:
    model, x, classes = case(model_name)
    expected = definition(model, layer, x, classes)
    assert expected.max() > 0
    for batch_size in (1, 64):
        ours = camkit.ScoreCAM(model, layer, batch_size=batch_size)(x, classes, upsample=False, normalize=False)
        assert relative_difference(ours, expected) < 2e-4, batch_size


@pytest.mark.parametrize(("model_name", "layer"), [LAYERS[0], LAYERS[3]])
def test_channel_softmax_equal_to_its_definition(model_name: str, layer: str) -> None:
    model, x, classes = case(model_name)
    expected = definition(model, layer, x, classes, weights="channel-softmax")
    ours = camkit.ScoreCAM(model, layer, batch_size=64, weights="channel-softmax")(x, classes, upsample=False, normalize=False)
    assert expected.max() > 0 and relative_difference(ours, expected) < 2e-4


@pytest.mark.parametrize(("model_name", "layer"), [LAYERS[0], LAYERS[1], LAYERS[3]])
def test_pytorch_grad_cam_masks_with_align_corners_true(model_name: str, layer: str) -> None:
    """Its maps equal the channel-softmax definition with its masks (align_corners=True, eps 1e-8),
    then its post-processing (min-max, resize, min-max again; see tests/peer_adapters.py)."""
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x, classes = case(model_name)
    peer_model = copy.deepcopy(model)
    with ScoreCAM(peer_model, [peer_model.get_submodule(layer)]) as cam:
        cam.batch_size = 64
        theirs = torch.from_numpy(cam(x, [ClassifierOutputTarget(c) for c in classes]))

    def processed(raw: torch.Tensor) -> torch.Tensor:
        return min_max(camkit.resize_maps(min_max(raw), tuple(x.shape[-2:])))

    their_masks = definition(model, layer, x, classes, "channel-softmax", align_corners=True, eps=1e-8)
    assert (theirs - processed(their_masks)).abs().max() < 1e-3
    ours = camkit.ScoreCAM(model, layer, batch_size=64, weights="channel-softmax")(x, classes, upsample=False, normalize=False)
    difference = (theirs - processed(ours)).abs().max().item()
    print(f"{model_name} {layer}: pytorch-grad-cam vs camkit channel-softmax, max difference {difference:.2e}")
    assert difference > 1e-3  # the masks' upsampling rule is a visible difference, not float noise


@pytest.mark.parametrize(("model_name", "layer", "visible"), [(*LAYERS[0], True), (*LAYERS[1], True), (*LAYERS[3], False)])
def test_torchcam_scales_masks_before_upsampling(model_name: str, layer: str, visible: bool) -> None:
    """On ShuffleNetV2 the channel softmax gives two channels 98 % of the weight (an effective 1.7
    channels of 1,024, measured), and their scores hardly move with the masks: the maps agree there."""
    from torchcam.methods import ScoreCAM

    model, x, classes = case(model_name)
    peer_model = copy.deepcopy(model)
    with ScoreCAM(peer_model, layer, batch_size=64, input_shape=tuple(x.shape[1:])) as extractor:
        scores = peer_model(x)
        (theirs,) = extractor(classes, scores)
    their_masks = definition(model, layer, x, classes, "channel-softmax", upsample_first=False, eps=1e-8)
    assert (theirs - min_max(their_masks)).abs().max() < 1e-3
    ours = camkit.ScoreCAM(model, layer, batch_size=64, weights="channel-softmax")(x, classes, upsample=False)
    difference = (theirs - ours).abs().max().item()
    print(f"{model_name} {layer}: torchcam vs camkit channel-softmax, max difference {difference:.2e}")
    assert difference > 1e-3 if visible else difference < 1e-4


def test_probability_weights_need_logits_and_a_class() -> None:
    model, x, _ = case("alexnet")
    method = camkit.ScoreCAM(model, "features.11")
    with pytest.raises(ValueError, match="weights='channel-softmax'"):
        method(x, lambda output: output[:, 3])
    callable_target = camkit.ScoreCAM(model, "features.11", weights="channel-softmax", batch_size=256)
    assert callable_target(x, lambda output: output[:, 3]).shape == (1, *x.shape[-2:])


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"weights": "logit"}, {"baseline": "black"}])
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
        camkit.ScoreCAM(model_named("alexnet"), "features.11", **bad)


def test_a_baseline_of_the_wrong_shape_is_refused_before_any_masked_pass() -> None:
    from .tiny import X, tiny_net

    net, images = tiny_net(), []
    net.register_forward_pre_hook(lambda _m, args: images.append(len(args[0])))
    with pytest.raises(ValueError, match="baseline must be a number or have x's shape"):
        camkit.ScoreCAM(net, "relu", baseline=torch.zeros(1, 1, 3, 3))(X, 1)
    assert images == [1]  # only the call's own forward pass
