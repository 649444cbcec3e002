#!/usr/bin/python3
"""Steady-state training throughput of bntrain's networks in PyTorch, to compare with
bench_throughput.

Same networks, from tests/torch_models.py, the definitions the parity fixtures check bntrain
against (fc: 784-1000-1000-1000-10; cnn: 3x3 stride-2 convs with 30, 60, 90 channels, then
linear 10; BN and ReLU after every hidden layer; vgg16, preact-resnet18, preact-resnetN with
--width-mult), same data (MNIST IDX gz, CIFAR-10 binary tar.gz, scaled to [0, 1] and
normalised per channel with the training set's mean and population std, as bntrain does), same
init (fc, cnn: W ~ N(0, 2/fan_in), b ~ N(0, 0.5), BN gamma 1, beta 0; the deep networks:
PyTorch's default, as bntrain's INIT_PYTORCH), the same augmentation for the deep networks
(random crop with 4-pixel padding by a raw 0 pixel, horizontal flip; --augment), SGD momentum
0.9, lr 0.01, batch 128, loss 1/2 ||logits - onehot||^2 averaged over the batch (bntrain's
defaults) for fc and cnn, cross-entropy for the deep networks (as the paper's Fig. 4 trains
them: with the squared loss a full-width VGG16 diverged at lr 0.01 on the bench's batches, and a
diverged run's throughput means nothing; bench_throughput does the same).

Timing (bench/steady_state.py, the rule of bench_throughput): windows of --window steps until
two in a row agree within --tolerance after at least --min-warmup steps, then whole windows
for at least --min-seconds. The steps cycle over the first --window batches of the training
set, as bench_throughput's windows do.

Configurations, each in fresh processes so that thread settings cannot leak:
  single          one process, 1 thread (OpenMP and OpenBLAS)
  threads         one process, all cores (torch.set_num_threads(cores), OpenBLAS likewise),
                  OMP_WAIT_POLICY=passive
  procs           one single-threaded process per core at once, throughputs summed (a grid)
  threads-active  as threads, with GNU OpenMP's default (active) waiting; not run by default
PyTorch's best all-core number is the best of those run other than single.

Why passive waiting: torch's linear layers call OpenBLAS, which runs its own pthreads, while
torch's idle OpenMP workers spin on the same cores; with the default policy 2 torch threads
ran the FC net about 4 times slower than 1 thread on a 2-core machine (1806 against 7468
samples/s with passive waiting).

Run with Debian's python3-torch: /usr/bin/python3 bench/pytorch_bench.py --arch fc
The last line is `result key=value ...` for bench/run.sh.
"""

import argparse
import gzip
import multiprocessing as mp
import os
import queue
import struct
import sys
import tarfile
import time

import numpy as np

import steady_state

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import torch_models  # noqa: E402 -- after the path to tests/

FC_WIDTHS = (1000, 1000, 1000)
CNN_CHANNELS = (30, 60, 90)
AUGMENT_PAD = 4
SIGMA_W2, SIGMA_B2, LR, MOMENTUM = 2.0, 0.5, 0.01, 0.9
CIFAR_MEMBERS = ["data_batch_%d.bin" % i for i in range(1, 6)]
# A worker that died must not hang the benchmark; a deep network's warm-up at full width can
# take minutes on one core.
WAIT_SECONDS = 3600
# name -> (processes, threads per process, OMP_WAIT_POLICY or None), given the core count
CONFIGS = {
    "single": lambda cores: (1, 1, None),
    "threads": lambda cores: (1, cores, "passive"),
    "procs": lambda cores: (cores, 1, None),
    "threads-active": lambda cores: (1, cores, None),
}


# ---- data -------------------------------------------------------------------------------


