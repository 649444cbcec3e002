#!/usr/bin/env python3
"""Builds data/mnist-sample/, the small real MNIST subset bundled for a quick start without a
download: the first 4000 training and the first 1000 test images with their labels, in the same
IDX .gz layout as the full MNIST. Re-running gives byte-identical files (gzip mtime 0, no file
name in the gzip header, fixed compression level).

Usage: scripts/make_mnist_sample.py [--source DIR] [--dest DIR]
  --source  folder with the full MNIST .gz files
            (default: $BNTRAIN_SHARED_DATA/mnist, else <repo>/../shared/data/mnist)
  --dest    output folder (default: <repo>/data/mnist-sample)

Python 3 standard library only.
"""
import argparse
import gzip
import hashlib
import os
import struct
import sys

N_TRAIN = 4000
N_TEST = 1000
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# (file name, expected magic, how many items the sample keeps)
FILES = [
    ("train-images-idx3-ubyte.gz", IMAGES_MAGIC, N_TRAIN),
    ("train-labels-idx1-ubyte.gz", LABELS_MAGIC, N_TRAIN),
    ("t10k-images-idx3-ubyte.gz", IMAGES_MAGIC, N_TEST),
    ("t10k-labels-idx1-ubyte.gz", LABELS_MAGIC, N_TEST),
]


def fail(message):
    sys.exit("make_mnist_sample.py: " + message)


def read_idx(path, magic):
    """Returns (dims, payload) of an IDX file, after checking its magic and exact length."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"{path}: {e}")
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != magic:
        fail(f"{path}: not an IDX file with magic 0x{magic:08x}")
    n_dims = magic & 0xFF
    header_bytes = 4 + 4 * n_dims
    dims = list(struct.unpack(f">{n_dims}I", data[4:header_bytes]))
    item_bytes = 1
    for d in dims[1:]:
        item_bytes *= d
    if len(data) != header_bytes + dims[0] * item_bytes:
        fail(f"{path}: {len(data)} bytes, header declares {header_bytes + dims[0] * item_bytes}")
    return dims, data[header_bytes:]


def write_idx_gz(path, magic, dims, payload):
    """Writes an IDX .gz reproducibly, through a temporary file renamed into place."""
    header = struct.pack(f">I{len(dims)}I", magic, *dims)
    temporary = path + ".tmp"
    with open(temporary, "wb") as raw:
        # filename="" and mtime=0 keep the gzip header free of anything that changes per run.
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as gz:
            gz.write(header + payload)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(temporary, path)


def default_source(repo):
    shared = os.environ.get("BNTRAIN_SHARED_DATA")
    if shared:
        return os.path.join(shared, "mnist")
    return os.path.join(repo, "..", "shared", "data", "mnist")


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=default_source(repo))
    parser.add_argument("--dest", default=os.path.join(repo, "data", "mnist-sample"))
    args = parser.parse_args()

    os.makedirs(args.dest, exist_ok=True)
    for name, magic, keep in FILES:
        dims, payload = read_idx(os.path.join(args.source, name), magic)
        if dims[0] < keep:
            fail(f"{name}: only {dims[0]} items, the sample needs {keep}")
        item_bytes = len(payload) // dims[0]
        out_path = os.path.join(args.dest, name)
        write_idx_gz(out_path, magic, [keep] + dims[1:], payload[: keep * item_bytes])
        with open(out_path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        print(f"{out_path}: {keep} items, {os.path.getsize(out_path)} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
