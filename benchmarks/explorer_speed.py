"""Time the explorer's map updates: how long after a control changes is the new picture there?

    python benchmarks/explorer_speed.py [--model resnet18] [--weights shapes] [--repeat 6]

Each step changes one control to a value whose map is not cached yet (a new image, class,
method or layer) and times the widget's synchronous update: forward pass where needed, the
map, the overlay and the PNG.  An opacity change is timed too: it must not run the model.
Prints the median and the slowest update per kind of change, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camkit.apps.explorer import Explorer  # noqa: E402


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--weights", default="shapes", help="auto, imagenet, shapes or random")
    parser.add_argument("--repeat", type=int, default=6, help="images to step through")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        explorer = Explorer(model=args.model, weights=args.weights, scenes=args.repeat)
    images = [label for label in explorer.image_picker.options if label != explorer.image_picker.value][: args.repeat]
    layers = [name for _, name in explorer.layer_picker.options if name != explorer.layer_picker.value][-1:]
    times: dict[str, list[float]] = {"new image": [], "new class": [], "new method": [], "new layer": [], "opacity": []}
    for label in images:
        explorer.method_picker.value = "gradcam"
        times["new image"].append(timed(lambda: setattr(explorer.image_picker, "value", label)))
        other_class = explorer.class_picker.options[1][1]
        times["new class"].append(timed(lambda: setattr(explorer.class_picker, "value", other_class)))
        times["new method"].append(timed(lambda: setattr(explorer.method_picker, "value", "layercam")))
        if layers:
            times["new layer"].append(timed(lambda: setattr(explorer.layer_picker, "value", layers[0])))
            explorer.layer_picker.value = explorer.zoo_model.layer
        opacity = 0.3 if explorer.opacity.value != 0.3 else 0.6
        times["opacity"].append(timed(lambda: setattr(explorer.opacity, "value", opacity)))
        assert explorer.message.value == "", explorer.message.value
    zm = explorer.zoo_model
    print(f"{args.model} ({zm.weights} weights, {zm.input_size} px input), {len(images)} images; ms per update:")
    for kind, values in times.items():
        if values:
            print(f"  {kind:<11} median {statistics.median(values):6.0f}   slowest {max(values):6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
