"""A call leaves the model exactly as it found it, and says what it did at the caller's line.

* :func:`explaining` wraps every camkit call on a model: one call per model at a time (a second
  thread gets a clear error instead of mixing its hooks into the first one's pass), eval mode
  for the call (a train-mode model is explained as it predicts, with a warning), and on exit,
  also after an error, every train/eval flag, ``requires_grad``, ReLU ``inplace`` flag and
  buffer put back as it was.
* :func:`warn_at_caller` points a warning at the first line outside camkit, so that Python's
  warning names the user's own line, not camkit's internals.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torchvision.ops import StochasticDepth

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_TRANSPARENT = (_PACKAGE_DIR, os.path.dirname(contextlib.__file__) + os.sep + "contextlib.py")


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside camkit (and contextlib)."""
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_TRANSPARENT):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


_MODE_DEPENDENT = (
    nn.modules.dropout._DropoutNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    StochasticDepth,
)
"""Modules that compute something else in train mode than in eval mode."""

_owners_lock = threading.Lock()
_owners: dict[int, tuple[int, int]] = {}  # id(model) -> (thread that is explaining it, nesting depth)


@contextlib.contextmanager
def exclusive(model: nn.Module) -> Iterator[None]:
    """Refuse a camkit call on ``model`` while another thread is in one (nesting in one thread is fine).

    A call adds hooks to the model and may change ReLU ``inplace`` flags for its duration; two
    threads doing that on one model would each see the other's hooks.
    """
    me = threading.get_ident()
    key = id(model)
    with _owners_lock:
        owner = _owners.get(key)
        if owner is not None and owner[0] != me:
            raise RuntimeError(
                f"Another thread is explaining this {type(model).__name__} right now. A camkit call hooks "
                "the model for its duration, so two calls at once would corrupt each other's results. "
                "Explain from one thread at a time, or give each thread its own copy (copy.deepcopy(model))."
            )
        _owners[key] = (me, owner[1] + 1 if owner else 1)
    try:
        yield
    finally:
        with _owners_lock:
            thread, depth = _owners[key]
            if depth == 1:
                del _owners[key]
            else:
                _owners[key] = (thread, depth - 1)


@contextlib.contextmanager
def preserved_model_state(model: nn.Module) -> Iterator[None]:
    """Put back train/eval flags, ``requires_grad``, ``inplace`` flags and buffers on exit, even on error.

    Buffers are copied only when some module is in train mode, the one case in which a forward
    pass changes them (an eval-mode model's BatchNorm reads its running statistics, never writes).
    """
    training = {m: m.training for m in model.modules()}
    requires_grad = {p: p.requires_grad for p in model.parameters()}
    inplace = {m: m.inplace for m in model.modules() if hasattr(m, "inplace")}
    # Buffers change in a forward pass only in train mode (BatchNorm's running statistics): copied then.
    buffers = [(b, b._version, b.detach().clone()) for b in model.buffers()] if any(training.values()) else []
    try:
        yield
    finally:
        for module, flag in training.items():
            module.training = flag
        for param, flag in requires_grad.items():
            param.requires_grad_(flag)
        for module, flag in inplace.items():
            module.inplace = flag
        with torch.no_grad():
            for buffer, version, saved in buffers:
                if buffer._version != version:
                    buffer.copy_(saved)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode during the block; its modes (and flags) given back afterwards."""
    with preserved_model_state(model):
        model.eval()
        yield


@contextlib.contextmanager
def explaining(model: nn.Module, what: str) -> Iterator[None]:
    """One camkit call on ``model``: exclusive, in eval mode, the model's state given back on exit.

    A warning (naming ``what``) says so when eval mode changes the result: dropout, batch or
    instance norm, or stochastic depth in train mode.
    """
    with exclusive(model), preserved_model_state(model):
        if any(m.training and isinstance(m, _MODE_DEPENDENT) for m in model.modules()):
            warn_at_caller(
                f"{what}: the model is in train mode; camkit explains it in eval mode for this call (dropout "
                "off, BatchNorm's running statistics) and gives the mode back afterwards. Call model.eval() "
                "first to silence this."
            )
        model.eval()
        yield
