"""How close camkit comes to the cost floor, next to pytorch-grad-cam, torchcam and captum (CPU).

For Grad-CAM, LayerCAM and Guided Backprop on resnet50 (batch 8) and vgg16 (batch 4) at 224 x 224
with random weights in eval mode, each contender's median time per call is divided by the floor:

* Grad-CAM / LayerCAM floor: the forward pass with a hook that keeps the target layer's output,
  then ``torch.autograd.grad(score.sum(), kept_output)``.  The layers (resnet50 ``layer4``, vgg16
  ``features.29``) are followed by no in-place op, so the floor needs no clone.
* Guided Backprop floor: the forward pass and ``torch.autograd.grad(score.sum(), x)``, the plain
  input gradient.

Contenders run as their libraries are meant to be used, each on its own deep copy of the model
(pytorch-grad-cam and torchcam keep hooks on it between calls; pytorch-grad-cam's
GuidedBackpropReLUModel swaps its ReLU modules): pytorch-grad-cam GradCAM / LayerCAM (maps as
numpy at the input size; ``loss.backward`` also computes every parameter's gradient) and
GuidedBackpropReLUModel (explains sample 0 only, returns HWC numpy); torchcam GradCAM / LayerCAM
(low-resolution maps); captum LayerGradCam (raw low-resolution maps) and GuidedBackprop.
captum has no LayerCAM and torchcam no Guided Backprop: "n/a".

Calls are interleaved (one call of each contender per round, the order rotated every round)
after a warm-up, so that drift from other load on the machine hits every contender alike.

    python benchmarks/speed.py [--repeats N] [--quick] [--out results/benchmark.md]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

import camkit

LIBRARIES = ["camkit", "pytorch-grad-cam", "torchcam", "captum"]
METHODS = ["gradcam", "layercam", "guided"]
METHOD_TITLES = {"gradcam": "Grad-CAM", "layercam": "LayerCAM", "guided": "Guided Backprop"}
TARGET_RATIO = {"gradcam": 1.10, "layercam": 1.10, "guided": 1.15}


@dataclass(frozen=True)
class Workload:
    """One model, its target layer and its batch."""

    model: str
    layer: str
    batch: int
    size: int = 224


WORKLOADS = [Workload("resnet50", "layer4", 8), Workload("vgg16", "features.29", 4)]

Call = Callable[[], object]

NOTES = [
    "Floors: forward + gradient to the target layer only (Grad-CAM, LayerCAM); forward + plain input "
    "gradient (Guided Backprop).",
    "pytorch-grad-cam's GradCAM / LayerCAM call loss.backward, which also computes every parameter's "
    "gradient; its GuidedBackpropReLUModel explains sample 0 of the batch only.",
]


# ----------------------------------------------------------------------------- the floors

def cam_floor(model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call:
    """Forward, then the gradient of the class scores with respect to the layer's output only."""
    module = model.get_submodule(layer)

    def run() -> torch.Tensor:
        kept: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, output: kept.append(output))
        try:
            logits = model(x)
        finally:
            handle.remove()
        score = logits[torch.arange(len(classes)), classes].sum()
        return torch.autograd.grad(score, kept[0])[0]

    return run


def guided_floor(model: nn.Module, x: torch.Tensor, classes: list[int]) -> Call:
    """Forward, then the plain gradient of the class scores with respect to the input."""

    def run() -> torch.Tensor:
        inputs = x.detach().requires_grad_(True)
        logits = model(inputs)
        score = logits[torch.arange(len(classes)), classes].sum()
        return torch.autograd.grad(score, inputs)[0]

    return run


# ----------------------------------------------------------------------------- the contenders

def camkit_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call:
    if method == "guided":
        explainer = camkit.GuidedBackprop(model)
        return lambda: explainer(x, classes)
    explainer = {"gradcam": camkit.GradCAM, "layercam": camkit.LayerCAM}[method](model, layer)
    return lambda: explainer(x, classes)


def pytorch_grad_cam_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call:
    from pytorch_grad_cam import GradCAM, GuidedBackpropReLUModel, LayerCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if method == "guided":
        explainer = GuidedBackpropReLUModel(model)
        # It calls requires_grad_ on the tensor it gets and reads .grad: give it a fresh one.
        return lambda: explainer(x.clone(), classes[0])
    cam = {"gradcam": GradCAM, "layercam": LayerCAM}[method](model, [model.get_submodule(layer)])
    targets = [ClassifierOutputTarget(c) for c in classes]
    return lambda: cam(x, targets)