def read_idx(path, expected_magic):
    """An IDX file (gzip or raw): returns the array with its header's shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        raise ValueError("%s: bad IDX magic 0x%08x" % (path, magic))
    n_dims = magic & 0xFF
    dims = struct.unpack(">" + "I" * n_dims, data[4 : 4 + 4 * n_dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * n_dims).reshape(dims)


def load_mnist(root):
    folder = os.path.join(root, "mnist")

    def find(stem):
        for name in (stem + ".gz", stem):
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        raise FileNotFoundError("%s/%s(.gz) is missing" % (folder, stem))

    images = read_idx(find("train-images-idx3-ubyte"), 0x803)
    labels = read_idx(find("train-labels-idx1-ubyte"), 0x801)
    return images.reshape(-1, 1, 28, 28), labels


def cifar_records(blob):
    records = np.frombuffer(blob, np.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0]


def load_cifar10(root):
    folder = os.path.join(root, "cifar10")
    extracted = os.path.join(folder, "cifar-10-batches-bin")
    blobs = []
    if os.path.isdir(extracted):
        for name in CIFAR_MEMBERS:
            with open(os.path.join(extracted, name), "rb") as f:
                blobs.append(f.read())
    else:
        with tarfile.open(os.path.join(folder, "cifar-10-binary.tar.gz"), "r:gz") as tar:
            for name in CIFAR_MEMBERS:
                blobs.append(tar.extractfile("cifar-10-batches-bin/" + name).read())
    parts = [cifar_records(b) for b in blobs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def normalised(pixels, n_keep):
    """The first n_keep images as float32, normalised with the statistics of all of them, and
    each channel's value of a raw 0 pixel (augmentation pads with it, as bntrain does).
    The moments come from a histogram of byte values, as bntrain computes them."""
    channels = pixels.shape[1]
    out = np.empty((n_keep,) + pixels.shape[1:], np.float32)
    zero = np.empty(channels, np.float32)
    values = np.arange(256) / 255.0
    for c in range(channels):
        counts = np.bincount(pixels[:, c].ravel(), minlength=256).astype(np.float64)
        mean = (counts * values).sum() / counts.sum()
        std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
        table = ((values - mean) / std).astype(np.float32)
        out[:, c] = table[pixels[:n_keep, c]]
        zero[c] = table[0]
    return out, zero


def load_training_subset(dataset, root, n_keep):
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    pixels, labels = loaders[dataset](root)
    if n_keep > len(labels):
        raise ValueError("%d samples requested, %s has %d" % (n_keep, dataset, len(labels)))
    images, zero = normalised(pixels, n_keep)
    return images, zero, labels[:n_keep].astype(np.int64)


# ---- network ----------------------------------------------------------------------------


def deep_depth(arch):
    """vgg16: 16; preact-resnetN: N (18, or 6n + 2 from 8); fc, cnn: 0; else ValueError."""
    if arch in ("fc", "cnn"):
        return 0
    if arch == "vgg16":
        return 16
    depth = arch[len("preact-resnet"):]
    if arch.startswith("preact-resnet") and depth.isdigit():
        n = int(depth)
        if n == 18 or (n >= 8 and (n - 2) % 6 == 0):
            return n
    raise ValueError("--arch %s: not fc, cnn, vgg16, preact-resnet18 or preact-resnetN "
                     "(N = 6n + 2)" % arch)


def build_network(arch, shape, width_mult):
    """bntrain's network, from tests/torch_models.py; the paper's nets drawn as bntrain draws
    them, the deep ones with PyTorch's default initialisation (bntrain's INIT_PYTORCH)."""
    import torch.nn as nn

    if arch == "vgg16":
        return torch_models.VGG16(width_mult)
    if arch.startswith("preact-resnet"):
        return torch_models.PreActResNet(deep_depth(arch), width_mult)
    hidden = FC_WIDTHS if arch == "fc" else CNN_CHANNELS
    network = torch_models.build_model(dict(arch=arch, shape=tuple(shape), hidden=hidden, bn=True,
                                            kernel=3, stride=2, padding=0))
    for m in network.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, 0.0, (SIGMA_W2 / fan_in) ** 0.5)
            nn.init.normal_(m.bias, 0.0, SIGMA_B2 ** 0.5)
    return network  # BatchNorm's default init is gamma 1, beta 0


# ---- one worker process -----------------------------------------------------------------


def set_thread_environment(threads, wait_policy):
    """For the processes spawned next. OpenBLAS reads its thread count once, when it is loaded,
    and numpy loads it as soon as this script is imported, before any worker code runs."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    if wait_policy:
        os.environ["OMP_WAIT_POLICY"] = wait_policy
    else:
        os.environ.pop("OMP_WAIT_POLICY", None)


