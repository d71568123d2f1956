"""Training and scoring the ShapeScenes models of :mod:`camkit.zoo`, deterministically, on a CPU.

``python data_scripts/train_zoo.py`` is a thin command line around :func:`train_and_save`;
:func:`camkit.zoo.load` calls it too when weights are missing.  Each run writes
``<name>.pt`` (the state dict) and ``<name>.json`` (test accuracy, pointing-game hit rate,
seconds, steps, hyperparameters, versions) into :func:`camkit.zoo.shapes_weights_path`'s folder.

Determinism: fixed seeds for the initialisation and the data (every scene has its own seed),
a fixed thread count (``torch.set_num_threads``) and ``torch.use_deterministic_algorithms``.
The same torch build on the same kind of CPU gives the same weights.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .image import normalize
from .metrics import pointing_game, pointing_tolerance
from .shapes import ShapeScenes


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (recorded in the metrics JSON)."""

    steps: int = 800
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" | "adamw" | "sgd"
    weight_decay: float = 0.0
    warmup: float = 0.05  # fraction of the steps with a linear warm-up, then cosine decay to 0
    seed: int = 0
    size: int = 96
    test_scenes: int = 500
    threads: int = 2
    batchnorm: bool = False  # train VGG/AlexNet with BatchNorm, folded into the convolutions after
    data: dict = field(default_factory=dict)  # extra ShapeScenes arguments (scale, blur, ...)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def default_config(name: str) -> TrainConfig:
    """The recipe of each zoo model (Adam, linear warm-up then cosine decay, batch 32, 96 px).

    Calibration so far (2-core CPU shared with other jobs, so seconds are inflated 2-5x):
    ResNet18 with lr 1e-3 over 500 steps stays near chance for ~300 steps (16 000 samples
    seen: 36% on 200 validation scenes at step 500, the learning rate already annealed), so it
    gets 1000 steps.  Plain VGG16-GAP (no BatchNorm, lr 1e-4) was at chance after 50 steps;
    VGG16 and AlexNet are therefore trained with BatchNorm folded into the convolutions
    afterwards.  The step counts of vgg16, alexnet and shufflenet are estimates not yet
    validated against the 95% / 90% targets: read the JSON written next to the weights.
    """
    from .zoo import SHAPES_INPUT_SIZE

    recipes = {
        "resnet18": TrainConfig(steps=1000, lr=1e-3),
        "vgg16": TrainConfig(steps=300, lr=1e-3, batchnorm=True),
        "alexnet": TrainConfig(steps=1000, lr=1e-3, batchnorm=True),
        "shufflenet_v2_x1_0": TrainConfig(steps=1000, lr=2e-3),
    }
    return recipes[name].replace(size=SHAPES_INPUT_SIZE)


