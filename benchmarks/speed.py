"""How close camkit comes to the cost floor, next to pytorch-grad-cam, torchcam and captum (CPU).

For methods of camkit's registry (by default Grad-CAM, LayerCAM and Guided Backprop, the ones all
peers have; ``--methods`` names others, ``--methods all`` every registered one) on resnet50
(batch 8) and vgg16 (batch 4) at 224 x 224 with random weights in eval mode, each contender's
median time per call is divided by the floor, built from the registry's description of the method:

* a method that takes a layer: the forward pass with a hook that keeps the target layer's output,
  then (when it needs gradients) ``torch.autograd.grad(score.sum(), kept_output)``.  The layers
  (resnet50 ``layer4``, vgg16 ``features.29``) are followed by no in-place op, so the floor needs
  no clone;
* an input-gradient method: the forward pass and ``torch.autograd.grad(score.sum(), x)``, the
  plain input gradient, once per forward pass of the registry entry (Guided Grad-CAM, which takes
  a layer too, pays one of each; Integrated Gradients n = steps);
* a per-channel method (Ablation-CAM, Score-CAM), on its own workloads (resnet18 ``layer4`` and
  vgg16 ``features.29``, batch 1 and 8): the first forward pass, then the B x K forward passes of
  single images it needs (K = the layer's channels), run without gradients in chunks of the best
  batch size (the fastest per image of 8, 16, 32, 64 and 128, chosen before timing).  The inputs are
  made before the clock starts: the floor is the passes alone, no masks, no hooks.

Contenders run as their libraries are meant to be used, each on its own deep copy of the model
(pytorch-grad-cam and torchcam keep hooks on it between calls; pytorch-grad-cam's
GuidedBackpropReLUModel swaps its ReLU modules): pytorch-grad-cam GradCAM / LayerCAM (maps as
numpy at the input size; ``loss.backward`` also computes every parameter's gradient) and
GuidedBackpropReLUModel (explains sample 0 only, returns HWC numpy); torchcam GradCAM / LayerCAM
(low-resolution maps); captum LayerGradCam (raw low-resolution maps) and GuidedBackprop.
Grad-CAM++ (pytorch-grad-cam, torchcam's GradCAMpp), XGrad-CAM (both), HiResCAM and Eigen-CAM
(pytorch-grad-cam) are timed where the peers have them, and so are SmoothGrad and Integrated
Gradients (captum's NoiseTunnel over Saliency and IntegratedGradients, with camkit's defaults), Ablation-CAM (pytorch-grad-cam,
default batch size 32) and Score-CAM (pytorch-grad-cam, 16; torchcam, 32); camkit runs with its
defaults too (16).  A library without a method: "n/a".  ``--models`` and ``--batches`` keep only the
workloads named (a per-channel call on vgg16 at batch 8 takes minutes on two cores); ``--workload``
replaces them with others, e.g. ``--methods smoothgrad --workload resnet18:layer4:4``.

Calls are interleaved (one call of each contender per round, the order rotated every round)
after a warm-up, so that drift from other load on the machine hits every contender alike.

    python benchmarks/speed.py [--methods NAME ...] [--models NAME ...] [--batches N ...] [--repeats N] [--quick]
                               [--warmup N] [--out results/benchmark.md]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from tqdm import tqdm

import camkit
from camkit.core.registry import INPUT_GRADIENT

LIBRARIES = ["camkit", "pytorch-grad-cam", "torchcam", "captum"]
DEFAULT_METHODS = ["gradcam", "layercam", "guided"]
TARGET_RATIO = {"layer map": 1.10, "input gradient": 1.15, "per channel": 1.15}
"""camkit's target, by the registry's kind of method (per-channel methods apart)."""
FLOOR_BATCH_SIZES = (8, 16, 32, 64, 128)


@dataclass(frozen=True)
class Workload:
    """One model, its target layer and its batch."""

    model: str
    layer: str
    batch: int
    size: int = 224


WORKLOADS = [Workload("resnet50", "layer4", 8), Workload("vgg16", "features.29", 4)]
PER_CHANNEL_WORKLOADS = [Workload(model, layer, batch) for model, layer in (("resnet18", "layer4"), ("vgg16", "features.29"))
                         for batch in (1, 8)]

Call = Callable[[], object]

NOTES = [
    "Floors: forward + gradient to the target layer only (layer maps; forward only for CAM); forward + "
    "plain input gradient (input gradients; Guided Grad-CAM pays both).",
    "pytorch-grad-cam's GradCAM / LayerCAM call loss.backward, which also computes every parameter's "
    "gradient; its GuidedBackpropReLUModel explains sample 0 of the batch only.",
    "Per-channel methods: the floor is the first forward pass and the B x K single-image forward passes "
    "(K channels) at the fastest batch size, without gradients, masks or hooks.",
]


# ----------------------------------------------------------------------------- the floors

def layer_floor(model: nn.Module, layer: str, x: torch.Tensor, classes: list[int], gradient: bool) -> Call:
    """Forward, then (with ``gradient``) the gradient of the class scores with respect to the layer's output only."""
    module = model.get_submodule(layer)

    def run() -> torch.Tensor:
        kept: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, output: kept.append(output))
        try:
            with torch.set_grad_enabled(gradient):
                logits = model(x)
        finally:
            handle.remove()
        if not gradient:
            return kept[0]
        score = logits[torch.arange(len(classes)), classes].sum()
        return torch.autograd.grad(score, kept[0])[0]

    return run


