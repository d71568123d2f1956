"""Images in and pictures out: the only place where camkit touches numpy.

* :func:`load_image` reads a path, a PIL image or an array as RGB uint8 (H, W, 3).
* :func:`pixels_to_tensor` turns uint8 pixels into a float tensor in [0, 1] (the one place that
  does); :func:`to_tensor` also resizes and standardises with ImageNet's mean and std
  (:func:`standardize`, undone by :func:`unstandardize`).  In camkit "normalize" means only the
  min-max scaling of maps to [0, 1] (:func:`camkit.normalize_maps`).
* :func:`overlay` blends a map over an image with an OpenCV colormap.  OpenCV returns BGR; the
  result is converted to RGB here, otherwise "red = important" reads as "blue = important".
* :func:`deprocess` makes a guided gradient visible: zero mean, std 0.1, +0.5, clip to [0, 1].
* :func:`show_maps` draws a row or grid of images with titles (matplotlib); :func:`outline`
  draws a ground-truth mask's contour on panels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    import PIL.Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ImageLike = Union[str, os.PathLike, np.ndarray, "PIL.Image.Image"]


def load_image(source: ImageLike) -> np.ndarray:
    """Return the image as an RGB uint8 array (H, W, 3) from a path, a PIL image or an array.

    Gray images are repeated to three channels and an alpha channel is dropped; float arrays are
    taken to be in [0, 1].
    """
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise FileNotFoundError(f"No image file at {os.fspath(source)!r}.")
        bgr = cv2.imread(os.fspath(source), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"Cannot read {os.fspath(source)!r} as an image (not a format OpenCV knows, or a damaged file).")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if hasattr(source, "convert") and hasattr(source, "size"):
        return np.asarray(source.convert("RGB"), dtype=np.uint8).copy()
    if isinstance(source, np.ndarray):
        array = source
        if array.dtype != np.uint8:
            if not np.issubdtype(array.dtype, np.floating):
                raise TypeError(f"Image arrays must be uint8 or float in [0, 1], got {array.dtype}.")
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(f"Image arrays must be (H, W), (H, W, 3) or (H, W, 4), got {array.shape}.")
        return np.ascontiguousarray(array[:, :, :3])
    raise TypeError(f"Cannot load an image from {type(source).__name__}; pass a path, a PIL image or an array.")


def to_tensor(
    image: ImageLike, size: int | tuple[int, int] | None = None,
    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """RGB image -> standardised float tensor (3, H, W), optionally resized (bilinear) to ``size``."""
    tensor = pixels_to_tensor(load_image(image))
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        tensor = F.interpolate(tensor[None], size=hw, mode="bilinear", align_corners=False, antialias=True)[0]
    return standardize(tensor, mean, std)


def pixels_to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """RGB uint8 pixels (H, W, 3) or (B, H, W, 3) -> float tensor (3, H, W) or (B, 3, H, W) in [0, 1]."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (3, 4) or pixels.shape[-1] != 3:
        raise ValueError(f"Expected RGB uint8 pixels (H, W, 3) or (B, H, W, 3), got {pixels.dtype} {pixels.shape}.")
    pixels = np.ascontiguousarray(pixels) if pixels.flags.writeable else pixels.copy()
    return torch.from_numpy(pixels).movedim(-1, -3).float().div_(255)


def _channel_stats(x: torch.Tensor, values: Sequence[float]) -> torch.Tensor:
    shape = (-1, 1, 1) if x.dim() == 3 else (1, -1, 1, 1)
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(shape)


def standardize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """(x - mean) / std per channel, for (3, H, W) or (B, 3, H, W) tensors in [0, 1]."""
    return (x - _channel_stats(x, mean)) / _channel_stats(x, std)


