"""Reading a layer's output as a feature map (B, C, h, w): transformer tokens and channels-last tensors.

A vision transformer's block returns tokens (B, N, C): first a few tokens that stand for no place
in the image (the class token; DeiT's distillation token; register tokens), then one token per
patch of an h x w grid, row by row.  Swin's stages, and the inside of a ConvNeXt block, return
(B, h, w, C).  A class activation map needs A as (B, C, h, w), so ``reshape`` turns the layer's
output into that before any method sees it:

* :func:`tokens` drops the leading tokens and lays the rest on the grid;
* :func:`channels_last` moves the channels to dimension 1;
* any callable ``tensor -> (B, C, h, w)``, as pytorch-grad-cam's ``reshape_transform``.

Each is a selection and permutation of the layer's numbers, so dy/dA is reshaped the same way:
the gradient of the score with respect to the reshaped A is the reshaped gradient.

Without ``reshape`` camkit reads a (B, N, C) output as tokens when exactly one count of leading
tokens (0 to :data:`MAX_LEADING`) leaves a grid with the input's aspect ratio, and a 4-D output as
channels-last when an ``nn.Linear`` or a last-dimension ``nn.LayerNorm`` made it or reads it next;
the choice is announced with a warning, like an auto-picked layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

MAX_LEADING = 8
"""The most leading tokens camkit tries when it infers a token grid (1 class + 4 registers = 5)."""


class Reshape:
    """Turns a layer's output into (B, C, h, w); ``channel_dim`` says where the channels are in the
    layer's own output (Ablation-CAM zeroes them there), or None when unknown."""

    channel_dim: int | None = None

    def __call__(self, output: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError

    def describe(self, output: torch.Tensor, input_size: tuple[int, int]) -> str:
        """How ``output`` is read, for the announcement."""
        raise NotImplementedError


def _grid_for(count: int, input_size: tuple[int, int]) -> tuple[int, int] | None:
    """(h, w) with h * w = count and h / w = H / W exactly, or None."""
    height, width = input_size
    h = round(math.sqrt(count * height / width))
    if h < 1 or count % h:
        return None
    w = count // h
    return (h, w) if h * width == w * height else None


@dataclass(frozen=True)
class Tokens(Reshape):
    """(B, N, C) -> (B, C, h, w): drop ``leading`` tokens, lay the other h * w tokens on the grid row by row."""

    grid: tuple[int, int] | None = None
    leading: int | None = None
    channel_dim = -1

    def layout(self, output: torch.Tensor, input_size: tuple[int, int]) -> tuple[int, tuple[int, int]]:
        """(leading tokens, (h, w)) for ``output``; a clear error where they cannot be found."""
        if output.dim() != 3:
            raise ValueError(f"camkit.tokens reads a (B, N, C) output; got shape {tuple(output.shape)}.")
        count = output.shape[1]
        if self.grid is not None:
            h, w = self.grid
            if self.leading is None and h * w > count:
                raise ValueError(f"A {h} x {w} grid needs {h * w} tokens; the output has {count}. Check grid=.")
            if self.leading is not None and self.leading + h * w != count:
                raise ValueError(
                    f"cls_tokens={self.leading} and a {h} x {w} grid make {self.leading + h * w} tokens; the output "
                    f"has {count}. Check grid= and cls_tokens=."
                )
            return count - h * w, (h, w)
        tried = range(MAX_LEADING + 1) if self.leading is None else [self.leading]
        fits = [(leading, grid) for leading in tried if leading < count and (grid := _grid_for(count - leading, input_size))]
        if len(fits) != 1:
            found = "several ways" if fits else "no way"
            raise ValueError(
                f"Cannot lay the output's {count} tokens on a grid: there is {found} to leave an h x w grid "
                f"with the input's aspect ratio {input_size[0]} x {input_size[1]} after "
                f"{'0 to ' + str(MAX_LEADING) if self.leading is None else self.leading} leading token(s). "
                "Pass reshape=camkit.tokens(grid=(h, w), cls_tokens=n)."
            )
        return fits[0]

    def __call__(self, output: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
        leading, (h, w) = self.layout(output, input_size)
        return output[:, leading:].transpose(1, 2).reshape(len(output), output.shape[2], h, w)

    def describe(self, output: torch.Tensor, input_size: tuple[int, int]) -> str:
        leading, (h, w) = self.layout(output, input_size)
        if leading == 0:
            return f"as tokens: no leading token, a {h} x {w} grid"
        return f"as tokens: {leading} leading token(s) left out (a class token, registers), then a {h} x {w} grid"


@dataclass(frozen=True)
class ChannelsLast(Reshape):
    """(B, h, w, C) -> (B, C, h, w)."""

    channel_dim = -1

    def __call__(self, output: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
        if output.dim() != 4:
            raise ValueError(f"camkit.channels_last reads a (B, h, w, C) output; got shape {tuple(output.shape)}.")
        return output.permute(0, 3, 1, 2)

    def describe(self, output: torch.Tensor, input_size: tuple[int, int]) -> str:
        return "as channels-last (B, h, w, C)"


@dataclass(frozen=True)
class FunctionReshape(Reshape):
    """A user's callable ``tensor -> (B, C, h, w)`` (pytorch-grad-cam's ``reshape_transform``)."""

    function: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, output: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
        return self.function(output)

    def describe(self, output: torch.Tensor, input_size: tuple[int, int]) -> str:
        return f"through {getattr(self.function, '__name__', 'the reshape function')}"


def tokens(grid: tuple[int, int] | None = None, cls_tokens: int | None = None) -> Tokens:
    """Read a (B, N, C) token output as (B, C, h, w): ``cls_tokens`` leading tokens (class,
    distillation, register tokens) are left out, the rest fill an h x w ``grid`` row by row.

    Either may be left out: the grid from N - cls_tokens and the input's aspect ratio, the leading
    count as N - h * w; with neither, the one count of 0 to :data:`MAX_LEADING` that leaves such a grid.
    """
    if grid is not None and (len(grid) != 2 or not all(isinstance(n, int) and n > 0 for n in grid)):
        raise ValueError(f"grid must be (h, w), two positive ints; got {grid!r}.")
    if cls_tokens is not None and (not isinstance(cls_tokens, int) or isinstance(cls_tokens, bool) or cls_tokens < 0):
        raise ValueError(f"cls_tokens must be an int >= 0 (the tokens before the grid); got {cls_tokens!r}.")
    return Tokens(None if grid is None else tuple(grid), cls_tokens)


def channels_last() -> ChannelsLast:
    """Read a (B, h, w, C) output (Swin, the inside of a ConvNeXt block) as (B, C, h, w)."""
    return ChannelsLast()


def as_reshape(reshape: object) -> Reshape | None:
    """The :class:`Reshape` for what a user passed as ``reshape=``: None, camkit's or a callable."""
    if reshape is None or isinstance(reshape, Reshape):
        return reshape
    if callable(reshape):
        return FunctionReshape(reshape)
    raise TypeError(
        f"reshape must be camkit.tokens(...), camkit.channels_last(), a callable tensor -> (B, C, h, w) or None; "
        f"got {type(reshape).__name__}."
    )