def input_floor(model: nn.Module, x: torch.Tensor, classes: list[int]) -> Call:
    """Forward, then the plain gradient of the class scores with respect to the input."""

    def run() -> torch.Tensor:
        inputs = x.detach().requires_grad_(True)
        logits = model(inputs)
        score = logits[torch.arange(len(classes)), classes].sum()
        return torch.autograd.grad(score, inputs)[0]

    return run


def per_channel_floor(model: nn.Module, layer: str, x: torch.Tensor, passes_per_channel: int) -> Call:
    """The first forward pass, then B x K forward passes of single images at the fastest batch size."""
    with torch.no_grad():
        kept: list[torch.Tensor] = []
        handle = model.get_submodule(layer).register_forward_hook(lambda _m, _i, output: kept.append(output))
        model(x[:1])
        handle.remove()
        copies = x.repeat_interleave(kept[0].shape[1] * passes_per_channel, dim=0)
        per_image = {}  # seconds per image at each batch size, the faster of two passes
        for size in FLOOR_BATCH_SIZES:
            seconds = []
            for _ in range(2):
                start = time.perf_counter()
                model(copies[:size])
                seconds.append(time.perf_counter() - start)
            per_image[size] = min(seconds) / len(copies[:size])
    best = min(per_image, key=per_image.get)

    def run() -> None:
        with torch.no_grad():
            model(x)
            for start in range(0, len(copies), best):
                model(copies[start : start + best])

    return run


def floor_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call:
    """The floor of a registered method: the passes its registry entry says it needs, nothing else."""
    info = camkit.method_info(method)
    if info.per_channel:
        return per_channel_floor(model, layer, x, info.forward_passes)
    parts = []
    if info.takes_layer:
        parts.append(layer_floor(model, layer, x, classes, gradient=info.needs_gradient))
    if info.kind == INPUT_GRADIENT:  # n passes for a method that integrates (Integrated Gradients: n steps)
        passes = info.forward_passes - len(parts)
        parts.extend([input_floor(model, x, classes)] * passes)
    return parts[0] if len(parts) == 1 else lambda: [part() for part in parts]


# ----------------------------------------------------------------------------- the contenders

def camkit_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call:
    info = camkit.method_info(method)
    explainer = info.create(model, layer if info.takes_layer else None)
    return lambda: explainer(x, classes)


def pytorch_grad_cam_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call | None:
    import pytorch_grad_cam as peer
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if method == "guided":
        explainer = peer.GuidedBackpropReLUModel(model)
        # It calls requires_grad_ on the tensor it gets and reads .grad: give it a fresh one.
        return lambda: explainer(x.clone(), classes[0])
    cams = {"gradcam": peer.GradCAM, "layercam": peer.LayerCAM, "gradcampp": peer.GradCAMPlusPlus,
            "xgradcam": peer.XGradCAM, "hirescam": peer.HiResCAM, "eigencam": peer.EigenCAM,
            "ablationcam": peer.AblationCAM, "scorecam": peer.ScoreCAM}
    if method not in cams:
        return None
    cam = cams[method](model, [model.get_submodule(layer)])
    targets = [ClassifierOutputTarget(c) for c in classes]
    return lambda: cam(x, targets)


def torchcam_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call | None:
    from torchcam.methods import GradCAM, GradCAMpp, LayerCAM, ScoreCAM, XGradCAM

    extractors = {"gradcam": GradCAM, "layercam": LayerCAM, "gradcampp": GradCAMpp, "xgradcam": XGradCAM,
                  "scorecam": ScoreCAM}
    if method not in extractors:
        return None
    extractor = extractors[method](model, layer, input_shape=tuple(x.shape[1:]))

    def run() -> list[torch.Tensor]:
        return extractor(classes, model(x))

    return run