def unstandardize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Undo :func:`standardize`: x * std + mean, clipped to [0, 1]."""
    return (x * _channel_stats(x, std) + _channel_stats(x, mean)).clamp(0, 1)


def to_image(x: torch.Tensor) -> np.ndarray:
    """A (3, H, W) tensor in [0, 1] -> RGB uint8 array (H, W, 3) for display or saving."""
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"Expected one image (3, H, W), got shape {tuple(x.shape)}.")
    array = x.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def _colormap_code(name: str) -> int:
    code = getattr(cv2, f"COLORMAP_{name.upper()}", None)
    if code is None:
        known = sorted(n[9:].lower() for n in dir(cv2) if n.startswith("COLORMAP_"))
        raise ValueError(f"Unknown colormap {name!r}; OpenCV has: {', '.join(known)}.")
    return code


def heatmap(cam_map: torch.Tensor | np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A map with values in [0, 1], (h, w) -> RGB uint8 heatmap (OpenCV's BGR turned to RGB)."""
    values = cam_map.detach().float().cpu().numpy() if isinstance(cam_map, torch.Tensor) else np.asarray(cam_map, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"A map must be 2-D (h, w); got shape {values.shape}. Index one sample of the batch.")
    levels = np.uint8(np.clip(values, 0, 1) * 255 + 0.5)
    return cv2.cvtColor(cv2.applyColorMap(levels, _colormap_code(colormap)), cv2.COLOR_BGR2RGB)


def overlay(image: ImageLike | torch.Tensor, cam_map: torch.Tensor | np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """Blend a map over an image: (1 - alpha) * image + alpha * heatmap, RGB uint8 (H, W, 3).

    ``image`` is anything :func:`load_image` takes, or a (3, H, W) tensor in [0, 1]; the map
    (values in [0, 1]) is resized bilinearly to the image's size.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}.")
    rgb = to_image(image) if isinstance(image, torch.Tensor) else load_image(image)
    heat = heatmap(cam_map, colormap)
    if heat.shape[:2] != rgb.shape[:2]:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    blended = (1 - alpha) * rgb.astype(np.float32) + alpha * heat.astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def deprocess(guided: torch.Tensor) -> torch.Tensor:
    """Make an input gradient visible: per image zero mean, std 0.1, plus 0.5, clipped to [0, 1].

    Works on (C, H, W) or (B, C, H, W); returns the same shape.
    """
    batch = guided if guided.dim() == 4 else guided[None]
    flat = batch.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1, 1)
    std = flat.std(dim=1).view(-1, 1, 1, 1)
    shown = ((batch - mean) / (std + 1e-5) * 0.1 + 0.5).clamp(0, 1)
    return shown if guided.dim() == 4 else shown[0]


def show_maps(images: Sequence[np.ndarray | torch.Tensor], titles: Sequence[str] | None = None, ncols: int | None = None, size: float = 3.0):
    """Show pictures (RGB arrays, (3, H, W) tensors in [0, 1] or 2-D maps) in a grid; returns the Figure.

    Each panel is ``size`` inches wide, with the first picture's aspect ratio.
    """
    import matplotlib.pyplot as plt

    count = len(images)
    ncols = min(count, ncols or count)
    nrows = -(-count // ncols)
    first = images[0]
    height, width = (first.shape[-2:] if isinstance(first, torch.Tensor) else first.shape[:2])
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * height / width + 0.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, picture) in enumerate(zip(axes.flat, images)):
        if isinstance(picture, torch.Tensor):
            picture = to_image(picture) if picture.dim() == 3 else picture.detach().float().cpu().numpy()
        ax.imshow(picture, cmap="jet" if picture.ndim == 2 else None, vmin=0, vmax=1 if picture.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    fig.tight_layout()
    return fig


def outline(axes, mask: torch.Tensor | np.ndarray | None, color: str = "white", linewidth: float = 1.2, linestyle: str = "solid") -> None:
    """Draw the contour of a mask ((H, W), bool or 0/1) on one matplotlib Axes or on each of several.

    The contour is the mask's 0.5 level, so it runs between the pixels inside and outside.  A mask
    of ``None`` (a photo without ground truth) draws nothing.
    """
    if mask is None:
        return
    values = mask.detach().float().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"Expected one mask (H, W), got shape {values.shape}; draw a batch's masks one panel at a time.")
    panels = [axes] if hasattr(axes, "contour") else list(np.ravel(axes))
    for ax in panels:
        ax.contour(values, levels=[0.5], colors=color, linewidths=linewidth, linestyles=linestyle)
