"""PyTorch versions of bntrain's architectures (src/engine/architectures.c), with modules
registered in the engine's parameter order. One definition for two users: the parity fixtures
(tests/make_fixtures.py) and the PyTorch side of the benchmark (bench/pytorch_bench.py), so the
network PyTorch is timed on is the one whose outputs and gradients test_parity checks.

- build_model(case): the paper's fc and cnn (hidden blocks of Linear|Conv2d -> [BatchNorm] ->
  ReLU, then a Linear to the classes); case is a dict with arch, shape (C, H, W), hidden, bn,
  and for cnn kernel, stride, padding.
- VGG16(width_mult): the common CIFAR-10 VGG16 (13 conv3x3-BN-ReLU, 5 max-pools, global
  average pooling, Linear 512 -> 10).
- PreActResNet(depth, width_mult): depth 18 as kuangliu/pytorch-cifar's PreActResNet18;
  6n + 2 as He et al. 2016a's CIFAR network with its final BatchNorm and ReLU.
"""

import torch.nn as nn
import torch.nn.functional as F

N_CLASSES = 10


def build_model(case):
    """nn.Sequential in the engine's layer order, so parameters() matches its flat layout."""
    layers = []
    channels, height, width = case["shape"]
    if case["arch"] == "fc":
        layers.append(nn.Flatten())
        features = channels * height * width
        for units in case["hidden"]:
            layers.append(nn.Linear(features, units))
            if case["bn"]:
                layers.append(nn.BatchNorm1d(units, eps=1e-5, momentum=0.1))
            layers.append(nn.ReLU())
            features = units
    else:
        k, s, p = case["kernel"], case["stride"], case["padding"]
        for out_channels in case["hidden"]:
            layers.append(nn.Conv2d(channels, out_channels, k, stride=s, padding=p))
            if case["bn"]:
                layers.append(nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1))
            layers.append(nn.ReLU())
            channels = out_channels
            height = (height + 2 * p - k) // s + 1
            width = (width + 2 * p - k) // s + 1
        layers.append(nn.Flatten())
        features = channels * height * width
    layers.append(nn.Linear(features, N_CLASSES))
    return nn.Sequential(*layers)


VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M"]


def scaled(channels, width_mult):
    return max(1, int(round(channels * width_mult)))


class VGG16(nn.Module):
    def __init__(self, width_mult):
        super().__init__()
        layers, channels = [], 3
        for entry in VGG16_CONFIG:
            if entry == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = scaled(entry, width_mult)
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU()]
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, N_CLASSES)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class PreActBlock(nn.Module):
    """He et al. 2016a's block as kuangliu/pytorch-cifar writes it."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """depth 18: pytorch-cifar's PreActResNet18; 6n + 2: He et al. 2016a's CIFAR network,
    with its final BatchNorm and ReLU."""

    def __init__(self, depth, width_mult):
        super().__init__()
        resnet18 = depth == 18
        stages = [64, 128, 256, 512] if resnet18 else [16, 32, 64]
        blocks = 2 if resnet18 else (depth - 2) // 6
        channels = scaled(stages[0], width_mult)
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        layers = []
        for stage, planes in enumerate(stages):
            planes = scaled(planes, width_mult)
            for b in range(blocks):
                layers.append(PreActBlock(channels, planes, 2 if stage > 0 and b == 0 else 1))
                channels = planes
        self.blocks = nn.Sequential(*layers)
        self.final_bn = None if resnet18 else nn.BatchNorm2d(channels)
        self.linear = nn.Linear(channels, N_CLASSES)

    def forward(self, x):
        out = self.blocks(self.conv1(x))
        if self.final_bn is not None:
            out = F.relu(self.final_bn(out))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))