def openblas(threads):
    """Sets and checks the thread count of the OpenBLAS that numpy and torch loaded (one
    library per process); returns its kernel family and thread count."""
    import ctypes

    try:
        lib = ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return "none", 0
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_set_num_threads(threads)
    return lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()


def augmented(x, pad_value, generator):
    """Random crop of the image padded by AUGMENT_PAD pixels of pad_value (per channel), and a
    horizontal flip with probability 1/2, per sample: bntrain's --augment."""
    import torch

    n, _, height, width = x.shape
    padded = pad_value.view(1, -1, 1, 1).expand(n, -1, height + 2 * AUGMENT_PAD,
                                                  width + 2 * AUGMENT_PAD).clone()
    padded[:, :, AUGMENT_PAD:AUGMENT_PAD + height, AUGMENT_PAD:AUGMENT_PAD + width] = x
    offsets = torch.randint(0, 2 * AUGMENT_PAD + 1, (n, 2), generator=generator).tolist()
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.stack([padded[i, :, dy:dy + height, dx:dx + width]
                       for i, (dy, dx) in enumerate(offsets)])
    return torch.where(flips.view(-1, 1, 1, 1), out.flip(3), out)


class Steps:
    """The training steps, called by the steady-state timing: run(count) trains count steps,
    cycling over the loaded batches, and returns their seconds."""

    def __init__(self, network, optimiser, images, onehot, pad_value, batch, augment):
        import torch

        self.network, self.optimiser, self.images, self.onehot = network, optimiser, images, onehot
        self.pad_value, self.batch, self.augment = pad_value, batch, augment
        self.order, self.step, self.loss = torch.randperm(len(images)), 0, 0.0
        self.n_batches = len(images) // batch
        self.generator = torch.Generator().manual_seed(1)
        self.cross_entropy = False

    def __call__(self, count):
        start = time.perf_counter()
        for _ in range(count):
            first = (self.step % self.n_batches) * self.batch
            index = self.order[first:first + self.batch]
            x, y = self.images[index], self.onehot[index]
            if self.augment:
                x = augmented(x, self.pad_value, self.generator)
            self.loss = train_step(self.network, self.optimiser, x, y, self.cross_entropy)
            self.step += 1
        return time.perf_counter() - start


def train_step(network, optimiser, x, y, cross_entropy):
    import torch

    optimiser.zero_grad(set_to_none=True)
    if cross_entropy:
        loss = torch.nn.functional.cross_entropy(network(x), y.argmax(1))
    else:
        loss = 0.5 * (network(x) - y).pow(2).sum(1).mean()
    loss.backward()
    optimiser.step()
    return float(loss)


def worker(args, threads, seed, barrier, results):
    """Runs one process's measurement; a failure is reported through the queue, so that the
    parent says what went wrong instead of waiting for a result."""
    try:
        measure(args, threads, seed, barrier, results)
    except Exception as e:  # noqa: BLE001 -- any failure, passed on as text
        barrier.abort()  # the other processes of this configuration stop waiting
        results.put({"error": "%s: %s" % (type(e).__name__, e)})


