"""An interactive explorer (ipywidgets 8): pick an image, a model, a layer, a method and a class.

>>> from camkit.explorer import explore
>>> explore()      # the last expression of a notebook cell; `make app` serves it as a web page

What runs when a control changes (everything computed is cached, so going back is instant):

* model: :func:`camkit.zoo.load` once per model (never training the ShapeScenes zoo: a model
  whose weights are missing gets a message), then one forward pass with hooks on every module
  lists the layers with a spatial output (:func:`spatial_layers`);
* image: preprocessing and one forward pass per (model, image) for the top-5 classes;
* layer, method, class: one map per (model, image, layer, method, class);
* opacity, colormap: no model at all, only :func:`camkit.overlay` of the cached map.

A choice that cannot work (CAM where the layer does not feed global average pooling and one
linear layer, a file that is not an image...) shows camkit's message in the widget.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import cv2
import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image
from torch import nn

from . import samples, zoo
from .guided import GuidedBackprop, GuidedGradCAM
from .hooks import module_names, module_outputs
from .image import deprocess, load_image, overlay, to_image
from .methods import CAM, GradCAM, LayerCAM
from .shapes import ShapeScenes

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "hot", "bone")
PROBLEMS = (ValueError, TypeError, RuntimeError, OSError, KeyError)
"""Errors that mean "this choice cannot work": their message is shown in the widget."""

_SCENE_SIZE = 96
_PICTURE_WIDTH = "336px"
_COMPARE_WIDTH = "168px"


# ------------------------------------------------------------------------------------ methods
@dataclass(frozen=True)
class Explanation:
    """One method's answer: a map in [0, 1] (h, w) to overlay, or an RGB picture (H, W, 3)."""

    cam_map: np.ndarray | None = None
    picture: np.ndarray | None = None


@dataclass(frozen=True)
class Method:
    """How the explorer runs one camkit method on (model, layer, x (1, 3, H, W), class index)."""

    explain: Callable[[nn.Module, str, torch.Tensor, int], Explanation]
    uses_layer: bool = True


def _activation_map(make: Callable[[nn.Module, str], Callable]) -> Method:
    def explain(model: nn.Module, layer: str, x: torch.Tensor, index: int) -> Explanation:
        return Explanation(cam_map=make(model, layer)(x, index)[0].cpu().numpy())

    return Method(explain)


def _input_gradient(make: Callable[[nn.Module, str], Callable], uses_layer: bool) -> Method:
    def explain(model: nn.Module, layer: str, x: torch.Tensor, index: int) -> Explanation:
        return Explanation(picture=to_image(deprocess(make(model, layer)(x, index)[0])))

    return Method(explain, uses_layer)


METHODS: dict[str, Method] = {
    "CAM": _activation_map(CAM),
    "Grad-CAM": _activation_map(GradCAM),
    "LayerCAM": _activation_map(LayerCAM),
    "Guided Backprop": _input_gradient(lambda model, _layer: GuidedBackprop(model), uses_layer=False),
    "Guided Grad-CAM": _input_gradient(GuidedGradCAM, uses_layer=True),
    "Counterfactual Grad-CAM": _activation_map(lambda model, layer: GradCAM(model, layer, counterfactual=True)),
}
"""The methods offered, in the order of the menu and of the compare row."""


# ----------------------------------------------------------------------------- computations
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


