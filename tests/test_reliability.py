"""The defects a hostile test pass found (issue 12), one test each: every one failed before its fix."""

import threading
import warnings
from collections import namedtuple

import pytest
import torch
import torchvision
from torch import nn

import camkit
from camkit.evaluation import map_methods, pointing_scores
from camkit.zoo.shapes import ShapeScenes
from camkit.zoo.training import torch_settings


def small_resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


def model_state(model: nn.Module) -> tuple:
    """Everything a call could change: modes, flags, buffers (values and versions), hooks."""
    modes = [m.training for m in model.modules()]
    inplace = [getattr(m, "inplace", None) for m in model.modules()]
    buffers = [(b.clone(), b._version) for b in model.buffers()]
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    return modes, inplace, buffers, hooks


def assert_same_state(before: tuple, after: tuple) -> None:
    assert before[0] == after[0] and before[1] == after[1] and before[3] == after[3]
    for (saved, version), (now, version_now) in zip(before[2], after[2]):
        assert torch.equal(saved, now) and version == version_now


# --------------------------------------------------------------------------- 1. train mode
@pytest.mark.parametrize("layer", ["layer4", None])
def test_a_train_mode_model_is_explained_in_eval_mode_and_given_back(layer):
    model = small_resnet().train()
    x = torch.randn(3, 3, 64, 64)
    before = model_state(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = camkit.GradCAM(model, layer)(x, 1)
    messages = [str(w.message) for w in caught]
    assert sum("train mode; camkit explains it in eval mode" in m for m in messages) == 1, messages
    assert sum("camkit picked layer 'layer4'" in m for m in messages) == (layer is None), messages
    assert all(w.filename == __file__ for w in caught)  # at the caller's line
    assert_same_state(before, model_state(model))  # running stats, num_batches_tracked, modes
    expected = camkit.GradCAM(model.eval(), "layer4")(x, 1)
    torch.testing.assert_close(maps, expected)
    # one sample's map does not depend on the others (batch statistics would make it)
    torch.testing.assert_close(camkit.GradCAM(model, "layer4")(x[:1], 1), expected[:1])


def test_dropout_does_not_make_two_calls_differ():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    x = torch.randn(2, 3, 16, 16)
    with pytest.warns(UserWarning, match="train mode"):
        first, second = (camkit.LayerCAM(model, "0")(x, 0) for _ in range(2))
    torch.testing.assert_close(first, second)
    assert model.training


def test_a_model_without_mode_dependent_modules_gets_no_warning():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        camkit.GradCAM(net, "0")(torch.randn(1, 3, 8, 8))


# ------------------------------------------------------------------------------- 2. threads
class Gate:
    """A target callable that holds its call until released: a second thread can start meanwhile."""

    def __init__(self) -> None:
        self.inside, self.release = threading.Event(), threading.Event()

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        self.inside.set()
        assert self.release.wait(30)
        return logits[:, 0]


@pytest.mark.parametrize("second", [camkit.InputGradient, camkit.Deconvnet])
def test_a_concurrent_call_on_the_same_model_is_refused_and_corrupts_nothing(second):
    model = small_resnet().eval()
    x = torch.randn(1, 3, 32, 32)
    before = model_state(model)
    expected = camkit.GuidedBackprop(model)(x, 0)
    gate, results = Gate(), {}
    worker = threading.Thread(target=lambda: results.update(guided=camkit.GuidedBackprop(model)(x, gate)))
    worker.start()
    assert gate.inside.wait(30)
    try:
        with pytest.raises(RuntimeError, match="Another thread is explaining this ResNet"):
            second(model)(x, 0)
    finally:
        gate.release.set()
        worker.join(30)
    torch.testing.assert_close(results["guided"], expected)
    assert_same_state(before, model_state(model))
    # and once the first call is over, the other thread's call works
    plain = camkit.InputGradient(model)(x, 0)
    assert not torch.allclose(plain, expected)


def test_nested_calls_in_one_thread_are_fine():
    model = small_resnet().eval()
    assert camkit.GuidedGradCAM(model, "layer4")(torch.randn(1, 3, 64, 64), 0).shape == (1, 3, 64, 64)


# ----------------------------------------------------------------------- 3. channels-last
class ChannelsLastNet(nn.Module):
    """A transformer-like stage: conv, then (B, H, W, C) through LayerNorm and Linear, then back."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.features = nn.Sequential(nn.Identity())  # a container whose output is channels-last
        self.norm = nn.LayerNorm(6)
        self.mlp = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x).permute(0, 2, 3, 1))
        x = self.mlp(self.norm(x))
        return self.head(x.permute(0, 3, 1, 2).mean(dim=(2, 3)))


@pytest.mark.parametrize("layer", ["features", "norm", "mlp"])
def test_a_channels_last_layer_is_read_as_such_and_announced(layer):
    model, x = ChannelsLastNet().eval(), torch.randn(1, 3, 5, 5)
    cam = camkit.GradCAM(model, layer)
    with pytest.warns(UserWarning, match=rf"reads layer '{layer}''s output \(1, 5, 5, 6\) as channels-last"):
        maps = cam(x, 0)
    assert maps.shape == (1, 5, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cam(x, 0)  # announced once per method and layer
    if layer == "features":  # the stem's output, permuted: the same map as at the stem
        assert torch.allclose(maps, camkit.GradCAM(model, "stem")(x, 0), atol=1e-6)


def test_swin_features_are_read_as_channels_last_and_the_auto_pick_avoids_them():
    model = torchvision.models.swin_t().eval()
    x = torch.randn(1, 3, 64, 64)
    with pytest.warns(UserWarning, match="'features''s output \\(1, 2, 2, 768\\) as channels-last"):
        assert camkit.GradCAM(model, "features")(x).shape == (1, 64, 64)
    with pytest.warns(UserWarning, match="picked layer 'permute'"):
        cam = camkit.GradCAM(model)
        cam(x)


def test_channels_first_layer_norm_2d_is_read_as_it_is():
    model = torchvision.models.convnext_tiny().eval()
    x = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchvision's LayerNorm2d: no reading to announce
        assert camkit.GradCAM(model, "features.2.0")(x).shape == (1, 64, 64)
    with pytest.warns(UserWarning, match="channels-last"):
        camkit.GradCAM(model, "features.1.0.block.2")(x)  # the block's nn.LayerNorm


# ---------------------------------------------------------------------- 4. NaN, 1x1 maps
def test_nan_scores_raise():
    model = small_resnet().eval()
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        camkit.GradCAM(model, "layer4")(torch.randn(1, 3, 64, 64), 0)


def test_a_one_pixel_map_warns():
    with pytest.warns(UserWarning, match="'layer4' gives a 1x1 map") as caught:
        camkit.GradCAM(small_resnet().eval(), "layer4")(torch.randn(1, 3, 32, 32), 0)
    assert caught[0].filename == __file__


# -------------------------------------------------------------------- 5. non-tensor outputs
Outputs = namedtuple("Outputs", "logits aux")


class DictNet(nn.Module):
    def __init__(self, as_tuple: bool = False) -> None:
        super().__init__()
        self.as_tuple = as_tuple
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> object:
        logits = self.fc(self.conv(x).mean(dim=(2, 3)))
        return Outputs(logits, logits * 0) if self.as_tuple else {"out": logits}


@pytest.mark.parametrize("as_tuple", [False, True])
def test_a_callable_target_receives_the_raw_output(as_tuple):
    model = DictNet(as_tuple).eval()
    x = torch.randn(2, 3, 8, 8)
    pick = (lambda out: out.logits[:, 1]) if as_tuple else (lambda out: out["out"][:, 1])
    result = camkit.GradCAM(model, "conv").compute(x, pick)
    assert result.maps.shape == (2, 8, 8) and result.classes is None
    with pytest.raises(TypeError, match="Pass a callable target"):
        camkit.GradCAM(model, "conv")(x, 1)


# ------------------------------------------------------------ 6. scripted, traced, compiled
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_scripted_traced_and_compiled_models_name_the_way_out():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.randn(1, 3, 8, 8)
    for wrapped in (torch.jit.script(model), torch.jit.trace(model, x)):
        with pytest.raises(TypeError, match="TorchScript.*eager nn.Module"):
            camkit.GradCAM(wrapped, "0")
        with pytest.raises(TypeError, match="TorchScript"):
            camkit.GuidedBackprop(wrapped)
    with pytest.raises(TypeError, match=r"torch.compile.*model._orig_mod"):
        camkit.LayerCAM(torch.compile(model), "0")


# ---------------------------------------------------------------- 7. the first conv *run*
class StemRegisteredLast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(8, 8, 3, padding=1)  # registered first, runs second
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(self.stem(x)).mean(dim=(2, 3)))


def test_the_channel_check_uses_the_first_convolution_run():
    model = StemRegisteredLast().eval()
    assert camkit.GradCAM(model, "body")(torch.randn(1, 3, 8, 8), 0).shape == (1, 8, 8)
    with pytest.raises(ValueError, match="'stem', takes 3 channels but receives 8"):
        camkit.GradCAM(model, "body")(torch.randn(1, 8, 8, 8), 0)


# ----------------------------------------------------------------------- 9. a bad layer
@pytest.mark.parametrize("layer", [42, 3.5, [42]])
def test_a_layer_of_the_wrong_type_says_what_layer_accepts(layer):
    with pytest.raises(TypeError, match="dotted name such as 'layer4', an nn.Module"):
        camkit.GradCAM(small_resnet(), layer)


# ---------------------------------------------------------------- evaluation and training
def test_evaluation_leaves_the_model_mode_as_it_was():
    model = small_resnet().train()
    data = ShapeScenes("test", size=32, length=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pointing_scores(model, data, map_methods(model, "layer3", names=["gradcam"]))
    assert all(m.training for m in model.modules())


def test_training_settings_give_torch_global_state_back():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng = torch.get_rng_state()
    with pytest.raises(KeyError):
        with torch_settings(threads=1 if threads > 1 else 2, seed=123):
            assert torch.are_deterministic_algorithms_enabled()
            torch.rand(3)
            raise KeyError("a failure halfway")
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng)