def measure(args, threads, seed, barrier, results):
    import torch

    torch.set_num_threads(threads)
    core, blas_threads = openblas(threads)
    torch.manual_seed(seed)
    options = steady_options(args)
    images_np, zero, labels_np = load_training_subset(args.dataset, args.data_dir,
                                                      options.window_steps * args.batch)
    images = torch.from_numpy(images_np)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(labels_np), 10).float()
    network = build_network(args.arch, images.shape[1:], args.width_mult)
    optimiser = torch.optim.SGD(network.parameters(), lr=LR, momentum=MOMENTUM)
    network.train()
    steps = Steps(network, optimiser, images, onehot, torch.from_numpy(zero), args.batch,
                  args.augment == "on")
    steps.cross_entropy = deep_depth(args.arch) > 0
    warmup_steps, steady = steady_state.warm_up(options, steps)
    barrier.wait(timeout=WAIT_SECONDS)  # the processes start their timed steps together
    timed_steps, seconds = steady_state.time_windows(options, steps)
    results.put({"samples_per_s": timed_steps * args.batch / seconds, "loss": steps.loss,
                 "warmup_steps": warmup_steps, "steady": steady, "timed_steps": timed_steps,
                 "seconds": seconds, "core": core, "blas_threads": blas_threads,
                 "torch_threads": torch.get_num_threads()})


def steady_options(args):
    return steady_state.SteadyOptions(window_steps=args.window, min_warmup_steps=args.min_warmup,
                                      max_warmup_steps=args.max_warmup,
                                      tolerance=args.tolerance, min_seconds=args.min_seconds)


def run_config(args, processes, threads, wait_policy):
    """Samples/s summed over `processes` concurrent processes of `threads` threads each."""
    set_thread_environment(threads, wait_policy)
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=worker, args=(args, threads, 1 + i, barrier, results))
               for i in range(processes)]
    for w in workers:
        w.start()
    try:
        outcome = [results.get(timeout=WAIT_SECONDS) for _ in workers]
    except queue.Empty:
        for w in workers:
            w.terminate()
        raise RuntimeError("a PyTorch worker gave no result in %d s" % WAIT_SECONDS)
    errors = [o["error"] for o in outcome if "error" in o]
    if errors:
        for w in workers:
            w.join()
        raise RuntimeError("a PyTorch worker failed: " + errors[0])
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise RuntimeError("a PyTorch worker failed (exit %d)" % w.exitcode)
    if not all(np.isfinite(o["loss"]) for o in outcome):
        raise RuntimeError("a PyTorch run diverged: its throughput would mean nothing")
    if any(o["blas_threads"] != threads or o["torch_threads"] != threads for o in outcome):
        raise RuntimeError("a PyTorch worker runs %d torch and %d OpenBLAS threads, not %d"
                           % (outcome[0]["torch_threads"], outcome[0]["blas_threads"], threads))
    return sum(o["samples_per_s"] for o in outcome), outcome


# ---- report -----------------------------------------------------------------------------


def describe_torch():
    """The lines of torch's build configuration that say which BLAS and DNN library it uses,
    torch's parallel settings in this (parent) process, and the libraries it loaded."""
    import torch

    keys = ("BLAS", "LAPACK", "MKL", "DNN", "OpenMP", "CPU capability")
    lines = []
    for line in torch.__config__.show().splitlines():
        line = line.strip(" -")
        if line.startswith("Build settings:"):
            lines += [s.strip() for s in line[len("Build settings:"):].split(",")
                      if any(k in s for k in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN"))]
        elif any(k in line for k in keys):
            lines.append(line)
    lines.append("oneDNN (mkldnn) available: %s" % torch.backends.mkldnn.is_available())
    lines += [line.strip() for line in torch.__config__.parallel_info().splitlines()
              if "threads" in line or "backend" in line]
    blas_files = sorted({l.split()[-1] for l in open("/proc/self/maps")
                         if "blas" in l or "dnnl" in l})
    return torch.__version__, lines, blas_files


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="fc",
                   help="fc, cnn, vgg16, preact-resnet18, preact-resnetN (N = 6n + 2)")
    p.add_argument("--width-mult", type=float, default=1.0,
                   help="vgg16, preact-resnet: every channel count times this")
    p.add_argument("--augment", choices=("on", "off"),
                   help="random crop and flip (default on for vgg16 and preact-resnet)")
    p.add_argument("--dataset", choices=("mnist", "cifar10"))
    p.add_argument("--data-dir", default=os.environ.get("BNTRAIN_DATA", "data"))
    defaults = steady_state.SteadyOptions()
    p.add_argument("--window", type=int, default=defaults.window_steps,
                   help="steps per timing window")
    p.add_argument("--min-warmup", type=int, default=defaults.min_warmup_steps,
                   help="warm up at least this many steps, until two windows agree")
    p.add_argument("--max-warmup", type=int, default=defaults.max_warmup_steps,
                   help="stop waiting for two windows to agree after this many steps")
    p.add_argument("--tolerance", type=float, default=defaults.tolerance,
                   help="two windows agree if they differ by at most this fraction")
    p.add_argument("--min-seconds", type=float, default=defaults.min_seconds,
                   help="time whole windows for at least this many seconds")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--configs", default="single,threads,procs",
                   help="comma-separated, from " + ",".join(CONFIGS))
    args = p.parse_args()
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        p.error("unknown configuration(s): " + ",".join(sorted(unknown)))
    try:
        deep = deep_depth(args.arch) > 0
    except ValueError as e:
        p.error(str(e))
    if min(args.window, args.batch, args.cores, args.max_warmup) < 1 or args.min_warmup < 0:
        p.error("--window, --batch, --cores and --max-warmup must be positive")
    if args.max_warmup < args.min_warmup:
        p.error("--max-warmup %d is below --min-warmup %d" % (args.max_warmup, args.min_warmup))
    if not (args.tolerance > 0 and args.min_seconds > 0 and args.width_mult > 0):
        p.error("--tolerance, --min-seconds and --width-mult must be positive")
    args.dataset = args.dataset or ("mnist" if args.arch == "fc" else "cifar10")
    args.augment = args.augment or ("on" if deep else "off")
    return args