# ------------------------------------------------------------------------------------- data
class SceneBank:
    """Generated single-object scenes kept in memory (uint8), so that several models train and
    are scored on the same pixels without generating them again."""

    def __init__(self, data: ShapeScenes) -> None:
        self.data = data
        self.images = np.empty((0, data.size, data.size, 3), np.uint8)
        self.labels = np.empty((0,), np.int64)
        self.masks = np.empty((0, data.size, data.size), bool)
        self.count = 0

    def ensure(self, count: int) -> None:
        """Generate the scenes up to index ``count - 1`` that are not in memory yet."""
        self.reserve(count)
        for i in range(self.count, count):
            scene = self.data.scene(i)
            self.images[i], self.labels[i], self.masks[i] = scene.image, scene.labels[0], scene.masks[0]
        self.count = max(self.count, count)

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` scenes (copies what is there once; generates nothing)."""
        if capacity <= len(self.labels):
            return
        self.data.length = max(self.data.length, capacity)
        kept = slice(0, self.count)
        images = np.empty((capacity, *self.images.shape[1:]), np.uint8)
        labels = np.empty(capacity, np.int64)
        masks = np.empty((capacity, *self.masks.shape[1:]), bool)
        images[kept], labels[kept], masks[kept] = self.images[kept], self.labels[kept], self.masks[kept]
        self.images, self.labels, self.masks = images, labels, masks

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, labels, masks)`` of scenes ``start .. stop - 1`` (normalised float input)."""
        self.ensure(stop)
        images = torch.from_numpy(self.images[start:stop]).permute(0, 3, 1, 2).float().div_(255)
        return normalize(images), torch.from_numpy(self.labels[start:stop]), torch.from_numpy(self.masks[start:stop])

    def __len__(self) -> int:
        return len(self.labels)


_banks: dict[str, SceneBank] = {}


def scene_bank(data: ShapeScenes) -> SceneBank:
    """The process-wide bank of the scenes of ``data`` (shared by data sets that differ only in
    length); it holds ``len(data)`` scenes of memory up front."""
    settings = {k: v for k, v in vars(data).items() if k != "length"}
    key = repr(sorted(settings.items()))
    if key not in _banks:
        _banks[key] = SceneBank(copy.copy(data))
    bank = _banks[key]
    bank.reserve(len(data))
    return bank


def _datasets(config: TrainConfig) -> tuple[ShapeScenes, ShapeScenes]:
    train = ShapeScenes("train", size=config.size, length=config.steps * config.batch_size, seed=config.seed, **config.data)
    test = ShapeScenes("test", size=config.size, length=config.test_scenes, seed=config.seed, **config.data)
    return train, test


# ------------------------------------------------------------------------------- evaluation
def evaluate(model: nn.Module, layer: str, data: ShapeScenes | SceneBank, count: int | None = None,
             batch_size: int = 50) -> dict[str, float]:
    """Accuracy and pointing-game hit rate of Grad-CAM at ``layer`` on single-object scenes.

    The map explains the true class; a hit is an argmax within :func:`pointing_tolerance` of
    the object's mask.  Returns ``{"accuracy", "pointing", "scenes"}``.
    """
    from .methods import GradCAM

    bank = data if isinstance(data, SceneBank) else scene_bank(data)
    count = len(data) if count is None else count
    model.eval()
    cam = GradCAM(model, layer=layer)
    correct = hits = 0
    for start in range(0, count, batch_size):
        x, labels, masks = bank.batch(start, min(count, start + batch_size))
        result = cam.compute(x, target=labels.tolist())
        correct += int((result.logits.argmax(dim=1) == labels).sum())
        hits += int(pointing_game(result.maps, masks, pointing_tolerance(x.shape[-1])).sum())
    return {"accuracy": correct / count, "pointing": hits / count, "scenes": count}


# --------------------------------------------------------------------------------- training
def _learning_rate(config: TrainConfig, step: int) -> float:
    warm = max(1, int(config.warmup * config.steps))
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, config.steps - warm)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    raise ValueError(f"Unknown optimizer {config.optimizer!r}: use 'adam', 'adamw' or 'sgd'.")


def train(name: str, config: TrainConfig | None = None, progress: bool = True,
          eval_every: int = 0) -> tuple[nn.Module, dict]:
    """Train the ShapeScenes model ``name`` from scratch; returns ``(model in eval mode, metrics)``.

    ``eval_every`` > 0 also scores the model on 200 validation scenes every that many steps
    (recorded under ``"curve"``; for calibration).
    """
    from .zoo import ARCHITECTURES, fold_batchnorm, shapes_architecture

    def deployable() -> nn.Module:  # the network that is saved and explained
        return fold_batchnorm(model.eval(), shapes_architecture(name)).eval() if config.batchnorm else model

    config = config or default_config(name)
    wall_began, cpu_began = time.perf_counter(), time.process_time()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(config.seed)
    model = shapes_architecture(name, batchnorm=config.batchnorm)
    layer = ARCHITECTURES[name].layer
    train_data, test_data = _datasets(config)
    bank = scene_bank(train_data)
    val_bank = scene_bank(ShapeScenes("val", size=config.size, length=200, seed=config.seed, **config.data))
    optimizer = _optimizer(config, model)
    curve = []
    seconds = 0.0
    bar = tqdm(range(config.steps), desc=f"{name}", file=sys.stderr, disable=not progress, mininterval=2)
    for step in bar:
        start = step * config.batch_size
        x, labels, _ = bank.batch(start, start + config.batch_size)  # generation is not timed
        began = time.perf_counter()
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        loss = F.cross_entropy(model(x), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds += time.perf_counter() - began
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if eval_every and (step + 1) % eval_every == 0:
            scores = evaluate(deployable(), layer, val_bank)
            curve.append({"step": step + 1, "seconds": round(seconds, 1), "loss": round(loss.item(), 4), **scores})
            bar.write(f"{name} step {step + 1}: {scores} ({seconds:.0f} s)", file=sys.stderr)
    model = deployable()
    began = time.perf_counter()
    scores = evaluate(model, layer, test_data)
    metrics = {
        "name": name,
        "test_accuracy": scores["accuracy"],
        "pointing_game": scores["pointing"],
        "test_scenes": scores["scenes"],
        "pointing_layer": layer,
        "pointing_tolerance_px": pointing_tolerance(config.size),
        "train_seconds": round(seconds, 1),
        "eval_seconds": round(time.perf_counter() - began, 1),
        "wall_seconds": round(time.perf_counter() - wall_began, 1),
        "cpu_seconds": round(time.process_time() - cpu_began, 1),  # all threads; robust to a busy machine
        "steps": config.steps,
        "samples": config.steps * config.batch_size,
        "config": dataclasses.asdict(config),
        "torch": torch.__version__,
        "torchvision": __import__("torchvision").__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    if curve:
        metrics["curve"] = curve
    return model.eval(), metrics


def train_and_save(name: str, config: TrainConfig | None = None, progress: bool = True) -> dict:
    """Train ``name`` and write its weights and metrics into camkit's cache; returns the metrics."""
    from .zoo import SHAPES_VERSION, shapes_weights_path

    model, metrics = train(name, config, progress=progress)
    metrics["shapes_version"] = SHAPES_VERSION
    path: Path = shapes_weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".pt.partial")
    torch.save(model.state_dict(), partial)
    partial.replace(path)  # atomic: a crash never leaves a half-written weights file
    path.with_suffix(".json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"camkit: {name}: test accuracy {metrics['test_accuracy']:.1%}, pointing game "
          f"{metrics['pointing_game']:.1%}, {metrics['train_seconds']:.0f} s -> {path}", file=sys.stderr)
    return metrics
