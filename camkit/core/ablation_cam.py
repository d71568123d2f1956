"""Ablation-CAM (Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional
Network via Gradient-free Localization", WACV 2020): how much the class score drops when one
channel of the layer is switched off,

    w_k^c = (y^c - y^c_k) / y^c,        M^c = ReLU(sum_k w_k^c A^k)

where y^c_k is the score with channel k of the layer's output set to zero.  No gradient; one
forward pass per channel, run ``batch_size`` channels at a time.  Zeroing a channel changes nothing
before the layer, so a batch runs the network up to the layer on the one sample and widens it there
to one row per ablated channel (the hook returns ``batch_size`` rows): only the rest of the network
runs per channel.  Where the rest of the network cannot take the wider batch (it concatenates the
layer's output with an earlier tensor, or reshapes with the input's batch size), each batch runs on
copies of the sample instead; the scores are the same.  A score of exactly zero gives weights 0
(the ratio is undefined).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .base import ActivationMap, CallContext, channel_batches, check_positive_int
from .layers import LayerSpec
from .progress import progress_bar


@contextlib.contextmanager
def channels_zeroed(module: nn.Module, channels: torch.Tensor, channel_dim: int = 1) -> Iterator[None]:
    """During the block, row i of ``module``'s output has channel ``channels[i]`` (along
    ``channel_dim``: -1 for tokens and channels-last outputs) set to zero; an output of one row is
    first repeated to one row per channel."""

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        ablated = output.expand(len(channels), *output.shape[1:]).clone()
        ablated.movedim(channel_dim, 1)[torch.arange(len(channels), device=output.device), channels] = 0
        return ablated

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def channel_dimension(context: CallContext) -> int:
    """Where the channels are in the layer's own output: 1, or where its reshape says."""
    if context.reshape is None:
        return 1
    if context.reshape.channel_dim is None:
        raise ValueError(
            f"Ablation-CAM zeroes channels in layer {context.layer!r}'s own output and cannot tell where a reshape "
            "function put them; pass reshape=camkit.tokens(...) or camkit.channels_last() instead."
        )
    return context.reshape.channel_dim


class AblationCAM(ActivationMap):
    """Ablation-CAM: each channel weighted by the relative drop of the score when it is zeroed.

    ``batch_size`` channels are ablated per forward pass (the maps do not depend on it); a call
    runs B * K / batch_size forward passes, with a progress bar when it takes more than 2 s.
    """

    needs_gradient = False

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, batch_size: int = 16, reshape: object = None) -> None:
        super().__init__(model, layer, reshape)
        check_positive_int("batch_size", batch_size, "channels ablated per forward pass")
        self.batch_size = batch_size

    def ablated_scores(self, context: CallContext) -> torch.Tensor:
        """y^c_k for every sample and channel, (B, K)."""
        module = self.model.get_submodule(context.layer)
        channel_dim = channel_dimension(context)
        every_channel = torch.ones(context.activation.shape[:2], dtype=torch.bool, device=context.x.device)
        scores = torch.empty(every_channel.shape, dtype=context.scores.dtype, device=context.scores.device)
        widen_at_layer = True  # until the rest of the network refuses the wider batch
        chunks = channel_batches(every_channel, self.batch_size)
        for b, ablated in progress_bar(chunks, f"Ablation-CAM {context.layer}", delay=2):
            rows = torch.full((len(ablated),), b, device=context.x.device)
            sample = context.x[b : b + 1]
            chunk_scores = None
            if widen_at_layer:
                chunk_scores = self.widened_scores(context, module, sample, ablated, rows, channel_dim)
                widen_at_layer = chunk_scores is not None
            if chunk_scores is None:
                with channels_zeroed(module, ablated, channel_dim):
                    output = self.model(sample.expand(len(ablated), *sample.shape[1:]))
                chunk_scores = context.score(output, rows)
            scores[b, ablated] = chunk_scores
        return scores

    def widened_scores(self, context: CallContext, module: nn.Module, sample: torch.Tensor, ablated: torch.Tensor,
                       rows: torch.Tensor, channel_dim: int) -> torch.Tensor | None:
        """The scores of one sample run to the layer once and widened there, or None where the
        rest of the network does not take a batch wider than its input."""
        try:
            with channels_zeroed(module, ablated, channel_dim):
                scores = context.score(self.model(sample), rows)
        except (RuntimeError, ValueError, IndexError):
            return None
        return scores if scores.shape == rows.shape else None

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k w_k A^k), w_k = (y - y_k) / y."""
        score = context.scores[:, None]
        drop = score - self.ablated_scores(context)
        weights = torch.where(score != 0, drop / torch.where(score != 0, score, 1), 0)
        return F.relu(torch.einsum("bk,bkhw->bhw", weights.to(context.activation.dtype), context.activation))
