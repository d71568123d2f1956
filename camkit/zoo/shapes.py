"""ShapeScenes: a synthetic data set whose ground truth says where the evidence is.

Each scene is one (or two) filled shapes of :data:`SHAPE_CLASSES` drawn over a random crop of a
real photograph or texture that ships with scikit-image (brick, grass, gravel, moon, the
astronaut, the rocket...).  Size, position, rotation and colour are random and independent of
the class, so a classifier must learn *shape*: colour and background carry no information.  The
background crop is Gaussian-blurred (random sigma): on sharp photo crops a network trained from
scratch on a CPU budget stays at chance, because every brick edge competes with the shape's
edges.

The background and shape settings were calibrated for the zoo's CPU budget on scenes without
distractors.  Test accuracy on 500 scenes, 6 classes, batch 32, Adam with warm-up and cosine
decay (calibration runs of the same training code on a GPU):

* diameter 0.25-0.4 of the side, blur sigma 1-2.5, contrast 80, noise 3: ResNet18 at 96 px
  25% after 300 steps, VGG16-BN-GAP at 96 px 19% after 100 steps (chance is 17%);
* diameter 0.3-0.45, contrast 120, no noise: ResNet18 74% after 450 steps (96 px), VGG16 87%
  after 300 steps (64 px);
* diameter 0.35-0.5, blur sigma 2-4, contrast 150, no noise: ResNet18 98-99% after 400 steps
  (112 px), VGG16 97-99% after 240 steps (64 px), two seeds each.

Smaller, sharper or fainter shapes leave the maps no more telling but cost several times the
training that a 2-core machine can give the zoo.  The defaults keep blur 2-4 and contrast 150
and add two distractors, which need the shapes a little smaller (diameter 0.3-0.45) to fit.

Because the mask and the box of every object are known, a class activation map can be scored:
did its maximum fall on the object (:func:`camkit.metrics.pointing_game`)?  Two-object scenes
(two different classes, disjoint) ask the sharper question: does the map for class A avoid
object B?

Distractors.  With one sharp object on a blurred background, every edge points at the object:
the argmax of the input's Sobel edge magnitude, no model and no class, wins the pointing game
on 100 % of the scenes, so a high rate there proves nothing about a map.  ``distractors=k``
adds k shapes of :data:`DISTRACTOR_SHAPES` that carry no class: drawn by the same code as the
class shapes (same size range and, on average, the same area; colours from the same contrast
rule; the same anti-aliased edges) and placed in one joint draw with the class objects, so
that position, size, colour and edge strength do not tell them apart; only the shape does.
``Scene.evidence`` marks the class objects' pixels, ``Scene.distractors`` the others.  Why
two: on 600 val scenes (112 px, diameter 0.3-0.45) the class-blind maps of
:mod:`camkit.evaluation.baselines` point at the evidence at these rates (95 % Wilson
intervals): one distractor, edges 53 % [49, 57], centre 29 %, uniform random 17 %; two
distractors, edges 35 % [32, 39], centre 18 % [15, 21], random 16 % [14, 20]; three, edges
29 %, at the price of smaller shapes.  Two is the fewest that keeps every class-blind map below
45 %; the same holds at 64 and 96 px.  No distractor is one of the six class shapes: it would
carry that class's evidence itself.  These are the defaults (``distractors=2``, diameter
0.3-0.45): the scenes the zoo trains on and is scored on.  ``distractors=0`` gives the earlier
single-shape scenes; docs/benchmark.md records the calibration of the zoo on the distractor scenes.

Everything is generated on the fly from a seed; nothing is downloaded or committed.  Sample ``i``
of a split draws from its own random generator seeded by ``(seed, split, objects, i)``, so a
scene does not depend on which other scenes were generated, or in which order, and the
train / val / test splits come from disjoint seed streams.

>>> data = ShapeScenes("train", size=96, length=10_000)
>>> x, label = data[0]            # (3, 96, 96) float tensor standardised with ImageNet's mean and std, int
>>> scene = data.scene(0)         # raw uint8 image, labels, masks, boxes, evidence mask
>>> fig = show_scenes(data, 16)   # labelled grid (matplotlib Figure)
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..image import pixels_to_tensor, standardize

SHAPE_CLASSES: list[str] = ["circle", "square", "triangle", "star", "cross", "ring"]
"""Class names, in label order."""

DISTRACTOR_SHAPES: list[str] = ["ellipse", "sector", "crescent", "corner", "bar"]
"""Shapes of the distractors: drawn like the class shapes (same sizes, colours and edges), unlike
any of them, and never a class.  Each is cut to cover about as much of its circumscribed circle
as the class shapes do on average (0.54-0.76 of it, mean 0.62; the classes 0.42-1.0, mean 0.64),
so that a distractor is as large on average as the evidence."""

DISTRACTOR = -1
"""The label of a distractor in :attr:`Scene.labels`."""

SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
"""Split name -> the integer mixed into every sample's seed (disjoint random streams)."""

