"""The tiny network of the hand-computed golden values (see test_golden.py).

    x (1, 1, 2, 2) -> conv 1x1, weights w = [1, -2], no bias  (layer "conv": A^0 = x, A^1 = -2x)
                   -> ReLU module                              (layer "relu")
                   -> global average pooling -> Linear W = [[1, 2], [3, -1]], b = 0
"""

import torch
from torch import nn

X = torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]])


def tiny_net(inplace: bool = False) -> nn.Sequential:
    net = nn.Sequential()
    net.add_module("conv", nn.Conv2d(1, 2, kernel_size=1, bias=False))
    net.add_module("relu", nn.ReLU(inplace=inplace))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flatten", nn.Flatten())
    net.add_module("fc", nn.Linear(2, 2))
    with torch.no_grad():
        net.conv.weight.copy_(torch.tensor([1.0, -2.0]).view(2, 1, 1, 1))
        net.fc.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, -1.0]]))
        net.fc.bias.zero_()
    return net.eval()
