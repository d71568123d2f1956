"""SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", ICML 2017 workshop):
the mean of a method's map over noisy copies of the input,

    M_hat(x) = (1/n) sum_{i=1..n} M(x + e_i),      e_i ~ N(0, sigma^2),   sigma = noise * (max x - min x)

with sigma a fraction of each sample's range (the paper finds 10-20 % best for gradients).  Any
camkit method can be M: an input gradient (the paper's case), Integrated Gradients, or a layer map,
whose raw maps are averaged and then normalised and upsampled once.  The class explained is the
one of the clean input (top-1 by default), the same for every copy.  The noise comes from a
generator seeded with ``seed`` on each call: the same call gives the same map.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .base import ActivationMap, check_input, check_positive_int, normalize_maps, resize_maps
from .guard import explaining
from .progress import progress_bar
from .targets import Target, target_scores


class SmoothGrad:
    """The mean of ``method`` over ``samples`` noisy copies of the input.

    Args:
        method: a camkit method (e.g. ``camkit.GuidedBackprop(model)``, ``camkit.GradCAM(model, "layer4")``).
        samples: n, the noisy copies (one call of ``method`` each).
        noise: sigma as a fraction of each sample's value range (max - min).
        seed: seeds the noise of every call.
    """

    def __init__(self, method: Callable, samples: int = 25, noise: float = 0.15, seed: int = 0) -> None:
        if not callable(method) or not hasattr(method, "model"):
            raise TypeError(f"method must be a camkit method such as camkit.InputGradient(model), not {type(method).__name__}.")
        check_positive_int("samples", samples, "noisy copies, one call of the method each")
        if not isinstance(noise, (int, float)) or noise < 0:
            raise ValueError(f"noise must be a fraction of the input's range >= 0 (0.1 - 0.2 is typical), got {noise!r}.")
        self.method, self.samples, self.noise, self.seed = method, samples, float(noise), seed
        self.model = method.model

    def __repr__(self) -> str:
        return f"SmoothGrad({self.method!r}, samples={self.samples}, noise={self.noise})"

    def __call__(
        self, x: torch.Tensor, target: Target = None, upsample: bool | None = None, normalize: bool | None = None
    ) -> torch.Tensor:
        """The averaged map: (B, H, W) for a layer map (``upsample`` and ``normalize`` as in
        :class:`ActivationMap`, default True, applied after averaging), else the method's shape,
        e.g. (B, C, H, W), which has nothing to upsample or normalise."""
        check_input(x)
        layer_map = isinstance(self.method, ActivationMap)
        if not layer_map and (upsample is not None or normalize is not None):
            raise ValueError(
                f"upsample and normalize apply to layer maps; {self.method!r} returns input-shaped attributions "
                "already at the input's size. Leave both out (scale the result yourself if you need it)."
            )
        with explaining(self.model, "SmoothGrad"):
            if target is None:
                with torch.no_grad():
                    _, target = target_scores(None, self.model(x))
            sigma = self.noise * (x.flatten(1).amax(dim=1) - x.flatten(1).amin(dim=1))
            generator = torch.Generator(device=x.device).manual_seed(self.seed)
            total = None
            for _ in progress_bar(range(self.samples), "SmoothGrad", delay=2):
                noisy = x + sigma.view(-1, *[1] * (x.dim() - 1)) * torch.randn(
                    x.shape, generator=generator, device=x.device, dtype=x.dtype)
                if layer_map:
                    result = self.method(noisy, target, upsample=False, normalize=False)
                else:
                    result = self.method(noisy, target)
                total = result if total is None else total + result
        mean = total / self.samples
        if layer_map:
            if normalize is not False:
                mean = normalize_maps(mean)
            if upsample is not False:
                mean = resize_maps(mean, tuple(x.shape[-2:]))
        return mean


def smoothed(factory: Callable[..., Callable], **defaults: object) -> Callable[..., SmoothGrad]:
    """A registry factory: ``smoothed(InputGradient)(model)`` is ``SmoothGrad(InputGradient(model))``.

    ``defaults`` are SmoothGrad's own options (samples, noise, seed); other keywords go to the method.
    """

    def create(model, *layer, **options) -> SmoothGrad:
        own = {key: options.pop(key) for key in ("samples", "noise", "seed") if key in options}
        return SmoothGrad(factory(model, *layer, **options), **{**defaults, **own})

    create.__name__ = f"smoothed_{getattr(factory, '__name__', 'method')}"
    return create
