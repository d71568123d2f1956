"""camkit equals three independent libraries where they implement the definition, and the
definition where they do not.

Peers: pytorch-grad-cam 1.5.7, torchcam 0.5.0, captum 0.9.0 (how each returns its maps, and why
the comparisons look the way they do: tests/peer_adapters.py).  Models: torchvision resnet18,
vgg11, alexnet and shufflenet_v2_x1_0 with seeded random weights, one batch of 3 images of
96 x 128 px explained for 3 different classes.

Tolerances (absolute): normalised maps at the layer's resolution 1e-5 (torchcam; captum's raw
maps min-max scaled here), normalised upsampled maps 1e-4 (pytorch-grad-cam); input gradients
``allclose(rtol=1e-4, atol=1e-6 * max|g|)``.

At layers an in-place op follows, pytorch-grad-cam and torchcam keep the layer's output tensor,
which that op then overwrites (AlexNet features.10: A becomes ReLU(A)).  pytorch-grad-cam pairs
ReLU(A) with dy/dA (its tensor hook was registered before the overwrite); torchcam pairs ReLU(A)
with dy/dReLU(A), i.e. explains the next layer.  Their Grad-CAM is then not the definition's;
camkit and captum (both hand the network a clone) are.  The measured differences go to
results/peer_differences.json.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import camkit

from .peer_adapters import (
    CLASSES,
    CLEAN_LAYERS,
    DEFINITIONS,
    INPLACE_LAYERS,
    build_model,
    captum_grad_cam,
    captum_guided_backprop,
    captum_guided_grad_cam,
    describe_model_changes,
    gradient_tolerance,
    make_input,
    model_fingerprint,
    output_modified_in_place,
    pytorch_grad_cam_map,
    torchcam_map,
)
from .reference import activation_and_gradient, min_max

pytestmark = [
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations:UserWarning"),
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients:UserWarning"),
]

CAMKIT_METHODS = {"cam": camkit.CAM, "gradcam": camkit.GradCAM, "layercam": camkit.LayerCAM}
PEERS = {
    "gradcam": ["pytorch-grad-cam", "torchcam", "captum"],
    "layercam": ["pytorch-grad-cam", "torchcam"],
}
TOLERANCE = {"pytorch-grad-cam": 1e-4, "torchcam": 1e-5, "captum": 1e-5}
GAP_LINEAR_MODELS = ["resnet18", "shufflenet_v2_x1_0"]
RESULTS_FILE = Path(__file__).resolve().parent.parent / "results" / "peer_differences.json"

# What the peers do at INPLACE_LAYERS, measured first (results/peer_differences.json):
# Grad-CAM: pytorch-grad-cam 0.40-0.88 and torchcam 0.40-0.94 off, captum < 2e-6 (it clones).
# LayerCAM after conv -> ReLU(inplace) (AlexNet, VGG): all agree (< 1e-6), since dy/dA = 0 wherever
# the ReLU changed A, so ReLU(dy/dA) * A = ReLU(dy/dA) * ReLU(A).  After ResNet's bn2 the
# in-place ``+= identity`` changes positive values too: pytorch-grad-cam and torchcam 0.76 off.
DIFFERS, AGREES = 0.05, 1e-4


def expected_peer_outcome(model_name: str, method: str, library: str) -> str:
    """'differs' (max abs difference > DIFFERS) or 'agrees' (< AGREES) at INPLACE_LAYERS."""
    if library == "captum":
        return "agrees"
    if method == "layercam" and model_name in ("alexnet", "vgg11"):
        return "agrees"
    return "differs"


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_cleanup() -> Iterator[None]:
    """One intra-op thread (the two cores are shared, and OpenMP threads spin when oversubscribed);
    afterwards the cached models and maps are freed."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
    for cached in (batch, model_named, camkit_maps):
        cached.cache_clear()


@functools.cache
def batch() -> torch.Tensor:
    """The one input batch every test explains."""
    return make_input()


@functools.cache
def model_named(name: str) -> nn.Module:
    """Built once; camkit, torchcam and captum leave it as it was, pytorch-grad-cam gets a copy."""
    return build_model(name)


@functools.cache
def camkit_maps(method: str, model_name: str, layer: str, upsample: bool = True, normalize: bool = True) -> torch.Tensor:
    """camkit's maps of the shared batch, computed once per setting (callers only read them)."""
    return CAMKIT_METHODS[method](model_named(model_name), layer)(batch(), CLASSES, upsample=upsample, normalize=normalize)


