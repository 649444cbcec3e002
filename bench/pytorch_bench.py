#!/usr/bin/python3
"""Training throughput of the paper's networks in PyTorch, to compare with bench_throughput.

Same networks (fc: 784-1000-1000-1000-10; cnn: 3x3 stride-2 convs with 30, 60, 90 channels,
then linear 10; BN and ReLU after every hidden layer), same data (MNIST IDX gz, CIFAR-10
binary tar.gz, scaled to [0, 1] and normalised per channel with the training set's mean and
population std, as bntrain does), same init (W ~ N(0, 2/fan_in), b ~ N(0, 0.5), BN gamma 1,
beta 0), SGD momentum 0.9, lr 0.01, batch 128, loss 1/2 ||logits - onehot||^2 averaged over
the batch.

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

FC_WIDTHS = (1000, 1000, 1000)
CNN_CHANNELS = (30, 60, 90)
SIGMA_W2, SIGMA_B2, LR, MOMENTUM = 2.0, 0.5, 0.01, 0.9
CIFAR_MEMBERS = ["data_batch_%d.bin" % i for i in range(1, 6)]
# A worker that died must not hang the benchmark: the slowest configuration takes about 30 s.
WAIT_SECONDS = 600
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
    """The first n_keep images as float32, normalised with the statistics of all of them.
    The moments come from a histogram of byte values, as bntrain computes them."""
    channels = pixels.shape[1]
    out = np.empty((n_keep,) + pixels.shape[1:], np.float32)
    values = np.arange(256) / 255.0
    for c in range(channels):
        counts = np.bincount(pixels[:, c].ravel(), minlength=256).astype(np.float64)
        mean = (counts * values).sum() / counts.sum()
        std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
        table = ((values - mean) / std).astype(np.float32)
        out[:, c] = table[pixels[:n_keep, c]]
    return out


def load_training_subset(dataset, root, n_keep):
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    pixels, labels = loaders[dataset](root)
    if n_keep > len(labels):
        raise ValueError("%d samples requested, %s has %d" % (n_keep, dataset, len(labels)))
    return normalised(pixels, n_keep), labels[:n_keep].astype(np.int64)


# ---- network ----------------------------------------------------------------------------


def build_network(arch, shape):
    import torch.nn as nn

    layers = []
    if arch == "fc":
        width = int(np.prod(shape))
        layers.append(nn.Flatten())
        for units in FC_WIDTHS:
            layers += [nn.Linear(width, units), nn.BatchNorm1d(units), nn.ReLU()]
            width = units
    else:
        channels, height, side = shape
        for out_channels in CNN_CHANNELS:
            layers += [nn.Conv2d(channels, out_channels, 3, stride=2),
                       nn.BatchNorm2d(out_channels), nn.ReLU()]
            channels, height, side = out_channels, (height - 3) // 2 + 1, (side - 3) // 2 + 1
        layers.append(nn.Flatten())
        width = channels * height * side
    layers.append(nn.Linear(width, 10))
    network = nn.Sequential(*layers)
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


def train_steps(network, optimiser, images, onehot, order, batch, first, count):
    loss = None
    for step in range(first, first + count):
        index = order[step * batch : (step + 1) * batch]
        x, y = images[index], onehot[index]
        optimiser.zero_grad(set_to_none=True)
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
    steps = args.warmup + args.steps
    images_np, labels_np = load_training_subset(args.dataset, args.data_dir, steps * args.batch)
    images = torch.from_numpy(images_np)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(labels_np), 10).float()
    network = build_network(args.arch, images.shape[1:])
    optimiser = torch.optim.SGD(network.parameters(), lr=LR, momentum=MOMENTUM)
    network.train()
    order = torch.randperm(len(images))
    train_steps(network, optimiser, images, onehot, order, args.batch, 0, args.warmup)
    barrier.wait(timeout=WAIT_SECONDS)  # the processes start their timed steps together
    start = time.perf_counter()
    loss = train_steps(network, optimiser, images, onehot, order, args.batch, args.warmup,
                       args.steps)
    seconds = time.perf_counter() - start
    results.put({"samples_per_s": args.steps * args.batch / seconds, "loss": loss,
                 "core": core, "blas_threads": blas_threads,
                 "torch_threads": torch.get_num_threads()})


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
    return sum(o["samples_per_s"] for o in outcome), outcome[0]["core"]


# ---- report -----------------------------------------------------------------------------


def describe_torch():
    """The lines of torch's build configuration that say which BLAS and DNN library it uses."""
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
    blas_files = sorted({l.split()[-1] for l in open("/proc/self/maps")
                         if "blas" in l or "dnnl" in l})
    return torch.__version__, lines, blas_files


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=("fc", "cnn"), default="fc")
    p.add_argument("--dataset", choices=("mnist", "cifar10"))
    p.add_argument("--data-dir", default=os.environ.get("BNTRAIN_DATA", "data"))
    p.add_argument("--steps", type=int, default=300, help="timed steps per process")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--configs", default="single,threads,procs",
                   help="comma-separated, from " + ",".join(CONFIGS))
    args = p.parse_args()
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        p.error("unknown configuration(s): " + ",".join(sorted(unknown)))
    args.dataset = args.dataset or ("mnist" if args.arch == "fc" else "cifar10")
    return args


def main():
    args = parse_args()
    version, config_lines, blas_files = describe_torch()
    print("PyTorch %s, %s on %s, batch %d, %d cores" % (version, args.arch, args.dataset,
                                                          args.batch, args.cores))
    for line in config_lines:
        print("  torch config: " + line)
    print("  loaded BLAS/DNN libraries: " + " ".join(blas_files))
    rates, core = {}, "unknown"
    for name in args.configs.split(","):
        processes, threads, wait_policy = CONFIGS[name](args.cores)
        rates[name], core = run_config(args, processes, threads, wait_policy)
        print("  %-14s %d process(es) x %d thread(s)%s: %.1f samples/s"
              % (name, processes, threads, ", OMP_WAIT_POLICY=" + wait_policy if wait_policy
                 else "", rates[name]))
    all_core = {k: v for k, v in rates.items() if k != "single"}
    best = max(all_core, key=all_core.get) if all_core else "single"
    print("  OpenBLAS kernel inside torch: %s; best all-core configuration: %s" % (core, best))
    fields = ["mode=pytorch", "arch=" + args.arch, "dataset=" + args.dataset,
              "cores=%d" % args.cores, "kernel=" + core, "best_config=" + best,
              "best_samples_per_s=%.2f" % rates[best]]
    fields += ["%s_samples_per_s=%.2f" % (k, v) for k, v in rates.items()]
    print("result " + " ".join(fields))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, RuntimeError) as e:
        print("pytorch_bench: %s" % e, file=sys.stderr)
        sys.exit(1)