def torchcam_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call | None:
    from torchcam.methods import GradCAM, LayerCAM

    if method == "guided":
        return None
    extractor = {"gradcam": GradCAM, "layercam": LayerCAM}[method](model, layer)

    def run() -> list[torch.Tensor]:
        return extractor(classes, model(x))

    return run


def captum_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call | None:
    from captum.attr import GuidedBackprop, LayerGradCam

    if method == "layercam":
        return None
    if method == "guided":
        explainer = GuidedBackprop(model)
        return lambda: explainer.attribute(x, classes)
    explainer = LayerGradCam(model, model.get_submodule(layer))
    return lambda: explainer.attribute(x, classes, relu_attributions=True)


CONTENDERS = {
    "camkit": camkit_call,
    "pytorch-grad-cam": pytorch_grad_cam_call,
    "torchcam": torchcam_call,
    "captum": captum_call,
}


# ----------------------------------------------------------------------------- timing

def time_interleaved(calls: dict[str, Call], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each contender, calls interleaved in rotating order."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            calls[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


@dataclass
class Row:
    """The medians of one (method, model) pair; None where a library has no such method."""

    method: str
    model: str
    floor: float
    libraries: dict[str, float | None]

    def ratio(self, library: str) -> float | None:
        seconds = self.libraries[library]
        return None if seconds is None else seconds / self.floor

    @property
    def passed(self) -> bool:
        return self.ratio("camkit") <= TARGET_RATIO[self.method]


def measure(method: str, workload: Workload, repeats: int, warmup: int) -> Row:
    """Build the model, every contender on its own copy, and time them interleaved."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, workload.model)(weights=None).eval()
    x = torch.randn(workload.batch, 3, workload.size, workload.size)
    classes = [(97 * i + 1) % 1000 for i in range(workload.batch)]  # different classes
    if method == "guided":
        calls = {"floor": guided_floor(copy.deepcopy(model), x, classes)}
    else:
        calls = {"floor": cam_floor(copy.deepcopy(model), workload.layer, x, classes)}
    for library, make_call in CONTENDERS.items():
        call = make_call(method, copy.deepcopy(model), workload.layer, x, classes)
        if call is not None:
            calls[library] = call
    medians = time_interleaved(calls, repeats, warmup)
    return Row(method, workload.model, medians["floor"], {lib: medians.get(lib) for lib in LIBRARIES})


# ----------------------------------------------------------------------------- report

def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def core_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def format_cell(row: Row, library: str) -> str:
    seconds, ratio = row.libraries[library], row.ratio(library)
    return "n/a" if seconds is None else f"{seconds * 1e3:.0f} ms ({ratio:.2f}×)"


def format_report(rows: list[Row], repeats: int, warmup: int) -> str:
    header = (
        f"camkit speed, {datetime.date.today().isoformat()}: torch {torch.__version__}, {cpu_model()}, "
        f"{core_count()} cores, {torch.get_num_threads()} threads; median of {repeats} interleaved "
        f"calls after {warmup} warm-up. Targets: camkit ≤ {TARGET_RATIO['gradcam']:.2f}× the floor "
        f"(Grad-CAM, LayerCAM), ≤ {TARGET_RATIO['guided']:.2f}× (Guided Backprop)."
    )
    lines = [
        header,
        "",
        "| method | model | floor ms | camkit (× floor) | pytorch-grad-cam (× floor) | torchcam (× floor) "
        "| captum (× floor) | camkit target |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        cells = " | ".join(format_cell(row, library) for library in LIBRARIES)
        verdict = "PASS" if row.passed else "MISS"
        lines.append(
            f"| {METHOD_TITLES[row.method]} | {row.model} | {row.floor * 1e3:.0f} | {cells} "
            f"| {verdict} (≤ {TARGET_RATIO[row.method]:.2f}×) |"
        )
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per contender (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 timed calls and 1 warm-up, a rough look (overrides --repeats)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    repeats, warmup = (3, 1) if args.quick else (args.repeats, 2)
    torch.set_num_threads(core_count())
    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
    rows = []
    for workload in WORKLOADS:
        for method in METHODS:
            rows.append(measure(method, workload, repeats, warmup))
            print(f"measured {METHOD_TITLES[method]} on {workload.model}", flush=True)
    report = format_report(rows, repeats, warmup)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)


if __name__ == "__main__":
    main()