def peer_difference(library: str, method: str, model_name: str, layer: str) -> float:
    """Max abs difference between camkit's and the peer's normalised maps, each in the peer's form."""
    model, x = model_named(model_name), batch()
    if library == "pytorch-grad-cam":
        theirs = pytorch_grad_cam_map(method, copy.deepcopy(model), layer, x, CLASSES)
        ours = min_max(camkit_maps(method, model_name, layer))  # it min-max scales after resizing
    elif library == "torchcam":
        theirs = torchcam_map(method, model, layer, x, CLASSES)
        ours = camkit_maps(method, model_name, layer, upsample=False)
    else:
        theirs = min_max(captum_grad_cam(model, layer, x, CLASSES))
        ours = camkit_maps(method, model_name, layer, upsample=False)
    assert theirs.shape == ours.shape
    return (theirs - ours).abs().max().item()


def assert_not_flat(method: str, model_name: str, layer: str) -> None:
    """Each raw map varies by more than 1e-2, so the comparison is not vacuous (nor eps-dominated)."""
    raw = camkit_maps(method, model_name, layer, upsample=False, normalize=False).flatten(1)
    assert (raw.amax(dim=1) - raw.amin(dim=1) > 1e-2).all()


# ----------------------------------------------------------------------------- the layers chosen

@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_no_inplace_op_changes_the_clean_layer(model_name: str) -> None:
    assert not output_modified_in_place(model_named(model_name), CLEAN_LAYERS[model_name], batch())


@pytest.mark.parametrize("model_name", list(INPLACE_LAYERS))
def test_an_inplace_op_changes_the_inplace_layer(model_name: str) -> None:
    assert output_modified_in_place(model_named(model_name), INPLACE_LAYERS[model_name], batch())


# ----------------------------------------------------------------------------- equal to the peers

@pytest.mark.parametrize("library", PEERS["gradcam"])
@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_grad_cam_equals_peer(model_name: str, library: str) -> None:
    assert_not_flat("gradcam", model_name, CLEAN_LAYERS[model_name])
    assert peer_difference(library, "gradcam", model_name, CLEAN_LAYERS[model_name]) <= TOLERANCE[library]


@pytest.mark.parametrize("library", PEERS["layercam"])
@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_layer_cam_equals_peer(model_name: str, library: str) -> None:
    assert_not_flat("layercam", model_name, CLEAN_LAYERS[model_name])
    assert peer_difference(library, "layercam", model_name, CLEAN_LAYERS[model_name]) <= TOLERANCE[library]


@pytest.mark.parametrize("model_name", GAP_LINEAR_MODELS)
def test_cam_equals_torchcam(model_name: str) -> None:
    assert_not_flat("cam", model_name, CLEAN_LAYERS[model_name])
    assert peer_difference("torchcam", "cam", model_name, CLEAN_LAYERS[model_name]) <= TOLERANCE["torchcam"]


@pytest.mark.parametrize("model_name", sorted(set(CLEAN_LAYERS) - set(GAP_LINEAR_MODELS)))
def test_cam_refuses_a_model_without_gap_and_one_linear_layer(model_name: str) -> None:
    with pytest.raises(ValueError, match="global average pooling and exactly one linear layer"):
        camkit.CAM(model_named(model_name), CLEAN_LAYERS[model_name])(batch(), CLASSES)


@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_guided_backprop_equals_captum(model_name: str) -> None:
    model = model_named(model_name)
    ours = camkit.GuidedBackprop(model)(batch(), CLASSES)
    theirs = captum_guided_backprop(model, batch(), CLASSES)
    assert ours.abs().amax(dim=(1, 2, 3)).min() > 0
    torch.testing.assert_close(ours, theirs, **gradient_tolerance(ours))


@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_guided_grad_cam_equals_captum(model_name: str) -> None:
    """captum multiplies by the raw (unnormalised) Grad-CAM, so camkit runs with normalize=False."""
    model, layer = model_named(model_name), CLEAN_LAYERS[model_name]
    ours = camkit.GuidedGradCAM(model, layer)(batch(), CLASSES, normalize=False)
    theirs = captum_guided_grad_cam(model, layer, batch(), CLASSES)
    assert ours.abs().amax(dim=(1, 2, 3)).min() > 0
    torch.testing.assert_close(ours, theirs, **gradient_tolerance(ours))


# ----------------------------------------------------------------------------- in-place layers

@pytest.mark.parametrize("model_name", list(INPLACE_LAYERS))
def test_camkit_equals_definition_at_inplace_layer(model_name: str) -> None:
    layer, size = INPLACE_LAYERS[model_name], batch().shape[-2:]
    activation, gradient = activation_and_gradient(model_named(model_name), layer, batch(), CLASSES)
    for method, definition in DEFINITIONS.items():
        reference = min_max(definition(activation, gradient))
        reference_upsampled = F.interpolate(reference[:, None], size=size, mode="bilinear")[:, 0]
        low_res = camkit_maps(method, model_name, layer, upsample=False)
        torch.testing.assert_close(low_res, reference, rtol=0, atol=1e-5, msg=method)
        torch.testing.assert_close(camkit_maps(method, model_name, layer), reference_upsampled, rtol=0, atol=1e-5, msg=method)