BACKGROUNDS: tuple[str, ...] = (
    "astronaut", "brick", "camera", "grass", "gravel", "hubble_deep_field",
    "immunohistochemistry", "moon", "rocket", "stereo_motorcycle",
)
"""``skimage.data`` images cropped for backgrounds (shipped with scikit-image, no download).
Pictures full of round or square things (coins, coffee cup, chessboard) are left out."""

DEFAULT_LENGTH = {"train": 50_000, "val": 1_000, "test": 1_000}

_SUBPIXEL_BITS = 4  # cv2.fillPoly's ``shift``: vertices with 1/16 px precision
_CIRCLE_VERTICES = 72


@dataclass
class Scene:
    """One generated scene, in pixels of the ``size x size`` image.

    Attributes:
        image: RGB uint8 array (S, S, 3), before standardisation (for display).
        labels: int64 array (k,), class index of each object: the class-carrying objects first
            (1 or 2), then the distractors, labelled :data:`DISTRACTOR`.
        masks: bool array (k, S, S), the pixels each object covers (at least half covered,
            after anti-aliasing).
        boxes: int64 array (k, 4), ``(x0, y0, x1, y1)`` with exclusive ends: the tightest box
            with ``masks[j][y0:y1, x0:x1]`` holding every pixel of object ``j``.
        evidence: bool array (S, S), the pixels of the class-carrying objects: where a map
            that explains the class should point.
        names: the shape drawn for each object (a class name, or a distractor shape's).
    """

    image: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    evidence: np.ndarray
    names: list[str]

    @property
    def distractors(self) -> np.ndarray:
        """bool (S, S): the pixels of the distractors (no class evidence)."""
        return self.masks[self.labels == DISTRACTOR].any(axis=0)


# ----------------------------------------------------------------------------------- geometry
def _regular(vertices: int, phase: float = 0.0) -> np.ndarray:
    angles = phase + 2 * np.pi * np.arange(vertices) / vertices
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    outer = _regular(2 * points, -np.pi / 2)
    outer[1::2] *= inner
    return outer


def _cross(arm: float = 0.32) -> np.ndarray:
    a, b = arm, 1 / np.sqrt(1 + arm**2)  # the arm tips lie on the unit circle
    a *= b
    return np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b],
                     [-a, a], [-b, a], [-b, -a], [-a, -a]])


def _corner(thickness: float = 0.6) -> np.ndarray:
    a = 1 / np.sqrt(2)  # an L in the square of half-side a (circumradius 1)
    b = a - 2 * a * thickness
    return np.array([[-a, -a], [a, -a], [a, -b], [-b, -b], [-b, a], [-a, a]])


def _ellipse(aspect: float) -> np.ndarray:
    return _regular(_CIRCLE_VERTICES) * [1.0, aspect]


def _sector(missing: float = np.pi / 2) -> np.ndarray:
    angles = np.linspace(missing / 2, 2 * np.pi - missing / 2, _CIRCLE_VERTICES)
    return np.vstack([[0.0, 0.0], np.stack([np.cos(angles), np.sin(angles)], axis=1)])


def _bar(aspect: float = 0.55) -> np.ndarray:
    angle = np.arctan(aspect)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, s], [-c, s], [-c, -s], [c, -s]])


# Each shape: (filled outlines, holes), circumradius about 1, centred near the origin.
_OUTLINES: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
    "circle": ([_regular(_CIRCLE_VERTICES)], []),
    "square": ([_regular(4, np.pi / 4)], []),
    "triangle": ([_regular(3, -np.pi / 2)], []),
    "star": ([_star()], []),
    "cross": ([_cross()], []),
    "ring": ([_regular(_CIRCLE_VERTICES)], [0.55 * _regular(_CIRCLE_VERTICES)]),
    "ellipse": ([_ellipse(0.65)], []),
    "sector": ([_sector()], []),
    "crescent": ([_regular(_CIRCLE_VERTICES)], [0.7 * _regular(_CIRCLE_VERTICES) + [0.6, 0.0]]),
    "corner": ([_corner()], []),
    "bar": ([_bar()], []),
}


