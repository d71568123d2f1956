"""Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
Networks", CVPR workshops 2020): each channel, upsampled to the input and min-max scaled, masks
the input; the channel's weight is how confident the model is in the class on the masked input,

    H^k = s(Up(A^k)),      w_k^c = C(A^k) = f^c(X * H^k) - f^c(X_b),      M^c = ReLU(sum_k w_k^c A^k)

with Up bilinear (align_corners=False), s min-max scaling to [0, 1], and f^c the probability of
class c (a softmax over the classes).  The authors' code (github.com/haofanwang/Score-CAM,
cam/scorecam.py) leaves out the baseline term f^c(X_b) and gives a channel whose upsampled map is
constant weight 0; that is the default here.  ``baseline=0.0`` puts the term back with an all-zero
X_b (the mean image, for a standardised input): the increase of confidence the paper defines.

``weights="channel-softmax"`` is the convention torchcam documents and pytorch-grad-cam shares:
w_k^c = softmax_k(y^c(X * H^k) - y^c(X_b)) over the channels, from logits y^c; a baseline then
changes nothing (a softmax ignores a shift), and every channel, a constant one too, takes part.

No gradient; one forward pass per channel that is not constant, ``batch_size`` masked copies of one sample at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ActivationMap, CallContext, baseline_input, channel_batches, check_positive_int, normalize_maps, resize_maps
from .layers import LayerSpec
from .progress import progress_bar

WEIGHTINGS = ("probability", "channel-softmax")


class ScoreCAM(ActivationMap):
    """Score-CAM: each channel weighted by the class score of the input it masks.

    Args:
        model: the network.
        layer: the target layer(s); None picks the last spatial layer (with a warning).
        batch_size: masked inputs per forward pass (the maps do not depend on it).
        weights: ``"probability"`` (the paper's f^c, default) or ``"channel-softmax"`` (torchcam's
            and pytorch-grad-cam's softmax over channels of logits).
        baseline: X_b, a float (an input filled with it) or a tensor of x's shape; None leaves the
            term out, as the authors' code does.
    """

    needs_gradient = False

    def __init__(
        self,
        model: nn.Module,
        layer: LayerSpec | None = None,
        batch_size: int = 16,
        weights: str = "probability",
        baseline: float | torch.Tensor | None = None,
        reshape: object = None,
    ) -> None:
        super().__init__(model, layer, reshape)
        check_positive_int("batch_size", batch_size, "masked inputs per forward pass")
        if weights not in WEIGHTINGS:
            raise ValueError(f"weights must be one of {WEIGHTINGS}, got {weights!r}.")
        if baseline is not None and not isinstance(baseline, (float, int, torch.Tensor)):
            raise TypeError(f"baseline must be None, a number or a tensor shaped like x, not {type(baseline).__name__}.")
        self.batch_size = batch_size
        self.weights = weights
        self.baseline = baseline

    def class_scores(self, context: CallContext, output: object, rows: torch.Tensor | None = None) -> torch.Tensor:
        """f^c of another output: the class probability, or the score (logit) for channel-softmax."""
        if self.weights == "channel-softmax":
            return context.score(output, rows)
        return context.score(torch.softmax(output.float(), dim=1), rows)

    def check_target(self, context: CallContext) -> None:
        """Probability weights need class logits: say so before any masked forward pass."""
        output = context.output
        if self.weights == "probability" and (
            context.classes is None or not isinstance(output, torch.Tensor) or output.dim() != 2
        ):
            raise ValueError(
                "Score-CAM's probability weights need a model returning logits (B, classes) and a class target; "
                "for another output or a callable target use ScoreCAM(..., weights='channel-softmax')."
            )

    def masked_scores(self, context: CallContext) -> tuple[torch.Tensor, torch.Tensor]:
        """f^c(X * H^k) for every sample and channel (B, K), and which channels are constant (B, K).

        A constant channel masks the whole input to zero: it costs no forward pass of its own (its
        weight is 0, or for channel-softmax the score of the all-zero input, run once).
        """
        activation, x = context.activation, context.x
        flat = activation.flatten(2)
        constant = flat.amax(dim=2) == flat.amin(dim=2)
        scores = torch.zeros(constant.shape, device=x.device)
        for b, channels in progress_bar(channel_batches(~constant, self.batch_size), f"Score-CAM {context.layer}", delay=2):
            masks = normalize_maps(resize_maps(activation[b, channels].float(), tuple(x.shape[-2:])))
            output = self.model(x[b : b + 1] * masks[:, None].to(x.dtype))
            rows = torch.full((len(channels),), b, device=x.device)
            scores[b, channels] = self.class_scores(context, output, rows).float()
        if self.weights == "channel-softmax" and constant.any():
            blank = self.class_scores(context, self.model(torch.zeros_like(x))).float()
            scores = torch.where(constant, blank[:, None], scores)
        return scores, constant

    def baseline_scores(self, context: CallContext) -> torch.Tensor:
        """f^c(X_b) per sample (B,), zeros when there is no baseline."""
        if self.baseline is None:
            return torch.zeros(len(context.x), device=context.x.device)
        return self.class_scores(context, self.model(baseline_input(self.baseline, context.x))).float()

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k w_k A^k) with w_k from the masked forward passes."""
        self.check_target(context)
        baseline = self.baseline_scores(context)
        scores, constant = self.masked_scores(context)
        increase = scores - baseline[:, None]
        if self.weights == "channel-softmax":
            weights = torch.softmax(increase, dim=1)
        else:
            weights = increase.masked_fill(constant, 0)
        return F.relu(torch.einsum("bk,bkhw->bhw", weights.to(context.activation.dtype), context.activation))
