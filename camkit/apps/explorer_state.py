"""The explorer without widgets: its choices, its caches and every computation it shows.

>>> state = ExplorerState(model="resnet18", image="coffee")
>>> state.method = "layercam"                     # a name of camkit.available_methods()
>>> picture = state.render(state.explain())      # RGB uint8 (H, W, 3): the map over the image

:class:`camkit.apps.explorer.Explorer` is a thin ipywidgets view of one.  Everything computed is
cached: a model once per (model, weights), never trained (:func:`load_zoo_model`), with one
forward pass listing its layers (:func:`spatial_layers`); one forward pass per (model, image) for
the class probabilities; one explanation per (model, image, layer, method, class); opacity and
colormap only redraw.  The methods are the registry's when the state is made; one that cannot
work for a choice gives camkit's message (a ``str``) instead of an :class:`Explanation`.
"""

from __future__ import annotations

import html
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from .. import zoo
from ..core.layers import is_spatial_map, module_names, module_outputs
from ..core.reshape import Tokens
from ..core.registry import LAYER_MAP, MethodInfo, available_methods, method_info
from ..image import ImageLike, deprocess, load_image, overlay, to_image
from ..zoo import samples
from ..zoo.shapes import ShapeScenes

PROBLEMS = (ValueError, TypeError, RuntimeError, OSError, KeyError)
"""Errors that mean "this choice cannot work": the explorer shows their message."""

_SCENE_SIZE = 96


class LRUCache:
    """At most ``size`` values, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], object]) -> object:
        """The value cached under ``key``, made (and cached) on a miss; errors are not cached."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value."""
        self._items.clear()


@dataclass(frozen=True)
class Explanation:
    """One method's answer: a map in [0, 1] (h, w) to overlay, or an RGB picture (H, W, 3), and
    what the method announced while making it (how it read a transformer's tokens)."""

    cam_map: np.ndarray | None = None
    picture: np.ndarray | None = None
    note: str = ""


@dataclass(frozen=True)
class ModelView:
    """An image as one model sees it: its input, the picture of that input, the class probabilities."""

    x: torch.Tensor
    picture: np.ndarray
    probabilities: torch.Tensor