def _draw_alpha(name: str, size: int, center: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage (S, S) uint8 of one shape (255 = fully covered)."""
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    filled, holes = _OUTLINES[name]
    scale = 1 << _SUBPIXEL_BITS

    def to_pixels(outline: np.ndarray) -> np.ndarray:
        points = outline @ rotation.T * radius + center - 0.5  # pixel centres at +0.5
        return np.round(points * scale).astype(np.int32)

    alpha = np.zeros((size, size), np.uint8)
    cv2.fillPoly(alpha, [to_pixels(p) for p in filled], 255, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    if holes:
        cv2.fillPoly(alpha, [to_pixels(p) for p in holes], 0, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return alpha


def mask_box(mask: np.ndarray) -> np.ndarray:
    """Tightest ``(x0, y0, x1, y1)`` box (exclusive ends) around a non-empty bool mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.int64)


# -------------------------------------------------------------------------------- backgrounds
@functools.lru_cache(maxsize=4)
def _background_photos(shorter_side: int = 256) -> tuple[np.ndarray, ...]:
    """The background pictures as RGB uint8 arrays, loaded once per process.

    Each is shrunk (area interpolation) so that its shorter side is at most ``shorter_side``:
    crops are blurred anyway, and resizing small crops is what keeps generation fast.
    """
    import skimage.data

    photos = []
    for name in BACKGROUNDS:
        picture = getattr(skimage.data, name)()
        if isinstance(picture, tuple):  # stereo_motorcycle -> (left, right, disparity)
            picture = picture[0]
        if picture.ndim == 2:
            picture = np.repeat(picture[:, :, None], 3, axis=2)
        factor = shorter_side / min(picture.shape[:2])
        if factor < 1:
            picture = cv2.resize(picture, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        photos.append(np.ascontiguousarray(picture[:, :, :3]))
    return tuple(photos)


def _background(rng: np.random.Generator, size: int, crop: tuple[float, float], blur: tuple[float, float]) -> np.ndarray:
    """A random crop of a random photo, resized, flipped, tinted and blurred: float32 (S, S, 3)."""
    photos = _background_photos(max(256, 2 * size))
    photo = photos[rng.integers(len(photos))]
    height, width = photo.shape[:2]
    side = max(8, int(rng.uniform(*crop) * min(height, width)))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    patch = cv2.resize(photo[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    patch = patch[:, :, rng.permutation(3)].astype(np.float32)
    patch *= rng.uniform(0.6, 1.2, size=3).astype(np.float32)  # tint: grey photos get colours too
    sigma = rng.uniform(*blur) * size / 96
    if sigma > 0:
        patch = cv2.GaussianBlur(patch, (0, 0), sigma)
    return np.clip(patch, 0, 255)


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray, min_distance: float) -> np.ndarray:
    """A random RGB colour at least ``min_distance`` (0..441) from the mean colour ``under``."""
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - under) >= min_distance:
            return colour.astype(np.float32)
    return np.where(under > 127, 0.0, 255.0).astype(np.float32)  # the opposite corner of the cube


# ------------------------------------------------------------------------------------ dataset
class ShapeScenes(Dataset):
    """Shapes over blurred photo crops, generated on the fly (see the module docstring).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``: disjoint random streams.
        size: side of the square images in pixels.
        length: number of scenes (default 50 000 for train, 1 000 for val and test).
        objects: 1 (classification) or 2 (two different classes, not overlapping).
        distractors: shapes of :data:`DISTRACTOR_SHAPES` added to every scene (default 2, also
            in two-object scenes), drawn like the class shapes (same sizes, colours, edges) where
            the placement puts them, never overlapping: salient objects that carry no class
            evidence.  0 gives scenes whose only sharp things are the class objects.
        seed: base seed; the same (seed, split, objects, index) always gives the same scene.
        scale: range of every shape's circumscribed diameter, as a fraction of ``size``.
        blur: range of the background's Gaussian blur sigma, in pixels at 96 px (scaled with size).
        crop: range of the crop's side as a fraction of the photo's shorter side.
        contrast: minimal RGB distance (0..441) between the shape's colour and the mean
            background colour under it.
        noise: standard deviation of the Gaussian pixel noise added to the whole image (0..255).

    ``dataset[i]`` is ``(x, label)``: ``x`` the (3, S, S) float tensor standardised with the ImageNet
    mean and std (the preprocessing of torchvision's models), ``label`` an int for one object or
    an int64 tensor (objects,) for several.  :meth:`scene` gives the raw image, masks, boxes and
    the evidence mask.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 96,
        length: int | None = None,
        objects: int = 1,
        seed: int = 0,
        distractors: int = 2,
        scale: tuple[float, float] = (0.3, 0.45),
        blur: tuple[float, float] = (2.0, 4.0),
        crop: tuple[float, float] = (0.25, 0.9),
        contrast: float = 150.0,
        noise: float = 0.0,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}.")
        if objects not in (1, 2):
            raise ValueError(f"objects must be 1 or 2, got {objects!r}.")
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}.")
        if not isinstance(distractors, int) or distractors < 0:
            raise ValueError(f"distractors must be an int >= 0, got {distractors!r}.")
        shapes = objects + distractors
        largest = 1 / math.ceil(math.sqrt(shapes))  # that many shapes of this diameter fit on a grid
        if not 0 < scale[0] <= scale[1] <= largest:
            raise ValueError(f"scale must satisfy 0 < low <= high <= {largest:g} for {shapes} shape(s), got {scale}.")
        self.split, self.size, self.objects, self.seed = split, size, objects, seed
        self.distractors = distractors
        self.length = DEFAULT_LENGTH[split] if length is None else int(length)
        self.scale, self.blur, self.crop = tuple(scale), tuple(blur), tuple(crop)
        self.contrast, self.noise = float(contrast), float(noise)
        self.classes = list(SHAPE_CLASSES)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        extra = f", distractors={self.distractors}" if self.distractors else ""
        return (f"ShapeScenes(split={self.split!r}, size={self.size}, length={self.length}, "
                f"objects={self.objects}, seed={self.seed}{extra})")

    def rng(self, index: int) -> np.random.Generator:
        """The random generator of scene ``index`` (independent of every other scene)."""
        return np.random.default_rng([self.seed, SPLITS[self.split], self.objects, index])

    def scene(self, index: int) -> Scene:
        """Generate scene ``index``: raw image, labels, masks, boxes and evidence (see :class:`Scene`)."""
        if not -self.length <= index < self.length:
            raise IndexError(f"Scene {index} out of range for {self.length} scenes.")
        index %= self.length
        rng = self.rng(index)
        size = self.size
        image = _background(rng, size, self.crop, self.blur)
        labels = rng.choice(len(SHAPE_CLASSES), size=self.objects, replace=False)
        names = [SHAPE_CLASSES[label] for label in labels]
        if self.distractors:
            names += [DISTRACTOR_SHAPES[i] for i in rng.choice(len(DISTRACTOR_SHAPES), size=self.distractors)]
            labels = np.concatenate([labels, np.full(self.distractors, DISTRACTOR)])
        radii = rng.uniform(*self.scale, size=len(names)) * size / 2
        centres, radii = self._place(rng, radii)
        masks = []
        for name, radius, centre in zip(names, radii, centres):
            angle = rng.uniform(0, 2 * np.pi)
            alpha = _draw_alpha(name, size, centre, radius, angle)
            mask = alpha >= 128
            colour = _contrasting_colour(rng, image[mask].mean(axis=0), self.contrast)
            low = np.clip(np.floor(centre - radius) - 2, 0, size).astype(int)  # the shape's square, with
            high = np.clip(np.ceil(centre + radius) + 3, 0, size).astype(int)  # room for anti-aliasing
            window = (slice(low[1], high[1]), slice(low[0], high[0]))  # outside it, alpha is 0
            weight = (alpha[window].astype(np.float32) / 255)[:, :, None]
            image[window] = image[window] * (1 - weight) + colour * weight
            for earlier in masks:  # a pixel painted over belongs to the shape on top
                earlier &= ~mask
            masks.append(mask)
        if self.noise > 0:
            image += rng.standard_normal(image.shape, dtype=np.float32) * self.noise
        image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        masks_array = np.stack(masks)
        boxes = np.stack([mask_box(m) for m in masks_array])
        evidence = masks_array[: self.objects].any(axis=0)
        return Scene(image, labels.astype(np.int64), masks_array, boxes, evidence, names)

    def _place(self, rng: np.random.Generator, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centres keeping every shape inside the image and the shapes' circles disjoint, all drawn
        together (so no shape's position depends on its role); returns the centres and the radii."""
        size = self.size
        pairs = np.triu_indices(len(radii), 1)
        while True:
            low, high = radii[:, None], size - radii[:, None]
            sums = (radii[:, None] + radii[None])[pairs]
            for _ in range(100):
                centres = rng.uniform(low, high, size=(len(radii), 2))  # the draws of one uniform(r, size - r, 2) per shape
                offsets = centres[:, None] - centres[None]
                distances = np.sqrt((offsets**2).sum(axis=2))[pairs]
                if (distances - sums >= 1).all():
                    return centres, radii
            if len(radii) == 2:  # crowded: opposite corners (always fits, as scale <= 1/2)
                return np.array([[radii[0], radii[0]], [size - radii[1], size - radii[1]]]), radii
            radii = radii * 0.95  # three or more shapes: try a little smaller

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        scene = self.scene(index)
        x = to_input(scene.image)
        if self.objects == 1:
            return x, int(scene.labels[0])
        return x, torch.from_numpy(scene.labels[: self.objects])

    def bank(self) -> "SceneBank":
        """The process-wide in-memory bank of these scenes (single-object scenes only)."""
        return scene_bank(self)

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack scenes into ``(x (B, 3, S, S), labels (B,) or (B, objects))`` without a DataLoader."""
        scenes = [self.scene(i) for i in indices]
        x = torch.stack([to_input(s.image) for s in scenes])
        labels = torch.from_numpy(np.stack([s.labels for s in scenes]))
        return x, labels[:, 0] if self.objects == 1 else labels[:, : self.objects]


def to_input(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (S, S, 3) -> float tensor (3, S, S) standardised with ImageNet's mean and std."""
    return standardize(pixels_to_tensor(image))


def show_scenes(data: ShapeScenes, count: int = 16, start: int = 0, ncols: int | None = None,
                boxes: bool = True, size: float = 2.0):
    """A grid of scenes ``start .. start + count - 1`` titled with their classes (with their boxes:
    class objects green, distractors dashed grey); returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    count = max(1, min(count, len(data) - start))
    ncols = min(count, ncols or int(np.ceil(np.sqrt(count))))
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, range(start, start + count)):
        scene = data.scene(index)
        ax.imshow(scene.image)
        classes = [name for name, label in zip(scene.names, scene.labels) if label != DISTRACTOR]
        extra = f" (+{len(scene.names) - len(classes)} distractors)" if len(classes) < len(scene.names) else ""
        ax.set_title(f"{index}: " + " + ".join(classes) + extra, fontsize=9)
        if boxes:  # evidence in green, distractors in dashed grey
            for (x0, y0, x1, y1), label in zip(scene.boxes, scene.labels):
                style = {"color": "silver", "ls": "--"} if label == DISTRACTOR else {"color": "lime"}
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1, **style))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ in memory
class SceneBank:
    """Generated single-object scenes kept in memory (uint8 images, labels, evidence masks), so that
    several models train and are scored on the same pixels without generating them again."""

    def __init__(self, data: ShapeScenes) -> None:
        self.data = data
        self.images = np.empty((0, data.size, data.size, 3), np.uint8)
        self.labels = np.empty((0,), np.int64)
        self.masks = np.empty((0, data.size, data.size), bool)
        self.count = 0
        self.reserve(len(data))  # room for all of ``data`` at once: growing batch by batch would copy the bank every step

    def ensure(self, count: int) -> None:
        """Generate the scenes up to index ``count - 1`` that are not in memory yet."""
        self.reserve(count)
        for i in range(self.count, count):
            scene = self.data.scene(i)
            self.images[i], self.labels[i], self.masks[i] = scene.image, scene.labels[0], scene.evidence
        self.count = max(self.count, count)

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` scenes (copies what is there once; generates nothing).
        Asking for more than ``len(data)`` scene by scene copies the bank each time: reserve ahead."""
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
        """``(x, labels, masks)`` of scenes ``start .. stop - 1`` (standardised float input)."""
        self.ensure(stop)
        return standardize(pixels_to_tensor(self.images[start:stop])), torch.from_numpy(self.labels[start:stop]), torch.from_numpy(self.masks[start:stop])

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
