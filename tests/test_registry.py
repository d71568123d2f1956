"""One registry lists the methods; a method added to it reaches the CLI, the explorer, evaluation
and the benchmark (each reader in more depth: tests/test_cli.py, tests/test_explorer_state.py)."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import camkit
from camkit.apps import cli
from camkit.apps.explorer_state import ExplorerState
from camkit.core.registry import INPUT_GRADIENT, LAYER_MAP, unregister
from camkit.evaluation import map_methods, pointing_scores
from camkit.zoo.shapes import ShapeScenes

from .scripts import load_script
from .test_explorer_state import tiny_zoo_model


class CentreMap(camkit.ActivationMap):
    """A toy method: the map is the activation's channel mean (it ignores the gradient)."""

    needs_gradient = False

    def layer_map(self, context: camkit.CallContext) -> torch.Tensor:
        return context.activation.mean(dim=1)


@pytest.fixture
def toy_method():
    info = camkit.register(camkit.MethodInfo("toy", "Toy map", CentreMap, LAYER_MAP, True, False, 1, "a test"))
    try:
        yield info
    finally:
        unregister("toy")


def test_the_registry_lists_every_method_once():
    names = camkit.available_methods()
    assert names[:3] == ["cam", "gradcam", "gradcam-counterfactual"] and "layercam" in names
    assert {"gradient", "deconvnet", "guided", "guided-gradcam"} <= set(names) and len(set(names)) == len(names)
    assert camkit.method_info("guided").factory is camkit.GuidedBackprop
    assert camkit.method_info("guided-gradcam").forward_passes == 2
    assert {camkit.method_info(n).kind for n in names} == {LAYER_MAP, INPUT_GRADIENT}


def test_unknown_names_duplicates_and_misplaced_layers_are_refused():
    with pytest.raises(ValueError, match="Unknown method 'gradkam'. Did you mean 'gradcam'"):
        camkit.method_info("gradkam")
    with pytest.raises(ValueError, match="registered already"):
        camkit.register(camkit.method_info("cam"))
    model = torchvision.models.resnet18(num_classes=3).eval()
    with pytest.raises(ValueError, match="Guided Backprop works on the input pixels and takes no layer"):
        camkit.method_info("guided").create(model, "layer4")


def test_a_registered_method_reaches_evaluation(toy_method):
    model = torchvision.models.resnet18(num_classes=6).eval()
    methods = map_methods(model, "layer3")
    assert "Toy map" in methods and "Input gradient" in methods and "Counterfactual Grad-CAM" not in methods
    scores = pointing_scores(model, ShapeScenes("test", size=64, length=4), {"Toy map": methods["Toy map"]})
    assert scores["scenes"] == 4 and 0 <= scores["Toy map"] <= 1


def test_a_registered_method_reaches_the_benchmark(toy_method):
    speed = load_script("speed", "benchmarks")
    row = speed.measure("toy", speed.Workload("resnet18", "layer4", 1, size=64), repeats=1, warmup=0)
    assert row.floor > 0 and row.libraries["camkit"] > 0
    assert row.libraries["pytorch-grad-cam"] is None and row.libraries["captum"] is None
    assert "| Toy map | resnet18 (1) |" in speed.format_report([row], 1, 0)


def test_a_per_channel_method_gets_the_per_channel_floor_and_target():
    speed = load_script("speed", "benchmarks")
    calls = []
    model = torchvision.models.resnet18().eval()
    model.register_forward_pre_hook(lambda _m, args: calls.append(len(args[0])))
    floor = speed.floor_call("ablationcam", model, "layer4", torch.randn(2, 3, 32, 32), [1, 2])
    calls.clear()
    floor()
    assert calls[0] == 2 and sum(calls[1:]) == 2 * 512  # the first pass, then B x K single images
    row = speed.Row("scorecam", "resnet18", 1, floor=1.0, libraries={"camkit": 1.1, "pytorch-grad-cam": None,
                                                                       "torchcam": None, "captum": None})
    assert row.target == 1.15 and row.passed


def test_a_registered_method_reaches_all_four_readers(toy_method, tmp_path, capsys):
    # the CLI: a --method choice, run on the offline ImageNet model
    out = tmp_path / "toy.png"
    assert cli.main(["chelsea", "--model", "efficientnet_lite0", "--method", "toy", "--out", str(out)]) == 0
    assert "Toy map of class" in capsys.readouterr().out and np.asarray(Image.open(out)).shape == (224, 224, 3)
    # the explorer: in the menu, and it explains
    state = ExplorerState(model="resnet18", image="coffee", loader=tiny_zoo_model)
    assert ("Toy map", "toy") in state.method_menu()
    state.method = "toy"
    assert state.explain().cam_map.shape == (64, 64)
    # evaluation and the benchmark
    model = torchvision.models.resnet18(num_classes=6).eval()
    assert "Toy map" in map_methods(model, "layer3")
    speed = load_script("speed", "benchmarks")
    assert speed.measure("toy", speed.Workload("resnet18", "layer4", 1, size=64), repeats=1, warmup=0).libraries["camkit"] > 0