def spatial_layers(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Name -> (K, h, w) of every module that runs once in ``model(x)`` and returns a 4-D map with h*w > 1.

    One forward pass without gradients, in execution order; a module run several times per pass
    (torchvision's ResNet blocks share one ReLU) is left out, as camkit refuses it as ambiguous.
    The hooks are removed before returning, even on error.
    """
    outputs: dict[nn.Module, list[object]] = {}
    for module, output in module_outputs(model, x):
        outputs.setdefault(module, []).append(output)
    names = module_names(model)
    layers = {}
    for module, results in outputs.items():
        output = results[0]
        if len(results) == 1 and isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[2] * output.shape[3] > 1:
            layers[names[module]] = tuple(output.shape[1:])
    return layers


@dataclass(frozen=True)
class ModelView:
    """An image as one model sees it: its input, the picture of that input, the class probabilities."""

    x: torch.Tensor
    picture: np.ndarray
    probabilities: torch.Tensor


def load_zoo_model(name: str, weights: str = "auto") -> zoo.ZooModel:
    """:func:`camkit.zoo.load`, but never training: missing ShapeScenes weights raise a ValueError.

    The weights ``auto`` picks are shown by the explorer, so the zoo's announcement is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        choice = zoo.resolve_weights(name, weights)
    if choice == "shapes" and zoo.ARCHITECTURES[name].shapes and not zoo.shapes_weights_path(name).exists():
        raise ValueError(
            f"The ShapeScenes weights of {name!r} are not trained yet; `make zoo` builds them. "
            "The explorer does not train models itself."
        )
    return zoo.load(name, choice)


def model_view(zoo_model: zoo.ZooModel, image: np.ndarray) -> ModelView:
    """Preprocess ``image`` for ``zoo_model``, picture the result and run the model once."""
    x = zoo_model.preprocess(image)[None]
    with torch.no_grad():
        probabilities = zoo_model.model(x).softmax(dim=1)[0]
    return ModelView(x, zoo_model.picture(x[0]), probabilities)


def png(picture: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("OpenCV could not encode the picture as PNG.")
    return encoded.tobytes()


def render(view: ModelView, explanation: Explanation, opacity: float, colormap: str) -> np.ndarray:
    """The picture to show: a map blended over the model's input, or a gradient picture as it is."""
    if explanation.picture is not None:
        return explanation.picture
    return overlay(view.picture, explanation.cam_map, alpha=opacity, colormap=colormap)


def image_sources(scenes: int) -> dict[str, Callable[[], np.ndarray]]:
    """Label -> loader of every image offered: the bundled photos, then ShapeScenes test scenes."""
    sources: dict[str, Callable[[], np.ndarray]] = {name: (lambda name=name: samples.load(name)) for name in samples.names()}
    for objects in (1, 2):
        data = ShapeScenes("test", size=_SCENE_SIZE, length=scenes, objects=objects)
        for index in range(scenes if objects == 1 else max(1, scenes // 3)):
            scene = data.scene(index)
            sources[f"scene {objects}-{index}: {' + '.join(scene.names)}"] = lambda image=scene.image: image
    return sources


# ------------------------------------------------------------------------------------ widget
class Explorer(widgets.VBox):
    """The explorer widget: every control is an attribute, so it can also be driven from code.

    Args:
        model: the zoo model shown first (a key of :data:`camkit.zoo.ARCHITECTURES`).
        image: the image shown first (a bundled sample name, or any label of ``image_picker``).
        weights: passed to :func:`camkit.zoo.load` for every model (``"auto"``, ``"imagenet"``,
            ``"shapes"`` or ``"random"``).
        scenes: how many one-object ShapeScenes test scenes to offer (plus a third as many
            two-object scenes).
    """

    def __init__(self, model: str = "efficientnet_lite0", image: str = "chelsea", weights: str = "auto", scenes: int = 6) -> None:
        self.weights = weights
        self._images = image_sources(scenes)
        self._models = LRUCache(3)
        self._layers: dict[str, dict[str, tuple[int, ...]]] = {}
        self._views = LRUCache(32)
        self._maps = LRUCache(256)
        self._explanations: dict[str, Explanation | str] = {}
        self._shown: tuple[str, str] | None = None
        self._quiet = False

        wide = {"description_width": "70px"}
        self.image_picker = widgets.Dropdown(options=list(self._images), value=image, description="Image", style=wide)
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Your image")
        self.model_picker = widgets.Dropdown(options=zoo.available(), value=model, description="Model", style=wide)
        self.weights_label = widgets.HTML()
        self.layer_picker = widgets.Dropdown(description="Layer", style=wide)
        self.method_picker = widgets.Dropdown(options=list(METHODS), value="Grad-CAM", description="Method", style=wide)
        self.class_picker = widgets.Dropdown(description="Class", style=wide, layout={"width": "340px"})
        self.class_search = widgets.Combobox(placeholder="search all classes", ensure_option=True, description="Search", style=wide)
        self.opacity = widgets.FloatSlider(value=0.5, min=0, max=1, step=0.05, description="Opacity", style=wide)
        self.colormap = widgets.Dropdown(options=COLORMAPS, value="jet", description="Colormap", style=wide)
        self.compare = widgets.ToggleButton(value=False, description="Compare methods", icon="columns")
        self.busy = widgets.HTML()
        self.message = widgets.HTML()
        self.picture = widgets.Image(format="png", layout={"width": _PICTURE_WIDTH})
        self.caption = widgets.HTML()
        self.compare_pictures = {name: widgets.Image(format="png", layout={"width": _COMPARE_WIDTH}) for name in METHODS}
        self.compare_notes = {name: widgets.HTML(layout={"width": _COMPARE_WIDTH}) for name in METHODS}
        self.compare_row = widgets.HBox(
            [widgets.VBox([widgets.HTML(f"<b>{name}</b>"), self.compare_pictures[name], self.compare_notes[name]]) for name in METHODS],
            layout={"display": "none", "overflow": "auto"},
        )
        for control, name in [(self, "explorer"), (self.picture, "picture"), (self.message, "message"), (self.busy, "busy"),
                              (self.method_picker, "method"), (self.class_picker, "class"), (self.layer_picker, "layer"),
                              (self.model_picker, "model"), (self.image_picker, "image"), (self.caption, "caption"),
                              (self.compare, "compare"), (self.compare_row, "compare-row")]:
            control.add_class(f"camkit-{name}")

        super().__init__([
            widgets.HBox([self.image_picker, self.upload]),
            widgets.HBox([self.model_picker, self.weights_label]),
            widgets.HBox([self.layer_picker, self.method_picker]),
            widgets.HBox([self.class_picker, self.class_search]),
            widgets.HBox([self.opacity, self.colormap, self.compare]),
            widgets.HBox([self.busy, self.message]),
            widgets.VBox([self.picture, self.caption]),
            self.compare_row,
        ])
        for control in (self.image_picker, self.model_picker):
            control.observe(self._on_source_change, "value")
        for control in (self.layer_picker, self.method_picker, self.class_picker):
            control.observe(self._on_choice_change, "value")
        self.compare.observe(self._on_compare_toggle, "value")
        for control in (self.opacity, self.colormap):
            control.observe(self._on_look_change, "value")
        self.class_search.observe(self._on_search, "value")
        self.upload.observe(self._on_upload, "value")
        self.refresh()

    def __repr__(self) -> str:
        return f"Explorer(model={self.model_picker.value!r}, image={self.image_picker.value!r}, method={self.method_picker.value!r})"

    # ------------------------------------------------------------------ public
    @property
    def zoo_model(self) -> zoo.ZooModel:
        """The model chosen now (loaded once, then cached)."""
        name = self.model_picker.value
        return self._models.get(name, lambda: load_zoo_model(name, self.weights))

    def add_image(self, label: str, image: object) -> None:
        """Offer ``image`` (anything :func:`camkit.image.load_image` reads) as ``label`` and show it."""
        array = load_image(image)
        self._images[label] = lambda: array
        with self._quietly():
            self.image_picker.options = list(self._images)
        self.image_picker.value = label

    def refresh(self) -> None:
        """Bring everything shown up to date with the controls (computing only what is not cached)."""
        with self._busy():
            self.message.value = ""
            try:
                view = self._prepare()
                self._explain(view)
            except PROBLEMS as problem:
                self._show_problem(problem)
                return
        self._draw()

    # --------------------------------------------------------------- observers
    def _on_source_change(self, _change: dict) -> None:
        if not self._quiet:
            self.refresh()

    def _on_choice_change(self, _change: dict) -> None:
        if not self._quiet:
            self.refresh()

    def _on_compare_toggle(self, change: dict) -> None:
        self.compare_row.layout.display = "flex" if change["new"] else "none"
        self.refresh()

    def _on_look_change(self, _change: dict) -> None:
        if not self._quiet:
            self._draw()

    def _on_search(self, change: dict) -> None:
        label = change["new"]
        if self._quiet or label not in self.class_search.options:
            return
        index = self.class_search.options.index(label)
        if index not in [value for _, value in self.class_picker.options]:
            probability = float(self._view().probabilities[index])
            name = self.zoo_model.categories[index]
            with self._quietly():
                self.class_picker.options = [*self.class_picker.options, (f"{name} ({probability:.1%})", index)]
        self.class_picker.value = index

    def _on_upload(self, change: dict) -> None:
        uploads = change["new"]
        if uploads:
            self.upload.value = ()  # so that the same file can be chosen again
        for upload in uploads:
            try:
                with Image.open(io.BytesIO(bytes(upload["content"]))) as opened:
                    image = load_image(opened)
            except (OSError, ValueError) as problem:
                self.message.value = self._problem_html(f"{upload['name']} is not an image camkit can read ({problem}).")
                continue
            digest = hashlib.sha1(image.tobytes()).hexdigest()[:6]
            self.add_image(f"upload: {upload['name']} ({digest})", image)

    # ------------------------------------------------------------- computation
    def _view(self) -> ModelView:
        name, label = self.model_picker.value, self.image_picker.value
        zoo_model = self.zoo_model
        return self._views.get((name, label), lambda: model_view(zoo_model, self._images[label]()))

    def _prepare(self) -> ModelView:
        """Load the model and the image; when either changed, refill the layer and class menus."""
        self.weights_label.value = ""
        zoo_model = self.zoo_model
        self.weights_label.value = (f"weights: <b>{zoo_model.weights}</b> · {len(zoo_model.categories)} classes · "
                                    f"input {zoo_model.input_size} px")
        view = self._view()
        shown = (zoo_model.name, self.image_picker.value)
        if shown != self._shown:
            with self._quietly():
                if self._shown is None or self._shown[0] != zoo_model.name:
                    self._fill_model_menus(zoo_model, view.x)
                self._fill_classes(zoo_model, view)
            self._shown = shown
        return view

    def _fill_model_menus(self, zoo_model: zoo.ZooModel, x: torch.Tensor) -> None:
        if zoo_model.name not in self._layers:
            self._layers[zoo_model.name] = spatial_layers(zoo_model.model, x)
        layers = self._layers[zoo_model.name]
        self.layer_picker.options = [(f"{name}  ({'×'.join(map(str, shape))})", name) for name, shape in layers.items()]
        self.layer_picker.value = zoo_model.layer if zoo_model.layer in layers else next(iter(layers))
        self.class_search.options = tuple(f"{name} ({index})" for index, name in enumerate(zoo_model.categories))
        self.class_search.value = ""

    def _fill_classes(self, zoo_model: zoo.ZooModel, view: ModelView) -> None:
        top = view.probabilities.topk(min(5, len(zoo_model.categories)))
        self.class_picker.options = [
            (f"{zoo_model.categories[index]} ({probability:.1%})", index)
            for probability, index in zip(top.values.tolist(), top.indices.tolist())
        ]
        self.class_picker.value = int(top.indices[0])

    def _explain(self, view: ModelView) -> None:
        """Compute (or fetch) the maps to show: the chosen method, or all of them when comparing."""
        names = list(METHODS) if self.compare.value else [self.method_picker.value]
        self._explanations = {name: self._explanation(view, name) for name in names}

    def _explanation(self, view: ModelView, method_name: str) -> Explanation | str:
        method = METHODS[method_name]
        layer = self.layer_picker.value if method.uses_layer else None
        key = (self.model_picker.value, self.image_picker.value, layer, method_name, self.class_picker.value)
        model = self.zoo_model.model
        try:
            return self._maps.get(key, lambda: method.explain(model, layer, view.x, self.class_picker.value))
        except PROBLEMS as problem:
            return f"{method_name}: {problem}"

    # ----------------------------------------------------------------- drawing
    def _draw(self) -> None:
        """Render the computed maps with the current opacity and colormap (no model runs here)."""
        if not self._explanations:
            return
        view = self._view()
        method_name = self.method_picker.value
        chosen = self._explanations[method_name]
        if isinstance(chosen, str):
            self.message.value = self._problem_html(chosen)
            self.picture.value = png(view.picture)
        else:
            self.message.value = ""
            self.picture.value = png(render(view, chosen, self.opacity.value, self.colormap.value))
        self.caption.value = self._caption(view, method_name, chosen)
        if self.compare.value:
            for name, explanation in self._explanations.items():
                self._draw_compare_cell(view, name, explanation)

    def _caption(self, view: ModelView, method_name: str, explanation: Explanation | str) -> str:
        index = self.class_picker.value
        where = f" at layer <code>{self.layer_picker.value}</code>" if METHODS[method_name].uses_layer else ""
        caption = (f"{method_name} of <b>{html.escape(self.zoo_model.categories[index])}</b> "
                   f"({float(view.probabilities[index]):.1%}){where}")
        if isinstance(explanation, str):
            return caption + ": not available (see the message)"
        if explanation.cam_map is not None and not explanation.cam_map.any():
            return caption + ": the map is empty (all zeros)"
        return caption

    def _draw_compare_cell(self, view: ModelView | None, method_name: str, explanation: Explanation | str | None) -> None:
        """One method of the compare row: its picture, or its message (nothing for None)."""
        picture, note = self.compare_pictures[method_name], self.compare_notes[method_name]
        if isinstance(explanation, Explanation):
            picture.value = png(render(view, explanation, self.opacity.value, self.colormap.value))
        picture.layout.display = None if isinstance(explanation, Explanation) else "none"
        note.value = self._problem_html(explanation) if isinstance(explanation, str) else ""

    def _show_problem(self, problem: Exception) -> None:
        self._explanations = {}
        self.message.value = self._problem_html(str(problem))
        self.caption.value = ""
        for name in METHODS:
            self._draw_compare_cell(None, name, None)

    @staticmethod
    def _problem_html(text: str) -> str:
        return f"<span style='color:#b00020'>⚠ {html.escape(text)}</span>"

    # --------------------------------------------------------------- plumbing
    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change menus from code without their observers recomputing anything."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        self.busy.value = "⏳ computing…"
        try:
            yield
        finally:
            self.busy.value = ""


def explore(**options: object) -> Explorer:
    """Open the explorer: ``explore()`` as the last line of a notebook cell (see :class:`Explorer`)."""
    return Explorer(**options)
