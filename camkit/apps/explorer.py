"""An interactive explorer (ipywidgets 8): pick an image, a model, a layer, a method and a class.

>>> from camkit.apps.explorer import explore
>>> explore()      # the last expression of a notebook cell; `make app` serves it as a web page

This is the view only: each control writes its value into an
:class:`~camkit.apps.explorer_state.ExplorerState`, which holds the choices, the caches and the
computations, and the widget draws what the state returns (menus, pictures, caption, messages).
Opacity and colormap only redraw; every other control refreshes, which computes only what the
state has not cached.  A choice that cannot work shows camkit's message in the widget.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import io
from collections.abc import Iterator

import ipywidgets as widgets
from PIL import Image

from .. import zoo
from ..image import ImageLike, load_image
from .explorer_state import PROBLEMS, Explanation, ExplorerState, png

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "hot", "bone")
_PICTURE_WIDTH = "336px"
_COMPARE_WIDTH = "168px"
_REDRAW_ONLY = ("opacity", "colormap")


def _problem_html(text: str) -> str:
    return f"<span style='color:#b00020'>⚠ {html.escape(text)}</span>"


class Explorer(widgets.VBox):
    """The explorer widget: every control is an attribute, so it can also be driven from code.

    Args:
        model: the zoo model shown first (a key of :data:`camkit.zoo.ARCHITECTURES`).
        image: the image shown first (a bundled sample name, or any label of ``image_picker``).
        weights: passed to :func:`camkit.zoo.load` for every model (``"auto"``, ``"imagenet"``,
            ``"shapes"`` or ``"random"``).
        scenes: how many one-object ShapeScenes test scenes to offer (plus a third as many
            two-object scenes).
        state: an :class:`ExplorerState` to show; the arguments above are then not used.
    """

    def __init__(self, model: str = "efficientnet_lite0", image: str = "chelsea", weights: str = "auto", scenes: int = 6,
                 *, state: ExplorerState | None = None) -> None:
        self.state = state if state is not None else ExplorerState(model, image, weights, scenes)
        self._explanations: dict[str, Explanation | str] = {}
        self._quiet = False
        state = self.state

        wide = {"description_width": "70px"}
        self.image_picker = widgets.Dropdown(options=list(state.images), value=state.image, description="Image", style=wide)
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Your image")
        self.model_picker = widgets.Dropdown(options=zoo.CLASSIFIERS, value=state.model, description="Model", style=wide)
        self.weights_label = widgets.HTML()
        self.layer_picker = widgets.Dropdown(description="Layer", style=wide)
        self.method_picker = widgets.Dropdown(options=state.method_menu(), value=state.method, description="Method", style=wide)
        self.class_picker = widgets.Dropdown(description="Class", style=wide, layout={"width": "340px"})
        self.class_search = widgets.Combobox(placeholder="search all classes", ensure_option=True, description="Search",
                                             style=wide)
        self.opacity = widgets.FloatSlider(value=state.opacity, min=0, max=1, step=0.05, description="Opacity", style=wide)
        self.colormap = widgets.Dropdown(options=COLORMAPS, value=state.colormap, description="Colormap", style=wide)
        self.compare = widgets.ToggleButton(value=state.compare, description="Compare methods", icon="columns")
        self.busy = widgets.HTML()
        self.message = widgets.HTML()
        self.picture = widgets.Image(format="png", layout={"width": _PICTURE_WIDTH})
        self.caption = widgets.HTML()
        compared = state.compared()
        self.compare_pictures = {name: widgets.Image(format="png", layout={"width": _COMPARE_WIDTH}) for name in compared}
        self.compare_notes = {name: widgets.HTML(layout={"width": _COMPARE_WIDTH}) for name in compared}
        self.compare_row = widgets.HBox(
            [widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), self.compare_pictures[name],
                           self.compare_notes[name]]) for title, name in state.method_menu() if name in compared],
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
        for control, choice in [(self.image_picker, "image"), (self.model_picker, "model"), (self.layer_picker, "layer"),
                                (self.method_picker, "method"), (self.class_picker, "class_index"), (self.opacity, "opacity"),
                                (self.colormap, "colormap"), (self.compare, "compare")]:
            control.observe(functools.partial(self._on_change, choice), "value")
        self.class_search.observe(self._on_search, "value")
        self.upload.observe(self._on_upload, "value")
        self.refresh()

    def __repr__(self) -> str:
        return f"Explorer(model={self.state.model!r}, image={self.state.image!r}, method={self.state.method!r})"

    # ------------------------------------------------------------------ public
    @property
    def zoo_model(self) -> zoo.ZooModel:
        """The model chosen now (loaded once, then cached)."""
        return self.state.zoo_model

    def add_image(self, label: str, image: ImageLike) -> None:
        """Offer ``image`` (anything :func:`camkit.image.load_image` reads) as ``label`` and show it."""
        self.state.add_image(label, image)
        with self._quietly():
            self.image_picker.options = list(self.state.images)
            self.image_picker.value = label
        self.refresh()

    def refresh(self) -> None:
        """Bring everything shown up to date with the state (computing only what is not cached)."""
        self.compare_row.layout.display = "flex" if self.state.compare else "none"
        with self._busy():
            self.message.value = self.weights_label.value = ""
            try:
                self.weights_label.value = self.state.weights_note()
                self._fill_menus()
                self._explanations = self.state.explanations()
            except PROBLEMS as problem:
                self._show_problem(problem)
                return
        self._draw()

    # --------------------------------------------------------------- observers
    def _on_change(self, choice: str, change: dict) -> None:
        """A control changed: write its value into the state, then redraw or refresh."""
        if self._quiet:
            return
        setattr(self.state, choice, change["new"])
        if choice in _REDRAW_ONLY:
            self._draw()
        else:
            self.refresh()

    def _on_search(self, change: dict) -> None:
        """A class chosen in the search box becomes the class (and joins the class menu)."""
        if not self._quiet and change["new"] in self.class_search.options:
            self.state.class_index = self.class_search.options.index(change["new"])
            self.refresh()

    def _on_upload(self, change: dict) -> None:
        """Each uploaded file that is an image becomes one (``upload: name (digest)``) and is shown."""
        uploads = change["new"]
        if uploads:
            self.upload.value = ()  # so that the same file can be chosen again
        for upload in uploads:
            content = bytes(upload["content"])
            try:
                with Image.open(io.BytesIO(content)) as opened:
                    image = load_image(opened)
            except (OSError, ValueError) as problem:
                self.message.value = _problem_html(f"{upload['name']} is not an image camkit can read ({problem}).")
                continue
            self.add_image(f"upload: {upload['name']} ({hashlib.sha1(content).hexdigest()[:6]})", image)

    # ----------------------------------------------------------------- drawing
    def _fill_menus(self) -> None:
        """Set the layer, class and search menus and their values from the state."""
        state = self.state
        with self._quietly():
            for picker, menu, value in [(self.layer_picker, state.layer_menu(), state.layer),
                                        (self.class_picker, state.class_menu(), state.class_index)]:
                if list(picker.options) != menu:
                    picker.options = menu
                picker.value = value
            labels = state.search_labels()
            if tuple(self.class_search.options) != labels:
                self.class_search.options = labels
                self.class_search.value = ""

    def _draw(self) -> None:
        """Render the computed explanations with the current opacity and colormap (no model runs here)."""
        if not self._explanations:
            return
        chosen = self._explanations[self.state.method]
        self.message.value = _problem_html(chosen) if isinstance(chosen, str) else ""
        self.picture.value = png(self.state.render(chosen))
        self.caption.value = self.state.caption(chosen)
        if self.state.compare:
            for name, explanation in self._explanations.items():
                if name in self.compare_pictures:  # a per-channel method is shown only when chosen
                    self._draw_compare_cell(name, explanation)

    def _draw_compare_cell(self, name: str, explanation: Explanation | str | None) -> None:
        """One method of the compare row: its picture, or its message (nothing for None)."""
        picture, note = self.compare_pictures[name], self.compare_notes[name]
        if isinstance(explanation, Explanation):
            picture.value = png(self.state.render(explanation))
        picture.layout.display = None if isinstance(explanation, Explanation) else "none"
        note.value = _problem_html(explanation) if isinstance(explanation, str) else ""

    def _show_problem(self, problem: Exception) -> None:
        self._explanations = {}
        self.message.value = _problem_html(str(problem))
        self.caption.value = ""
        for name in self.compare_pictures:
            self._draw_compare_cell(name, None)

    # --------------------------------------------------------------- plumbing
    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change controls from code without their observers writing into the state."""
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
