#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that tests/test_parity.c compares the C engine against
(and tests/test_probe.c the probe's statistics: probe_fc_*.bin, --only probe).

Regenerate from the repository root with Debian's python3-torch (not a pyenv python):

    /usr/bin/python3 tests/make_fixtures.py

The committed fixtures were made with torch 1.13.0a0 (Debian python3-torch), CPU, one thread.

Each case builds a small network exactly as the engine does (hidden blocks of Linear|Conv2d ->
[BatchNorm] -> ReLU, then a Linear to the classes), draws its weights here, and records:
the batch, the initial parameters, the train-mode logits, loss and every gradient of the first
step, the loss of a second train-mode step on the same batch, the parameters and BatchNorm
running statistics after the two SGD steps, and the eval-mode logits after them.

File format (tests/fixture.h reads it), all little-endian:
    "BNFX", u32 version (1), u32 record count, then per record:
    u32 name length, name bytes (ASCII, no terminator), u32 ndim, u32 dims[ndim],
    float32 data[prod(dims)].
Every value is float32 (labels and the integer spec fields are small integers, exact in float).
Records are named by stage and PyTorch parameter name: init/1.weight, grad/1.weight,
final/1.weight, running_mean/2, running_var/2; plus spec, hidden, optim, input, labels, logits,
loss, loss2, eval_logits.

One more file, layers.bin, holds single layers (the deep networks' new ones, issue 21), each
with its input, an output gradient drawn here, and PyTorch's output and gradients, in PyTorch's
NCHW layout, named layer/what: maxpool/ (MaxPool2d(2), an odd side and many ties), avgpool/
(global average pooling to N x C), residual/ (a block out = relu(x) + x: the gradient of x
through both of its consumers), and four convolutions, conv_k1s2p0_bias/, conv_k1s2p0_nobias/,
conv_k3s1p1_bias/, conv_k3s1p1_nobias/ (a geometry record: kernel, stride, padding; weight, and
bias where there is one; output, dout, din, dweight, dbias).
"""

import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = 1
N_CLASSES = 10
ARCH_CODE = {"fc": 0, "cnn": 1}
LOSS_CODE = {"mse": 0, "ce": 1}

# Sizes are kept small so that all fixtures together stay a few hundred kB. The cnn_bn_ce case
# uses stride 1 and padding 1 to exercise the padded im2col path; fc_nobn_mse has a large
# weight decay so that a wrong decay term is far above rounding noise in the parameter update.
CASES = [
    dict(name="fc_bn_mse", arch="fc", shape=(1, 10, 10), hidden=(32, 24, 16), bn=True,
         loss="mse", batch=12, weight_decay=5e-4),
    dict(name="fc_bn_ce", arch="fc", shape=(1, 10, 10), hidden=(32, 24, 16), bn=True,
         loss="ce", batch=12, weight_decay=0.0),
    dict(name="fc_nobn_mse", arch="fc", shape=(1, 10, 10), hidden=(32, 24, 16), bn=False,
         loss="mse", batch=12, weight_decay=0.05),
    dict(name="fc_nobn_ce", arch="fc", shape=(1, 10, 10), hidden=(32, 24, 16), bn=False,
         loss="ce", batch=12, weight_decay=0.0),
    dict(name="cnn_bn_mse", arch="cnn", shape=(3, 20, 20), hidden=(4, 6, 8), bn=True,
         loss="mse", batch=8, kernel=3, stride=2, padding=0, weight_decay=0.0),
    dict(name="cnn_bn_ce", arch="cnn", shape=(3, 8, 8), hidden=(4, 6, 8), bn=True,
         loss="ce", batch=8, kernel=3, stride=1, padding=1, weight_decay=5e-4),
    dict(name="cnn_nobn_mse", arch="cnn", shape=(3, 20, 20), hidden=(4, 6, 8), bn=False,
         loss="mse", batch=8, kernel=3, stride=2, padding=0, weight_decay=0.0),
    dict(name="cnn_nobn_ce", arch="cnn", shape=(3, 20, 20), hidden=(4, 6, 8), bn=False,
         loss="ce", batch=8, kernel=3, stride=2, padding=0, weight_decay=0.0),
]
LR = 0.05
MOMENTUM = 0.9
SIGMA_W2 = 2.0   # weight variance times fan-in
SIGMA_B2 = 0.05  # bias variance


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


def init_parameters(model):
    """W ~ N(0, SIGMA_W2 / fan_in), b ~ N(0, SIGMA_B2); BN gamma around 0.7 and beta around 0,
    varied per channel so that a channel mix-up or an ignored gamma/beta shows."""
    with torch.no_grad():
        for module in model:
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (SIGMA_W2 / fan_in) ** 0.5)
                module.bias.normal_(0.0, SIGMA_B2 ** 0.5)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.weight.copy_(0.7 + 0.1 * torch.randn_like(module.weight))
                module.bias.copy_(0.1 * torch.randn_like(module.bias))


def loss_fn(kind, logits, labels):
    if kind == "mse":
        onehot = F.one_hot(labels, N_CLASSES).to(logits.dtype)
        return 0.5 * ((logits - onehot) ** 2).sum(1).mean()
    return F.cross_entropy(logits, labels)


def spec_record(case):
    """arch, in_c, in_h, in_w, kernel, stride, padding, n_classes, batchnorm, loss."""
    return [ARCH_CODE[case["arch"]], *case["shape"], case.get("kernel", 0),
            case.get("stride", 0), case.get("padding", 0), N_CLASSES, int(case["bn"]),
            LOSS_CODE[case["loss"]]]


def setup_case(case, seed):
    """The case's network with its drawn parameters, a drawn batch and labels, and the records
    that describe them (spec, hidden, optim, input, labels, init/*)."""
    torch.manual_seed(seed)
    model = build_model(case)
    init_parameters(model)
    inputs = torch.randn(case["batch"], *case["shape"], dtype=torch.float32)
    labels = torch.randint(0, N_CLASSES, (case["batch"],))
    named = list(model.named_parameters())
    records = [
        ("spec", torch.tensor(spec_record(case), dtype=torch.float32)),
        ("hidden", torch.tensor(case["hidden"], dtype=torch.float32)),
        ("optim", torch.tensor([LR, MOMENTUM, case["weight_decay"]], dtype=torch.float32)),
        ("input", inputs),
        ("labels", labels.to(torch.float32)),
    ]
    records += [("init/" + name, p.detach().clone()) for name, p in named]
    return model, inputs, labels, named, records


def run_case(case, seed):
    model, inputs, labels, named, records = setup_case(case, seed)
    bn_modules = [(str(i), m) for i, m in enumerate(model)
                  if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]

    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                                weight_decay=case["weight_decay"])
    model.train()
    logits = model(inputs)
    loss = loss_fn(case["loss"], logits, labels)
    optimizer.zero_grad()
    loss.backward()
    records.append(("logits", logits.detach().clone()))
    records.append(("loss", loss.detach().reshape(1)))
    records += [("grad/" + name, p.grad.detach().clone()) for name, p in named]
    optimizer.step()

    logits2 = model(inputs)
    loss2 = loss_fn(case["loss"], logits2, labels)
    optimizer.zero_grad()
    loss2.backward()
    optimizer.step()
    records.append(("loss2", loss2.detach().reshape(1)))
    records += [("final/" + name, p.detach().clone()) for name, p in named]
    for index, bn in bn_modules:
        records.append(("running_mean/" + index, bn.running_mean.clone()))
        records.append(("running_var/" + index, bn.running_var.clone()))

    model.eval()
    with torch.no_grad():
        records.append(("eval_logits", model(inputs)))
    return records


LAYERS_SEED = 100
CONV_CASES = [  # name, kernel, stride, padding, bias, input side
    ("conv_k1s2p0_bias", 1, 2, 0, True, 9),
    ("conv_k1s2p0_nobias", 1, 2, 0, False, 9),
    ("conv_k3s1p1_bias", 3, 1, 1, True, 8),
    ("conv_k3s1p1_nobias", 3, 1, 1, False, 8),
]


def backward_records(prefix, inputs, output, params=()):
    """The layer's output, a drawn output gradient, and the gradients autograd gives for the
    input and each named parameter."""
    dout = torch.randn_like(output)
    output.backward(dout)
    records = [(prefix + "/output", output), (prefix + "/dout", dout),
               (prefix + "/din", inputs.grad)]
    return records + [(prefix + "/d" + name, p.grad) for name, p in params]


def layer_records():
    torch.manual_seed(LAYERS_SEED)
    records = []
    # max-pooling: 7 x 6 planes (the last row is never read); multiples of 0.5 in [-1.5, 1.5],
    # so that most windows hold ties, and one window all equal
    x = torch.randint(-3, 4, (2, 3, 7, 6)).to(torch.float32) * 0.5
    x[0, 0, :2, :2] = 1.0
    x.requires_grad_()
    records.append(("maxpool/input", x))
    records += backward_records("maxpool", x, F.max_pool2d(x, 2))

    x = torch.randn(3, 5, 4, 4, requires_grad=True)
    records.append(("avgpool/input", x))
    records += backward_records("avgpool", x, F.adaptive_avg_pool2d(x, 1).flatten(1))

    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    records.append(("residual/input", x))
    records += backward_records("residual", x, F.relu(x) + x)

    for name, kernel, stride, padding, bias, side in CONV_CASES:
        conv = nn.Conv2d(4, 6, kernel, stride=stride, padding=padding, bias=bias)
        x = torch.randn(3, 4, side, side, requires_grad=True)
        records += [(name + "/geometry", torch.tensor([kernel, stride, padding],
                                                      dtype=torch.float32)),
                    (name + "/input", x), (name + "/weight", conv.weight)]
        params = [("weight", conv.weight)]
        if bias:
            records.append((name + "/bias", conv.bias))
            params.append(("bias", conv.bias))
        records += backward_records(name, x, conv(x), params)
    return records


# ---- deep networks (issue 21): VGG16 and PreAct-ResNets on real CIFAR-10 images ----
# Built as src/engine/architectures.c builds them, with modules registered in the engine's
# parameter order. Their input is the first DEEP_BATCH images of CIFAR-10's test batch,
# normalised as the engine normalises them; the fixture does not hold the images (the data is
# never committed): test_parity loads them from ../shared/data and checks the input's sum.
ARCH_DEEP_CODE = {"vgg16": 2, "preact-resnet": 3}
DEEP_BATCH = 8
DEEP_STEPS = 3
DEEP_LR = 0.1
DEEP_CASES = [
    dict(name="deep_vgg16", arch="vgg16", depth=16, width_mult=1 / 32),
    dict(name="deep_preact_resnet18", arch="preact-resnet", depth=18, width_mult=1 / 32),
    dict(name="deep_preact_resnet20", arch="preact-resnet", depth=20, width_mult=0.25),
]
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


def cifar10_members(path):
    """The binary batches of the CIFAR-10 archive, by file name."""
    import tarfile
    members = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if name.endswith(".bin"):
                members[name] = tar.extractfile(member).read()
    return members


def cifar10_images(data_root, count):
    """The first count test images and labels, normalised as src/data/data.c does: by the
    training set's per-channel mean and population standard deviation of the pixels scaled to
    [0, 1], from a histogram summed in the same order, in double, then rounded to float."""
    members = cifar10_members(os.path.join(data_root, "cifar10", "cifar-10-binary.tar.gz"))
    record = 1 + 3 * 1024
    histogram = [[0] * 256 for _ in range(3)]
    for b in range(1, 6):
        data = torch.frombuffer(bytearray(members["data_batch_%d.bin" % b]), dtype=torch.uint8)
        pixels = data.reshape(-1, record)[:, 1:].reshape(-1, 3, 1024)
        for c in range(3):
            counts = torch.bincount(pixels[:, c, :].flatten(), minlength=256).tolist()
            histogram[c] = [h + n for h, n in zip(histogram[c], counts)]
    table = torch.empty(3, 256, dtype=torch.float32)
    for c in range(3):
        total = float(sum(histogram[c]))
        mean = sum(histogram[c][v] * (v / 255.0) for v in range(256)) / total
        var = sum(histogram[c][v] * (v / 255.0 - mean) ** 2 for v in range(256)) / total
        for v in range(256):
            table[c, v] = (v / 255.0 - mean) / var ** 0.5
    test = torch.frombuffer(bytearray(members["test_batch.bin"]), dtype=torch.uint8)
    test = test.reshape(-1, record)[:count]
    labels = test[:, 0].to(torch.int64)
    pixels = test[:, 1:].reshape(count, 3, 1024).to(torch.int64)
    images = torch.stack([table[c][pixels[:, c, :]] for c in range(3)], dim=1)
    return images.reshape(count, 3, 32, 32), labels


def build_deep(case):
    if case["arch"] == "vgg16":
        return VGG16(case["width_mult"])
    return PreActResNet(case["depth"], case["width_mult"])


def run_deep_case(case, seed, data_root):
    """PyTorch's default initialisation (the engine's INIT_PYTORCH draws its own numbers, so
    the fixture's are loaded); BatchNorm gamma and beta varied per channel as in CASES."""
    torch.manual_seed(seed)
    model = build_deep(case)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(0.7 + 0.1 * torch.randn_like(module.weight))
                module.bias.copy_(0.1 * torch.randn_like(module.bias))
    inputs, labels = cifar10_images(data_root, DEEP_BATCH)
    named = list(model.named_parameters())
    bn_modules = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    spec = [ARCH_DEEP_CODE[case["arch"]], 3, 32, 32, 0, 0, 0, N_CLASSES, 1, LOSS_CODE["ce"]]
    records = [
        ("spec", torch.tensor(spec, dtype=torch.float32)),
        ("deep", torch.tensor([case["depth"], case["width_mult"]], dtype=torch.float32)),
        ("optim", torch.tensor([DEEP_LR, MOMENTUM, 5e-4], dtype=torch.float32)),
        ("input_source", torch.tensor([0, DEEP_BATCH], dtype=torch.float32)),
        ("input_sum", torch.tensor([inputs.double().sum().item()], dtype=torch.float32)),
        ("parameters", torch.tensor([sum(p.numel() for p in model.parameters())],
                                    dtype=torch.float32)),
        ("labels", labels.to(torch.float32)),
    ]
    records += [("init/" + name, p.detach().clone()) for name, p in named]
    optimizer = torch.optim.SGD(model.parameters(), lr=DEEP_LR, momentum=MOMENTUM,
                                weight_decay=5e-4)
    model.train()
    for step in range(1, DEEP_STEPS + 1):
        logits = model(inputs)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        if step == 1:
            records.append(("logits", logits.detach().clone()))
            records.append(("loss", loss.detach().reshape(1)))
            records += [("grad/" + name, p.grad.detach().clone()) for name, p in named]
        else:
            records.append(("loss%d" % step, loss.detach().reshape(1)))
        optimizer.step()
    records += [("final/" + name, p.detach().clone()) for name, p in named]
    for name, bn in bn_modules:
        records.append(("running_mean/" + name, bn.running_mean.clone()))
        records.append(("running_var/" + name, bn.running_var.clone()))
    model.eval()
    with torch.no_grad():
        records.append(("eval_logits", model(inputs)))
    return records


PROBE_CASES = [  # `bntrain probe`'s statistics on a 3-layer fc net (2 hidden + output)
    dict(name="probe_fc_bn", arch="fc", shape=(1, 6, 6), hidden=(12, 8), bn=True, loss="mse",
         batch=16, weight_decay=0.0),
    dict(name="probe_fc_nobn", arch="fc", shape=(1, 6, 6), hidden=(12, 8), bn=False,
         loss="mse", batch=16, weight_decay=0.0),
]


def probe_records(case, seed):
    """What src/probe computes (bntrain/probe.h), here in float64 from PyTorch's float32
    activations and gradients of one train-mode pass: per Linear layer the mean and std over
    channels (ddof 0) of |channel mean| and biased channel variance of its output, |dL/dW| and
    |dL/dW| / |W|, the eigenvalues (descending) of E[x x^T] over its inputs and of E[g g^T]
    over g = batch * dL/dh; per class |mean_b batch * dL/dz_j| and its std (ddof 0)."""
    model, inputs, labels, _, records = setup_case(case, seed)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    seen = {}

    def keep(module, args, output):
        output.retain_grad()
        seen[module] = (args[0].detach().clone(), output)

    hooks = [m.register_forward_hook(keep) for m in linears]
    model.train()
    logits = model(inputs)
    loss = loss_fn(case["loss"], logits, labels)
    loss.backward()
    for h in hooks:
        h.remove()
    n = case["batch"]
    moments, gradients = [], []
    for k, module in enumerate(linears, start=1):
        x, h = seen[module]
        out = h.detach().double()
        abs_mean, var = out.mean(0).abs(), out.var(0, unbiased=False)
        moments.append([abs_mean.mean(), abs_mean.std(unbiased=False), var.mean(),
                        var.std(unbiased=False)])
        g_norm, w_norm = module.weight.grad.double().norm(), module.weight.detach().double().norm()
        gradients.append([g_norm, g_norm / w_norm])
        xd, gd = x.double().reshape(n, -1), n * h.grad.double()
        for tag, v in (("input", xd), ("outgrad", gd)):
            eig = torch.linalg.eigvalsh(v.T @ v / n).flip(0)
            records.append(("probe/%s_eig/%d" % (tag, k), eig))
    dz = n * logits.grad.double() if logits.grad is not None else None
    if dz is None:
        dz = n * seen[linears[-1]][1].grad.double()
    records.append(("probe/moments", torch.tensor(moments, dtype=torch.float64)))
    records.append(("probe/gradients", torch.tensor(gradients, dtype=torch.float64)))
    records.append(("probe/dlogit", torch.stack([dz.mean(0).abs(), dz.std(0, unbiased=False)], 1)))
    records.append(("loss", loss.detach().reshape(1)))
    return records


def encode(records):
    out = [b"BNFX", struct.pack("<II", FORMAT_VERSION, len(records))]
    for name, tensor in records:
        data = tensor.detach().to(torch.float32).contiguous()
        name_bytes = name.encode("ascii")
        out.append(struct.pack("<I", len(name_bytes)) + name_bytes)
        out.append(struct.pack("<I", data.dim()) + struct.pack("<%dI" % data.dim(), *data.shape))
        out.append(struct.pack("<%df" % data.numel(), *data.flatten().tolist()))
    return b"".join(out)


def write_atomically(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["small", "layers", "deep", "probe"],
                        help="write only these fixtures (default: all)")
    parser.add_argument("--data", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"),
        help="the data root holding cifar10/cifar-10-binary.tar.gz (deep fixtures)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    if args.only in (None, "deep"):
        for seed, case in enumerate(DEEP_CASES, start=101):
            payload = encode(run_deep_case(case, seed, args.data))
            write_atomically(os.path.join(out_dir, case["name"] + ".bin"), payload)
            total += len(payload)
            print("%-22s %7d bytes" % (case["name"], len(payload)))
    if args.only not in (None, "small"):
        cases = []
    else:
        cases = CASES
    for seed, case in enumerate(cases, start=1):
        payload = encode(run_case(case, seed))
        write_atomically(os.path.join(out_dir, case["name"] + ".bin"), payload)
        total += len(payload)
        print("%-14s %7d bytes" % (case["name"], len(payload)))
    if args.only in (None, "probe"):
        for seed, case in enumerate(PROBE_CASES, start=201):
            payload = encode(probe_records(case, seed))
            write_atomically(os.path.join(out_dir, case["name"] + ".bin"), payload)
            total += len(payload)
            print("%-14s %7d bytes" % (case["name"], len(payload)))
    if args.only in (None, "layers"):
        payload = encode(layer_records())
        write_atomically(os.path.join(out_dir, "layers.bin"), payload)
        total += len(payload)
        print("%-14s %7d bytes" % ("layers", len(payload)))
    print("total %d bytes (torch %s)" % (total, torch.__version__))


if __name__ == "__main__":
    main()
