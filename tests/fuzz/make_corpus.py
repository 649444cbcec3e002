#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/ (Python 3, standard
library only; a few KB per file):

  fuzz_idx          the bundled MNIST sample (data/mnist-sample), cut to its first 3 test images
                    and labels with the count fixed in the header, raw and gzip; a real header
                    alone; the first KB of the real gzip file
  fuzz_cifar        CIFAR-10 archives laid out as the official cifar-10-binary.tar.gz, with batches
                    of 8 records (the fuzz build's batch size, CMakeLists.txt) of synthetic
                    pixels: whole, missing the test batch, and with ./ and ustar
                    prefix member names
  fuzz_curves_csv   curves.csv of a tiny real `bntrain curves` run (with an exploded run), cut
                    copies of it
  fuzz_runs_csv     runs.csv of two tiny real grids (`bntrain grid` on the sample, one of them a
  fuzz_config_json  vanilla sigma_w^2 sweep), and their config.json; a log with a torn last
                    line, one without its identity line, one with its header alone
  fuzz_options      command lines of every command, one argument per line

It writes these files only: the inputs that once broke a reader (named after the defect) stay.
gzip files are written with mtime 0 and tar members with fixed owners and times, so re-running
reproduces the archives; the grid files differ from run to run in their seconds column only.
Usage: tests/fuzz/make_corpus.py [path/to/bntrain]   (default build/bntrain)
"""
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
SAMPLE = os.path.join(ROOT, "data", "mnist-sample")
CIFAR_BATCH_RECORDS = 8  # the fuzz build's, see CMakeLists.txt
CIFAR_FILES = ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


def idx_seeds():
    with gzip.open(os.path.join(SAMPLE, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        images = f.read()
    with gzip.open(os.path.join(SAMPLE, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        labels = f.read()
    magic, _, rows, cols = struct.unpack(">IIII", images[:16])
    n = 3
    cut_images = struct.pack(">IIII", magic, n, rows, cols) + images[16 : 16 + n * rows * cols]
    cut_labels = struct.pack(">II", struct.unpack(">I", labels[:4])[0], n) + labels[8 : 8 + n]
    write("fuzz_idx", "images3", cut_images)
    write("fuzz_idx", "images3.gz", gz(cut_images))
    write("fuzz_idx", "labels3", cut_labels)
    write("fuzz_idx", "labels3.gz", gz(cut_labels))
    write("fuzz_idx", "images_header_only", images[:16])
    with open(os.path.join(SAMPLE, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        write("fuzz_idx", "images_cut.gz", f.read(1024))


def cifar_batch(index):
    records = bytearray()
    for r in range(CIFAR_BATCH_RECORDS):
        records.append((index + r) % 10)
        records.extend(bytes((index * 31 + r * 7 + p // 97) % 256 for p in range(3072)))
    return bytes(records)


def tar_bytes(members, prefix="cifar-10-batches-bin/", long_prefix=False):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        folder = tarfile.TarInfo(prefix.rstrip("/"))
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
        for name, data in members:
            info = tarfile.TarInfo(prefix + name)
            if long_prefix:  # a long path goes into the ustar prefix field
                info.name = "x" * 60 + "/../" + prefix + name
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def cifar_seeds():
    batches = [(name, cifar_batch(i)) for i, name in enumerate(CIFAR_FILES)]
    readme = [("readme.html", b"<p>CIFAR-10</p>\n")]
    whole = tar_bytes(readme + batches)
    write("fuzz_cifar", "archive.tar.gz", gz(whole))
    write("fuzz_cifar", "no_test_batch.tar.gz", gz(tar_bytes(batches[:5])))
    write("fuzz_cifar", "dot_names.tar.gz", gz(tar_bytes(batches, prefix="./cifar-10-batches-bin/")))
    write("fuzz_cifar", "ustar_prefix.tar.gz", gz(tar_bytes(batches[:1], long_prefix=True)))


def run_grid(bntrain, out, extra):
    command = [bntrain, "grid", "--dataset", "mnist-sample", "--data-dir", os.path.join(ROOT, "data"),
               "--hidden", "8", "--epochs", "1", "--train-subset", "256", "--batch", "64",
               "--restarts", "2", "--threads", "1", "--quiet", "--out", out] + extra
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def grid_seeds(bntrain):
    work = tempfile.mkdtemp(prefix="bntrain-corpus-")
    try:
        bn, vanilla = os.path.join(work, "bn"), os.path.join(work, "vanilla")
        # log10 eta = 2 explodes: the log holds exploded records too
        run_grid(bntrain, bn, ["--gamma", "0.5,2", "--log10-lr", "-2,2"])
        run_grid(bntrain, vanilla, ["--no-bn", "--gamma", "1", "--sweep-sigma-w2", "1,2",
                                    "--log10-lr", "-1.5", "--loss", "ce", "--seed-per-cell"])
        for name, folder in (("bn", bn), ("vanilla", vanilla)):
            with open(os.path.join(folder, "runs.csv"), "rb") as f:
                runs = f.read()
            with open(os.path.join(folder, "config.json"), "rb") as f:
                config = f.read()
            write("fuzz_runs_csv", name, runs)
            write("fuzz_config_json", name, config)
        lines = runs.split(b"\n")
        write("fuzz_runs_csv", "torn", b"\n".join(lines[:3]) + b"\n" + lines[3][:20])
        write("fuzz_runs_csv", "no_identity", b"\n".join(lines[1:]))
        write("fuzz_runs_csv", "header_only", b"\n".join(lines[:2]) + b"\n")
    finally:
        shutil.rmtree(work)


def curves_seeds(bntrain):
    """curves.csv of a tiny real `bntrain curves` run (gamma 8 at lr 2 explodes: an exploded
    line), and cut copies of it."""
    work = tempfile.mkdtemp(prefix="bntrain-corpus-")
    try:
        out = os.path.join(work, "curves")
        subprocess.run([bntrain, "curves", "--dataset", "mnist-sample", "--data-dir",
                        os.path.join(ROOT, "data"), "--hidden", "8", "--epochs", "2",
                        "--train-subset", "256", "--batch", "64", "--gamma", "0.5,8",
                        "--restarts", "2", "--lr", "2", "--threads", "1", "--quiet", "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "curves.csv"), "rb") as f:
            log = f.read()
        write("fuzz_curves_csv", "curves", log)
        lines = log.split(b"\n")
        write("fuzz_curves_csv", "torn", b"\n".join(lines[:3]) + b"\n" + lines[3][:20])
        write("fuzz_curves_csv", "no_identity", b"\n".join(lines[1:]))
        write("fuzz_curves_csv", "header_only", b"\n".join(lines[:2]) + b"\n")
    finally:
        shutil.rmtree(work)


OPTION_LINES = [
    ["train", "--dataset", "mnist", "--arch", "fc", "--gamma", "0.5", "--lr", "0.1", "--epochs",
     "1", "--loss", "ce", "--json", "--threads", "2"],
    ["train", "--dataset", "cifar10", "--arch", "cnn", "--hidden", "30,60,90", "--kernel", "3",
     "--stride", "2", "--padding", "1", "--no-bn", "--sigma-w2", "2", "--sigma-b2", "0.5",
     "--momentum", "0.9", "--weight-decay", "5e-4", "--batch", "128", "--seed", "7",
     "--train-subset", "6000", "--data-dir", "data", "--verbose"],
    ["train", "--help"],
    ["grid", "--dataset", "mnist-sample", "--gamma", "0.1:4.5:0.2", "--log10-lr", "-3:0.5:0.125",
     "--restarts", "5", "--out", "grid-x", "--force", "--seed-per-cell", "--color-scale", "log",
     "--title-note", "quick", "--quiet"],
    ["grid", "--dataset", "mnist", "--no-bn", "--gamma", "1", "--sweep-sigma-w2", "0.5:4.5:0.25",
     "--log10-lr", "-3,-2,-1"],
    ["theory", "--dataset", "cifar10", "--arch", "cnn", "--gamma", "0.5,1,2,4", "--csv", "--check",
     "--variant", "population", "--samples", "100", "--calibration", "200", "--seeds", "2",
     "--plot", "theory.png"],
    ["plot", "grid-mnist-fc", "--color-scale", "linear"],
    ["figures", "--quick", "--out", "figures-quick", "--threads", "2", "--force", "--quiet",
     "--data-dir", "data"],
    ["grid", "--dataset", "mnist", "--gam", "1", "-h"],
    ["curves", "--dataset", "cifar10", "--arch", "vgg16", "--gamma", "0.1,1", "--restarts", "5",
     "--epochs", "100", "--lr", "0.1", "--weight-decay", "5e-4", "--loss", "ce",
     "--width-mult", "0.125", "--out", "curves-x", "--force", "--quiet"],
    ["train", "--dataset", "cifar10", "--arch", "preact-resnet110", "--init", "gaussian",
     "--augment", "on", "--lr-schedule", "step:50,75", "--width-mult", "0.5"],
]


def option_seeds():
    for i, line in enumerate(OPTION_LINES):
        write("fuzz_options", "%02d_%s" % (i, line[0]), "\n".join(line).encode())


def main():
    bntrain = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bntrain")
    if not os.access(bntrain, os.X_OK):
        sys.exit("make_corpus: %s not found: build bntrain first (or name it)" % bntrain)
    idx_seeds()
    cifar_seeds()
    grid_seeds(bntrain)
    curves_seeds(bntrain)
    option_seeds()


if __name__ == "__main__":
    main()