def main():
    args = parse_args()
    version, config_lines, blas_files = describe_torch()
    print("PyTorch %s, %s (width x%g, augmentation %s) on %s, batch %d, %d cores"
          % (version, args.arch, args.width_mult, args.augment, args.dataset, args.batch,
             args.cores))
    for line in config_lines:
        print("  torch config: " + line)
    print("  loaded BLAS/DNN libraries: " + " ".join(blas_files))
    print("  timing: windows of %d steps until two agree within %.0f %% after at least %d "
          "steps (at most %d), then at least %.1f s" % (args.window, 100 * args.tolerance,
                                                        args.min_warmup, args.max_warmup,
                                                        args.min_seconds))
    rates, steady, core = {}, True, "unknown"
    for name in args.configs.split(","):
        processes, threads, wait_policy = CONFIGS[name](args.cores)
        rates[name], outcome = run_config(args, processes, threads, wait_policy)
        core = outcome[0]["core"]
        steady &= all(o["steady"] for o in outcome)
        print("  %-14s %d process(es) x %d torch thread(s), %d OpenBLAS thread(s)%s: "
              "%.1f samples/s (%s)"
              % (name, processes, outcome[0]["torch_threads"], outcome[0]["blas_threads"],
                 ", OMP_WAIT_POLICY=" + wait_policy if wait_policy else "", rates[name],
                 "; ".join("%d steps in %.2f s after %d warm-up steps%s"
                           % (o["timed_steps"], o["seconds"], o["warmup_steps"],
                              "" if o["steady"] else ", NOT STEADY") for o in outcome)))
    all_core = {k: v for k, v in rates.items() if k != "single"}
    best = max(all_core, key=all_core.get) if all_core else "single"
    print("  OpenBLAS kernel inside torch: %s; best all-core configuration: %s" % (core, best))
    fields = ["mode=pytorch", "arch=" + args.arch, "dataset=" + args.dataset,
              "width_mult=%g" % args.width_mult, "augment=%d" % (args.augment == "on"),
              "cores=%d" % args.cores, "kernel=" + core, "steady=%d" % steady,
              "best_config=" + best, "best_samples_per_s=%.2f" % rates[best]]
    fields += ["%s_samples_per_s=%.2f" % (k, v) for k, v in rates.items()]
    print("result " + " ".join(fields))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, RuntimeError) as e:
        print("pytorch_bench: %s" % e, file=sys.stderr)
        sys.exit(1)