def spatial_layers(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Name -> (K, h, w) of every module that returns a spatial map (:func:`~camkit.core.layers.is_spatial_map`)
    or tokens that read as one (:func:`map_shape`) in one no-grad ``model(x)``, in execution order; a
    module run twice per pass (torchvision's ResNet blocks share one ReLU) is left out, as camkit
    refuses it as ambiguous."""
    outputs: dict[nn.Module, list[object]] = {}
    for module, output in module_outputs(model, x):
        outputs.setdefault(module, []).append(output)
    names = module_names(model)
    shapes = {names[module]: map_shape(results[0], tuple(x.shape[-2:])) for module, results in outputs.items() if len(results) == 1}
    return {name: shape for name, shape in shapes.items() if shape is not None}


def map_shape(output: object, input_size: tuple[int, int]) -> tuple[int, ...] | None:
    """(K, h, w) of a spatial map, or of (B, N, C) tokens whose grid camkit infers (a vision
    transformer's, with its class token); None for anything else."""
    if is_spatial_map(output):
        return tuple(output.shape[1:])
    if not (isinstance(output, torch.Tensor) and output.dim() == 3):
        return None
    try:
        _, (height, width) = Tokens().layout(output, input_size)
    except ValueError:
        return None
    return (output.shape[2], height, width) if height * width > 1 else None


def load_zoo_model(name: str, weights: str = "auto") -> zoo.ZooModel:
    """:func:`camkit.zoo.load`, but never training: missing ShapeScenes weights raise a ValueError.

    The weights ``auto`` picks are shown by the explorer, so the zoo's announcement is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        choice = zoo.resolve_weights(name, weights)
    if choice == "shapes" and zoo.ARCHITECTURES[name].shapes and not zoo.shapes_weights_path(name).exists():
        raise ValueError(f"The ShapeScenes weights of {name!r} are not trained yet; `make zoo` builds them. "
                         "The explorer does not train models itself.")
    return zoo.load(name, choice)


def model_view(zoo_model: zoo.ZooModel, image: np.ndarray) -> ModelView:
    """Preprocess ``image`` for ``zoo_model``, picture the result and run the model once."""
    x = zoo_model.preprocess(image)[None]
    with torch.no_grad():
        probabilities = zoo_model.model(x).softmax(dim=1)[0]
    return ModelView(x, zoo_model.picture(x[0]), probabilities)


def run_method(info: MethodInfo, model: nn.Module, layer: str | None, x: torch.Tensor, index: int) -> Explanation:
    """Explain class ``index`` of ``x`` (1, 3, H, W) with a registered method (``layer`` None if it takes none)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = info.create(model, layer)(x, index)[0]
    note = " ".join(str(w.message) for w in caught)
    if info.kind == LAYER_MAP:
        return Explanation(cam_map=result.detach().cpu().numpy(), note=note)
    return Explanation(picture=to_image(deprocess(result)), note=note)


def png(picture: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("OpenCV could not encode the picture as PNG.")
    return encoded.tobytes()


def image_sources(scenes: int) -> dict[str, Callable[[], np.ndarray]]:
    """Label -> loader of every image offered: the bundled photos, then ShapeScenes test scenes."""
    sources: dict[str, Callable[[], np.ndarray]] = {name: (lambda name=name: samples.load(name)) for name in samples.names()}
    for objects in (1, 2):
        data = ShapeScenes("test", size=_SCENE_SIZE, length=scenes, objects=objects)
        for index in range(scenes if objects == 1 else max(1, scenes // 3)):
            scene = data.scene(index)
            sources[f"scene {objects}-{index}: {' + '.join(scene.names)}"] = lambda image=scene.image: image
    return sources


class ExplorerState:
    """What the explorer shows, what it computed, and the computations.

    The choices are attributes: ``model``, ``image`` (a label of :attr:`images`), ``weights``,
    ``layer``, ``method`` (a registered name), ``class_index``, ``opacity``, ``colormap`` and
    ``compare`` (every method at once).  A layer belongs to the model it was chosen for, a class to
    the (model, image): for a new one :meth:`prepare` (run by the menus and :meth:`explain`) picks
    the default layer and the top class.  The arguments are :class:`~camkit.apps.explorer.Explorer`'s,
    and ``loader``: ``(model name, weights) -> ZooModel`` (tests pass a tiny model).
    """

    def __init__(self, model: str = "efficientnet_lite0", image: str = "chelsea", weights: str = "auto", scenes: int = 6,
                 loader: Callable[[str, str], zoo.ZooModel] = load_zoo_model) -> None:
        self.model, self.image, self.weights, self.loader = model, image, weights, loader
        self.images = image_sources(scenes)
        self.methods: dict[str, MethodInfo] = {name: method_info(name) for name in available_methods()}
        self.method = "gradcam" if "gradcam" in self.methods else next(iter(self.methods))
        self.opacity, self.colormap, self.compare = 0.5, "jet", False
        self._layer: str | None = None  # chosen for the (model, weights) in _layer_for
        self._class_index: int | None = None  # chosen for the (model, weights, image) in _class_for
        self._layer_for: tuple[str, str] | None = None
        self._class_for: tuple[str, str, str] | None = None
        self._models = LRUCache(3)
        self._layers = LRUCache(8)
        self._views = LRUCache(32)
        self._maps = LRUCache(256)

    def __repr__(self) -> str:
        return f"ExplorerState(model={self.model!r}, image={self.image!r}, method={self.method!r})"

    @property
    def layer(self) -> str | None:
        """The target layer (a name of :meth:`layers`) of the methods that take one."""
        return self._layer

    @layer.setter
    def layer(self, name: str | None) -> None:
        self._layer, self._layer_for = name, (self.model, self.weights)

    @property
    def class_index(self) -> int | None:
        """The class explained (an output index of the model)."""
        return self._class_index

    @class_index.setter
    def class_index(self, index: int | None) -> None:
        self._class_index, self._class_for = index, (self.model, self.weights, self.image)

    def prepare(self) -> None:
        """Load the model and image; a new model gets its default layer (or None), a new (model, image) its top class."""
        zoo_model, view = self.zoo_model, self.view()
        if self._layer_for != (self.model, self.weights):
            layers = self.layers()
            self.layer = zoo_model.layer if zoo_model.layer in layers else next(iter(layers), None)
        if self._class_for != (self.model, self.weights, self.image):
            self.class_index = int(view.probabilities.argmax())

    def add_image(self, label: str, image: ImageLike) -> None:
        """Offer ``image`` (anything :func:`camkit.image.load_image` reads) as ``label`` and choose it."""
        array = load_image(image)
        if label in self.images:  # its old pictures and maps are cached under the label
            self._views.clear()
            self._maps.clear()
        self.images[label] = lambda: array
        self.image = label

    def method_menu(self) -> list[tuple[str, str]]:
        """(title, name) of every method, in the registry's order."""
        return [(info.title, name) for name, info in self.methods.items()]

    def layer_menu(self) -> list[tuple[str, str]]:
        """("name  (K×h×w)", name) of every layer of the model with a spatial output."""
        self.prepare()
        return [(f"{name}  ({'×'.join(map(str, shape))})", name) for name, shape in self.layers().items()]

    def class_menu(self) -> list[tuple[str, int]]:
        """("class (probability)", index) of the top-5 classes, and of the chosen class when it is not among them."""
        self.prepare()
        probabilities = self.view().probabilities
        indices = probabilities.topk(min(5, len(probabilities))).indices.tolist()
        if self.class_index not in indices:
            indices.append(self.class_index)
        categories = self.zoo_model.categories
        return [(f"{categories[index]} ({float(probabilities[index]):.1%})", index) for index in indices]

    def search_labels(self) -> tuple[str, ...]:
        """"class (index)" of every class of the model, in output order."""
        return tuple(f"{name} ({index})" for index, name in enumerate(self.zoo_model.categories))

    def weights_note(self) -> str:
        """HTML: the weights loaded, the number of classes and the input size."""
        zoo_model = self.zoo_model
        return f"weights: <b>{zoo_model.weights}</b> · {len(zoo_model.categories)} classes · input {zoo_model.input_size} px"

    @property
    def zoo_model(self) -> zoo.ZooModel:
        """The model chosen now (loaded once, then cached)."""
        name, weights = self.model, self.weights
        return self._models.get((name, weights), lambda: self.loader(name, weights))

    def layers(self) -> dict[str, tuple[int, ...]]:
        """Name -> (K, h, w) of the model's layers with a spatial output (:func:`spatial_layers`, once per model)."""
        model, x = self.zoo_model.model, self.view().x
        return self._layers.get((self.model, self.weights), lambda: spatial_layers(model, x))

    def view(self) -> ModelView:
        """The chosen image as the chosen model sees it (once per model and image)."""
        zoo_model, label = self.zoo_model, self.image
        return self._views.get((self.model, self.weights, label), lambda: model_view(zoo_model, self.images[label]()))

    def explain(self, method: str | None = None) -> Explanation | str:
        """The chosen class explained by ``method`` (default: the chosen one), or why it cannot be.

        A method that takes no layer ignores :attr:`layer`; a model or image that cannot load raises.
        """
        self.prepare()
        info = self.methods[method or self.method]
        layer = self.layer if info.takes_layer else None
        model, x, index = self.zoo_model.model, self.view().x, self.class_index
        key = (self.model, self.weights, self.image, layer, info.name, index)
        try:
            return self._maps.get(key, lambda: run_method(info, model, layer, x, index))
        except PROBLEMS as problem:
            return f"{info.title}: {problem}"

    def compared(self) -> list[str]:
        """The methods of the compare row: all but those that run the model once per channel
        (Ablation-CAM on a 2,048-channel layer is 2,048 forward passes); they run when chosen."""
        return [name for name, info in self.methods.items() if not info.per_channel]

    def explanations(self) -> dict[str, Explanation | str]:
        """Method name -> :meth:`explain` of what is shown: the chosen method, and the compare row's."""
        shown = [self.method, *(name for name in self.compared() if name != self.method)] if self.compare else [self.method]
        return {name: self.explain(name) for name in shown}

    def render(self, explanation: Explanation | str) -> np.ndarray:
        """The RGB picture: a map over the model's input, a gradient picture as it is, the input alone for a message."""
        view = self.view()
        if isinstance(explanation, str):
            return view.picture
        if explanation.picture is not None:
            return explanation.picture
        return overlay(view.picture, explanation.cam_map, alpha=self.opacity, colormap=self.colormap)

    def caption(self, explanation: Explanation | str) -> str:
        """HTML naming the chosen method, class, probability and layer, and what went wrong."""
        info, index = self.methods[self.method], self.class_index
        where = f" at layer <code>{html.escape(str(self.layer))}</code>" if info.takes_layer else ""
        caption = (f"{html.escape(info.title)} of <b>{html.escape(self.zoo_model.categories[index])}</b> "
                   f"({float(self.view().probabilities[index]):.1%}){where}")
        if isinstance(explanation, str):
            return caption + ": not available (see the message)"
        if explanation.note:
            caption += f"<br><small>{html.escape(explanation.note)}</small>"
        if explanation.cam_map is not None and not explanation.cam_map.any():
            return caption + ": the map is empty (all zeros)"
        return caption