def measure_peer(library: str, method: str, model_name: str, layer: str) -> float | str:
    """The peer's max abs difference from camkit, or 'raises: <ExceptionType>'."""
    try:
        return peer_difference(library, method, model_name, layer)
    except Exception as error:  # noqa: BLE001 - recording how a peer fails is the point
        return f"raises: {type(error).__name__}"


Differences = dict[str, dict[str, dict[str, dict[str, float | str]]]]  # model, layer, method, library


def measure_inplace_layers() -> Differences:
    """Every peer's difference from camkit at INPLACE_LAYERS, where camkit equals the definition."""
    return {
        model_name: {
            layer: {
                method: {library: measure_peer(library, method, model_name, layer) for library in libraries}
                for method, libraries in PEERS.items()
            }
        }
        for model_name, layer in INPLACE_LAYERS.items()
    }


def flat_entries(differences: Differences) -> list[tuple[str, str, str, str, float | str]]:
    return [
        (model_name, layer, method, library, difference)
        for model_name, by_layer in differences.items()
        for layer, by_method in by_layer.items()
        for method, by_library in by_method.items()
        for library, difference in by_library.items()
    ]


def as_expected(model_name: str, method: str, library: str, difference: float | str) -> bool:
    if isinstance(difference, str):
        return False
    if expected_peer_outcome(model_name, method, library) == "differs":
        return difference > DIFFERS
    return difference < AGREES


def test_peer_differences_at_inplace_layers() -> None:
    """Measure every peer at INPLACE_LAYERS, write and print the numbers, check them against the record."""
    differences = measure_inplace_layers()
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(differences, indent=2) + "\n")
    print(f"\nmax abs difference of each peer's normalised maps from the definition ({RESULTS_FILE}):")
    unexpected = []
    for model_name, layer, method, library, difference in flat_entries(differences):
        line = f"{model_name} {layer} {method} {library}: " + (
            difference if isinstance(difference, str) else f"{difference:.2e}"
        )
        print("  " + line)
        if not as_expected(model_name, method, library, difference):
            unexpected.append(f"{line} (expected: {expected_peer_outcome(model_name, method, library)})")
    assert not unexpected, "peers behave differently from the record:\n" + "\n".join(unexpected)


# ----------------------------------------------------------------------------- side effects

def _run_pgc_guided_backprop(model: nn.Module, x: torch.Tensor) -> None:
    from pytorch_grad_cam import GuidedBackpropReLUModel

    GuidedBackpropReLUModel(model)(x.clone(), CLASSES[0])


SIDE_EFFECT_CASES = {
    # name: (call on a model, what it leaves changed: measured, and why each peer gets a copy)
    "pytorch-grad-cam GradCAM": (
        lambda m, x: pytorch_grad_cam_map("gradcam", m, "layer4", x, CLASSES), ["parameter .grad"]),
    "pytorch-grad-cam GuidedBackpropReLUModel": (
        _run_pgc_guided_backprop, ["inplace flags", "module types", "parameter .grad", "training flags"]),
    "torchcam GradCAM": (lambda m, x: torchcam_map("gradcam", m, "layer4", x, CLASSES), []),
    "captum LayerGradCam": (lambda m, x: captum_grad_cam(m, "layer4", x, CLASSES), []),
    "captum GuidedGradCam": (lambda m, x: captum_guided_grad_cam(m, "layer4", x, CLASSES), []),
    "camkit GradCAM": (lambda m, x: camkit.GradCAM(m, "layer4")(x, CLASSES), []),
    "camkit GuidedGradCAM": (lambda m, x: camkit.GuidedGradCAM(m, "layer4")(x, CLASSES), []),
}


@pytest.mark.parametrize("case", list(SIDE_EFFECT_CASES))
def test_side_effects_on_the_model(case: str) -> None:
    """Each call leaves the model usable (same logits); what else it changes is as recorded.

    pytorch-grad-cam's ``loss.backward`` fills parameter gradients, and GuidedBackpropReLUModel
    puts back one shared ``nn.ReLU()`` (inplace=False) for all ReLU modules: module types and
    the flags listed per module change.
    """
    run, expected_changes = SIDE_EFFECT_CASES[case]
    original = model_named("resnet18")
    model = copy.deepcopy(original)
    before = model_fingerprint(model)
    run(model, batch())
    assert describe_model_changes(before, model_fingerprint(model)) == expected_changes
    with torch.no_grad():
        torch.testing.assert_close(model(batch()), original(batch()))