def captum_call(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> Call | None:
    from captum.attr import GuidedBackprop, IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency

    if method == "integrated-gradients":  # camkit's defaults: 50 steps, right Riemann sum, 32 images a pass
        integrated = IntegratedGradients(model)
        return lambda: integrated.attribute(x, target=classes, n_steps=50, method="riemann_right", internal_batch_size=32)
    if method == "smoothgrad":  # camkit's defaults: 25 samples, sigma = 0.15 x the input's range
        tunnel, sigma = NoiseTunnel(Saliency(model)), 0.15 * (x.max() - x.min()).item()
        return lambda: tunnel.attribute(x, nt_type="smoothgrad", nt_samples=25, nt_samples_batch_size=1, stdevs=sigma,
                                        target=classes, abs=False)
    if method not in ("gradcam", "guided"):
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
    batch: int
    floor: float
    libraries: dict[str, float | None]

    def ratio(self, library: str) -> float | None:
        seconds = self.libraries[library]
        return None if seconds is None else seconds / self.floor

    @property
    def target(self) -> float:
        info = camkit.method_info(self.method)
        return TARGET_RATIO["per channel" if info.per_channel else info.kind]

    @property
    def passed(self) -> bool:
        return self.ratio("camkit") <= self.target


def measure(method: str, workload: Workload, repeats: int, warmup: int) -> Row:
    """Build the model, every contender on its own copy, and time them interleaved."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(workload.model, weights=None).eval()
    x = torch.randn(workload.batch, 3, workload.size, workload.size)
    classes = [(97 * i + 1) % 1000 for i in range(workload.batch)]  # different classes
    calls = {"floor": floor_call(method, copy.deepcopy(model), workload.layer, x, classes)}
    for library, make_call in CONTENDERS.items():
        call = make_call(method, copy.deepcopy(model), workload.layer, x, classes)
        if call is not None:
            calls[library] = call
    medians = time_interleaved(calls, repeats, warmup)
    return Row(method, workload.model, workload.batch, medians["floor"], {lib: medians.get(lib) for lib in LIBRARIES})


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
        f"calls after {warmup} warm-up. Targets: camkit ≤ {TARGET_RATIO['layer map']:.2f}× the floor "
        f"(layer maps), ≤ {TARGET_RATIO['input gradient']:.2f}× (input gradients and per-channel methods)."
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
            f"| {camkit.method_info(row.method).title} | {row.model} ({row.batch}) | {row.floor * 1e3:.0f} | {cells} "
            f"| {verdict} (≤ {row.target:.2f}×) |"
        )
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, metavar="NAME",
                        help=f"registered methods to time, or 'all' (default: {' '.join(DEFAULT_METHODS)}; "
                        f"registered: {' '.join(camkit.available_methods())})")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only the workloads of these models")
    parser.add_argument("--batches", nargs="+", type=int, metavar="N", help="only the workloads of these batch sizes")
    parser.add_argument("--workload", type=parse_workload, nargs="+", metavar="MODEL:LAYER:BATCH",
                        help="time on these workloads instead of the standard ones (e.g. resnet18:layer4:4)")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per contender (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 timed calls and 1 warm-up, a rough look (overrides --repeats)")
    parser.add_argument("--warmup", type=int, metavar="N",
                        help="untimed calls per contender before timing (default 2, 1 with --quick; 0 suits calls of minutes)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    return parser.parse_args()


def parse_workload(text: str) -> Workload:
    """``MODEL:LAYER:BATCH`` (a torchvision model name, a layer of it, a batch size)."""
    try:
        model, layer, batch = text.split(":")
        return Workload(model, layer, int(batch))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL:LAYER:BATCH such as resnet18:layer4:4, got {text!r}") from None


def selected(workload: Workload, args: argparse.Namespace) -> bool:
    """Whether ``--models`` and ``--batches`` keep the workload."""
    return (args.models is None or workload.model in args.models) and (args.batches is None or workload.batch in args.batches)


def main() -> None:
    args = parse_args()
    repeats, warmup = (3, 1) if args.quick else (args.repeats, 2)
    if args.warmup is not None:
        warmup = args.warmup
    torch.set_num_threads(core_count())
    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
    methods = camkit.available_methods() if args.methods == ["all"] else args.methods
    try:
        per_channel = [m for m in methods if camkit.method_info(m).per_channel]
    except ValueError as error:  # an unknown name, before any timing
        raise SystemExit(f"speed.py: {error}") from None
    if args.workload:
        plan = [(method, workload) for workload in args.workload for method in methods]
    else:
        plan = [(method, workload) for group, workloads in ((False, WORKLOADS), (True, PER_CHANNEL_WORKLOADS))
                for workload in workloads if selected(workload, args)
                for method in methods if (method in per_channel) == group]
    rows = []
    for method, workload in tqdm(plan, desc="speed", unit="row", file=sys.stderr):
        rows.append(measure(method, workload, repeats, warmup))
    report = format_report(rows, repeats, warmup)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)


if __name__ == "__main__":
    main()
