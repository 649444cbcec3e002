#!/usr/bin/env bash
# shellcheck disable=SC2317  # the helpers below are called through check
# scripts/fetch_data.sh against a local HTTP server on 127.0.0.1 (a small stdlib Python server,
# written below, that answers Range requests and logs every request): fresh download, a second
# run that makes no request, resume of a .part (206), restart when the server cannot resume,
# a stale or complete .part, the mirror's SHA256SUMS/MD5SUMS versus the built-in official
# MD5s, a corrupt file on the server, a present corrupt file, no network, the official hosts
# (through a dead proxy: nothing leaves 127.0.0.1), usage errors, and wget instead of curl.
# Served data: MNIST from ../shared/data (three files official, train-images re-compressed),
# a fake Fashion-MNIST and a fake small CIFAR-10 archive made here, all in a temp folder.
set -u
for t in python3 curl; do
    if ! command -v $t > /dev/null; then
        echo "test_fetch_data: SKIPPED: $t is not installed (needed to serve and fetch)" >&2
        exit 77
    fi
done
src=${BNTRAIN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
# Found as by the C tests (tests/check.h). BNTRAIN_DATA is unset below: fetch_data.sh reads it.
shared=${BNTRAIN_DATA:-${BNTRAIN_SHARED_DATA:-${BNTRAIN_SHARED_DATA_DEFAULT:-$src/../shared/data}}}
script=$src/scripts/fetch_data.sh
have_wget=0
command -v wget > /dev/null && have_wget=1

work=$(mktemp -d /tmp/bntrain-fetch-test.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}
finish() {
    echo "test_fetch_data: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# run ARGS...: the script's status in $rc, its output in $work/out and $work/err.
run() {
    rc=0
    "$@" > "$work/out" 2> "$work/err" || rc=$?
}
lines() { grep -c . "$1"; }
has() { grep -qF -- "$2" "$1"; }
no_file() { [ ! -e "$1" ]; }
no_parts() { [ -z "$(find "$1" -name '*.part' 2> /dev/null)" ]; }
log_lines() { wc -l < "$log" | tr -d ' '; }
same_files() { # same_files DIR1 DIR2 FILE...
    local a=$1 b=$2 f
    shift 2
    for f in "$@"; do cmp -s "$a/$f" "$b/$f" || return 1; done
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Nothing may leave this machine: every proxy variable points at a closed local port, and
# only 127.0.0.1 bypasses it. The official-host checks below rely on this.
dead=$(free_port)
export http_proxy=http://127.0.0.1:$dead https_proxy=http://127.0.0.1:$dead
export HTTPS_PROXY=$https_proxy ALL_PROXY=$http_proxy all_proxy=$http_proxy
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
unset BNTRAIN_MIRROR BNTRAIN_DATA BNTRAIN_FETCH_TOOL

mnist_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz
             t10k-labels-idx1-ubyte.gz)
# Without the shared MNIST there is nothing to serve: the checks cannot run, which ctest must
# report as skipped (exit 77, tests/check.h), not as passed or failed.
for f in "${mnist_files[@]}"; do
    if [ ! -f "$shared/mnist/$f" ]; then
        echo "test_fetch_data: SKIPPED: the shared MNIST is missing: $shared/mnist/$f" \
            "(\$BNTRAIN_SHARED_DATA or \$BNTRAIN_DATA)" >&2
        exit 77
    fi
done

# ---- the served tree: full/ (with checksum files), plain/ (without), corrupt/ ----
srv=$work/srv
mkdir -p "$srv/full/mnist" "$srv/full/fashion-mnist" "$srv/full/cifar10" "$srv/plain/mnist" \
    "$srv/corrupt/mnist"
for f in "${mnist_files[@]}"; do
    cp "$shared/mnist/$f" "$srv/full/mnist/$f"
    ln "$srv/full/mnist/$f" "$srv/plain/mnist/$f" 2> /dev/null || cp "$srv/full/mnist/$f" "$srv/plain/mnist/$f"
    ln "$srv/full/mnist/$f" "$srv/corrupt/mnist/$f" 2> /dev/null || cp "$srv/full/mnist/$f" "$srv/corrupt/mnist/$f"
done
python3 - "$srv/full" <<'EOF'
import gzip, io, os, random, struct, sys, tarfile
root = sys.argv[1]
rng = random.Random(7)
def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)
def idx(n, images):
    if images:
        return struct.pack(">IIII", 0x803, n, 28, 28) + bytes(rng.randrange(256) for _ in range(n * 784))
    return struct.pack(">II", 0x801, n) + bytes(rng.randrange(10) for _ in range(n))
for split, n in (("train", 60), ("t10k", 20)):
    for kind, images in (("images-idx3", True), ("labels-idx1", False)):
        with open(os.path.join(root, "fashion-mnist", "%s-%s-ubyte.gz" % (split, kind)), "wb") as f:
            f.write(gz(idx(n, images)))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    names = ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]
    members = [(n, bytes(rng.randrange(256) for _ in range(10 * 3073))) for n in names]
    members.append(("batches.meta.txt", b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"))
    for name, data in members:
        info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
with open(os.path.join(root, "cifar10", "cifar-10-binary.tar.gz"), "wb") as f:
    f.write(gz(buf.getvalue()))
EOF
(cd "$srv/full/mnist" && sha256sum "${mnist_files[@]}" > SHA256SUMS)
(cd "$srv/full/fashion-mnist" && md5sum "${mnist_files[@]}" > MD5SUMS)
(cd "$srv/full/cifar10" && sha256sum cifar-10-binary.tar.gz > SHA256SUMS)
cp "$srv/full/mnist/SHA256SUMS" "$srv/corrupt/mnist/SHA256SUMS"
rm "$srv/corrupt/mnist/t10k-labels-idx1-ubyte.gz"
python3 - "$srv/full/mnist/t10k-labels-idx1-ubyte.gz" "$srv/corrupt/mnist/t10k-labels-idx1-ubyte.gz" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0xFF
open(sys.argv[2], "wb").write(data)
EOF

# ---- the server: HTTP/1.1, Range (206/416) except under /norange/, one log line per request ----
# (python3 -m http.server ignores Range, so it could not show that a .part is resumed.)
cat > "$work/server.py" <<'EOF'
import http.server, os, re, socketserver, sys

root, portfile, logfile = os.path.realpath(sys.argv[1]), sys.argv[2], sys.argv[3]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log(self, status):  # before the body goes out, so it is there when the client ends
        with open(logfile, "a") as f:
            f.write("%s %s %s %d\n" % (self.command, self.path, self.headers.get("Range", "-"), status))

    def reply(self, status, headers, body=b""):
        self.log(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path, ranges = self.path.split("?", 1)[0], True
        if path.startswith("/norange/"):
            path, ranges = path[len("/norange"):], False
        full = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            return self.reply(404, [], b"not found\n")
        size = os.path.getsize(full)
        start, end, status = 0, size - 1, 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")) if ranges else None
        if m:
            start = int(m.group(1))
            if m.group(2):
                end = min(end, int(m.group(2)))
            if start >= size:
                return self.reply(416, [("Content-Range", "bytes */%d" % size)],
                                  b"<Error>range not satisfiable</Error>\n")
            status = 206
        self.log(status)
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "GET":
            with open(full, "rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

server = Server(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
EOF
log=$work/server.log
: > "$log"
python3 "$work/server.py" "$srv" "$work/port" "$log" 2> "$work/server.err" &
server_pid=$!
port=
for _ in $(seq 1 100); do
    if [ -s "$work/port" ]; then
        port=$(cat "$work/port")
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    fi
    sleep 0.1
done
if [ -z "$port" ] || ! curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "FAIL: the test HTTP server did not start:" >&2
    cat "$work/server.err" >&2
    failed=$((failed + 1))
    finish
fi
: > "$log"
base=http://127.0.0.1:$port
closed=$(free_port)
full_md5_of() { md5sum < "$1" | cut -d' ' -f1; }
sha_of() { sha256sum < "$1" | cut -d' ' -f1; }

# ---- usage ----
run bash "$script" --help
check "--help exits 0" test $rc -eq 0
check "--help shows the usage" has "$work/out" "usage: scripts/fetch_data.sh [--data-dir DIR] [--mirror URL]"
check "--help documents the mirror's checksum files" has "$work/out" "SHA256SUMS"
for bad in "--bogus" "nope" "--mirror" "--data-dir" "--mirror ftp://x" "--data-dir="; do
    # shellcheck disable=SC2086
    run bash "$script" --data-dir "$work/unused" $bad
    check "'$bad' exits 2" test $rc -eq 2
    check "'$bad': one line on stderr" test "$(lines "$work/err")" -eq 1
done
run env BNTRAIN_FETCH_TOOL=aria2 bash "$script" --data-dir "$work/unused"
check "an unknown BNTRAIN_FETCH_TOOL exits 2" test $rc -eq 2
check "usage errors create nothing" no_file "$work/unused"

# ---- fresh download of everything, from $BNTRAIN_MIRROR into $BNTRAIN_DATA ----
d1=$work/d1
run env BNTRAIN_DATA="$d1" BNTRAIN_MIRROR="$base/full/" bash "$script"
check "fresh download exits 0" test $rc -eq 0
check "fresh download: nothing on stderr" test ! -s "$work/err"
check "fresh download: mnist matches" same_files "$srv/full/mnist" "$d1/mnist" "${mnist_files[@]}"
check "fresh download: fashion-mnist matches" \
    same_files "$srv/full/fashion-mnist" "$d1/fashion-mnist" "${mnist_files[@]}"
check "fresh download: cifar10 matches" \
    same_files "$srv/full/cifar10" "$d1/cifar10" cifar-10-binary.tar.gz
check "fresh download: no .part left" no_parts "$d1"
check "fresh download: the checksum files were not copied" no_file "$d1/mnist/SHA256SUMS"
check "fresh download: 9 files fetched" test "$(grep -c '\.gz - 200$' "$log")" -eq 9
check "fresh download: the mirror's SHA256SUMS was used" has "$work/out" "mnist: verifying against the mirror's SHA256SUMS"
check "fresh download: the mirror's MD5SUMS was used" has "$work/out" "fashion-mnist: verifying against the mirror's MD5SUMS"
check "fresh download: the summary counts 9 downloads" has "$work/out" "9 downloaded, 0 already present, 0 failed"
check "fresh download: the verified SHA-256 is recorded" \
    has "$d1/mnist/.fetch_data.sha256" "$(sha_of "$d1/mnist/train-images-idx3-ubyte.gz")  train-images-idx3-ubyte.gz"

# ---- second run: nothing downloaded, no request at all, files untouched ----
find "$d1" -type f -printf '%p %T@\n' | sort > "$work/mtimes1"
before=$(log_lines)
run bash "$script" --data-dir "$d1" --mirror "$base/full"
check "second run exits 0" test $rc -eq 0
check "second run makes no request" test "$(log_lines)" -eq "$before"
check "second run reports 9 present" has "$work/out" "0 downloaded, 9 already present, 0 failed"
find "$d1" -type f -printf '%p %T@\n' | sort > "$work/mtimes2"
check "second run leaves every file untouched" cmp -s "$work/mtimes1" "$work/mtimes2"
run bash "$script" --data-dir "$d1" --mirror "http://127.0.0.1:$closed"
check "a present, verified data root needs no network" test $rc -eq 0
run bash "$script" --data-dir "$d1" mnist
check "the official MD5 or the recorded SHA-256 accepts present MNIST without a mirror" test $rc -eq 0
check "train-images (not the official bytes) passes by its recorded SHA-256" \
    has "$work/out" "mnist/train-images-idx3-ubyte.gz: present, sha256 recorded at download ok"

# ---- a present file with a wrong checksum is reported and downloaded again ----
echo "garbage" > "$d1/mnist/t10k-labels-idx1-ubyte.gz"
before=$(log_lines)
run bash "$script" --data-dir "$d1" --mirror "$base/full" mnist
check "present corrupt file: exits 0 after downloading it again" test $rc -eq 0
check "present corrupt file: one warning line" test "$(lines "$work/err")" -eq 1
check "present corrupt file: the warning names the file" \
    has "$work/err" "fetch_data: warning: mnist/t10k-labels-idx1-ubyte.gz: present but checksum mismatch"
check "present corrupt file: replaced by the good one" \
    same_files "$srv/full/mnist" "$d1/mnist" t10k-labels-idx1-ubyte.gz
check "present corrupt file: only it was downloaded" \
    test "$(tail -n +$((before + 1)) "$log" | grep -c '\.gz - 200$')" -eq 1

# ---- resume: a .part holding the first half of the file ----
d2=$work/d2
f=train-images-idx3-ubyte.gz
size=$(wc -c < "$srv/full/mnist/$f")
half=$((size / 2))
mkdir -p "$d2/mnist"
head -c "$half" "$srv/full/mnist/$f" > "$d2/mnist/$f.part"
: > "$log"
run bash "$script" --data-dir "$d2" --mirror "$base/full" mnist
check "resume exits 0" test $rc -eq 0
check "resume: the server got a Range request and answered 206" \
    has "$log" "GET /full/mnist/$f bytes=$half- 206"
check "resume: nothing but the rest was fetched" test "$(grep -c "/full/mnist/$f " "$log")" -eq 1
check "resume: the file is right" same_files "$srv/full/mnist" "$d2/mnist" "${mnist_files[@]}"
check "resume: the .part is gone" no_parts "$d2"

# ---- resume from a server without Range support: the download starts again ----
d3=$work/d3
mkdir -p "$d3/mnist"
head -c "$half" "$srv/full/mnist/$f" > "$d3/mnist/$f.part"
: > "$log"
run bash "$script" --data-dir "$d3" --mirror "$base/norange/full" mnist
check "no Range support: exits 0" test $rc -eq 0
check "no Range support: the Range request got a 200" has "$log" "GET /norange/full/mnist/$f bytes=$half- 200"
check "no Range support: then a full download" has "$log" "GET /norange/full/mnist/$f - 200"
check "no Range support: says it starts again" has "$work/out" "the server cannot resume; downloading from the start"
check "no Range support: the file is right" same_files "$srv/full/mnist" "$d3/mnist" "$f"
check "no Range support: the .part is gone" no_parts "$d3"

# ---- a stale .part (wrong bytes) is resumed, fails, and is downloaded again once ----
d4=$work/d4
mkdir -p "$d4/mnist"
head -c "$half" /dev/zero > "$d4/mnist/$f.part"
: > "$log"
run bash "$script" --data-dir "$d4" --mirror "$base/full" mnist
check "stale .part: exits 0" test $rc -eq 0
check "stale .part: says it starts again" \
    has "$work/out" "the resumed file fails its checksum; downloading from the start"
check "stale .part: resumed, then a full download" \
    test "$(grep -c "GET /full/mnist/$f bytes=$half- 206\|GET /full/mnist/$f - 200" "$log")" -eq 2
check "stale .part: the file is right" same_files "$srv/full/mnist" "$d4/mnist" "$f"

# ---- a complete .part (the download died before the rename): 416, verified, moved ----
d4b=$work/d4b
mkdir -p "$d4b/cifar10"
cp "$srv/full/cifar10/cifar-10-binary.tar.gz" "$d4b/cifar10/cifar-10-binary.tar.gz.part"
: > "$log"
run bash "$script" --data-dir "$d4b" --mirror "$base/full" cifar10
check "complete .part: exits 0" test $rc -eq 0
check "complete .part: the server answered 416" grep -q "cifar-10-binary.tar.gz bytes=[0-9]*- 416" "$log"
check "complete .part: the file is right" \
    same_files "$srv/full/cifar10" "$d4b/cifar10" cifar-10-binary.tar.gz
check "complete .part: the .part is gone" no_parts "$d4b"

# ---- a corrupt file on the server: checksum mismatch, exit 1, nothing left in place ----
d5=$work/d5
bad=t10k-labels-idx1-ubyte.gz
run bash "$script" --data-dir "$d5" --mirror "$base/corrupt" mnist
check "corrupt download exits 1" test $rc -eq 1
check "corrupt download: one line on stderr" test "$(lines "$work/err")" -eq 1
check "corrupt download: the line gives both checksums" has "$work/err" \
    "fetch_data: mnist/$bad: checksum mismatch (expected $(sha_of "$srv/full/mnist/$bad"), got $(sha_of "$srv/corrupt/mnist/$bad"))"
check "corrupt download: no file left in place" no_file "$d5/mnist/$bad"
check "corrupt download: no .part left" no_parts "$d5"
check "corrupt download: the other files are there" \
    same_files "$srv/full/mnist" "$d5/mnist" train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
    t10k-images-idx3-ubyte.gz

# ---- a mirror without checksum files: the official MD5s decide ----
d6=$work/d6
run bash "$script" --data-dir "$d6" --mirror "$base/plain" mnist
check "no checksum file: exits 1 (train-images is not the official file)" test $rc -eq 1
check "no checksum file: one line on stderr" test "$(lines "$work/err")" -eq 1
check "no checksum file: train-images fails against the official MD5" has "$work/err" \
    "fetch_data: mnist/train-images-idx3-ubyte.gz: checksum mismatch (expected f68b3c2dcbeaaa9fbdd348bbdeb94873, got $(full_md5_of "$shared/mnist/train-images-idx3-ubyte.gz"))"
check "no checksum file: the three official files pass" \
    same_files "$srv/full/mnist" "$d6/mnist" train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
    t10k-labels-idx1-ubyte.gz
check "no checksum file: the failed file is not in place" no_file "$d6/mnist/train-images-idx3-ubyte.gz"
check "no checksum file: SHA256SUMS then MD5SUMS were asked for" \
    test "$(grep -c "GET /plain/mnist/\(SHA256SUMS\|MD5SUMS\) - 404" "$log")" -eq 2
run bash "$script" --data-dir "$d6" --mirror "$base/plain" --no-verify mnist
check "--no-verify exits 0" test $rc -eq 0
check "--no-verify: the file is in place" same_files "$srv/full/mnist" "$d6/mnist" train-images-idx3-ubyte.gz
check "--no-verify: says so" has "$work/out" "mnist/train-images-idx3-ubyte.gz: downloaded (not verified)"

# ---- the built-in Fashion-MNIST MD5s against the real files ----
# The Debian package dataset-fashion-mnist holds the official .gz files with the gzip header's
# file name and time dropped (same deflate stream, each file shorter by exactly the name).
# Putting them back (2017-08-31, the times found by search) rebuilds the published files.
deb_fashion=/usr/share/datasets/fashion-mnist
if python3 - "$deb_fashion" "$srv/official/fashion-mnist" <<'EOF'
import os, struct, sys
src, out = sys.argv[1], sys.argv[2]
files = {"train-images-idx3-ubyte": (26421856, 1504176606), "train-labels-idx1-ubyte": (29491, 1504176606),
         "t10k-images-idx3-ubyte": (4422079, 1504176627), "t10k-labels-idx1-ubyte": (5125, 1504176627)}
for name, (size, _) in files.items():
    path = os.path.join(src, name + ".gz")
    if not os.path.isfile(path) or os.path.getsize(path) != size:
        sys.exit(1)  # not there, or another version of the package
os.makedirs(out)
for name, (_, mtime) in files.items():
    data = open(os.path.join(src, name + ".gz"), "rb").read()
    head = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\x03" + name.encode() + b"\x00"
    open(os.path.join(out, name + ".gz"), "wb").write(head + data[10:])
EOF
then
    run bash "$script" --data-dir "$work/d11" --mirror "$base/official" fashion-mnist
    check "real Fashion-MNIST: the built-in MD5s accept it" test $rc -eq 0
    check "real Fashion-MNIST: all four checked against the official MD5s" \
        test "$(grep -c "fashion-mnist/.*: downloaded, md5 ok" "$work/out")" -eq 4
else
    echo "test_fetch_data: the Debian package dataset-fashion-mnist (0.0~git20200523) is not" \
        "installed: the built-in Fashion-MNIST MD5s are not checked against real files" >&2
fi

# ---- no network ----
d7=$work/d7
run bash "$script" --data-dir "$d7" --mirror "http://127.0.0.1:$closed"
check "no network exits 1" test $rc -eq 1
check "no network: one line on stderr" test "$(lines "$work/err")" -eq 1
check "no network: the line names the host" \
    test "$(cat "$work/err")" = "fetch_data: no network: cannot reach 127.0.0.1:$closed"
check "no network: no file left" test -z "$(find "$d7" -type f 2> /dev/null)"

# ---- the official hosts (the dead proxy stands for the missing network) ----
d8=$work/d8
mkdir -p "$d8/mnist"
for g in train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    cp "$shared/mnist/$g" "$d8/mnist/$g"
done
run bash "$script" --data-dir "$d8"
check "official hosts unreachable: exits 1" test $rc -eq 1
check "official hosts unreachable: one line per host" test "$(lines "$work/err")" -eq 3
check "official MNIST host" has "$work/err" "fetch_data: no network: cannot reach ossci-datasets.s3.amazonaws.com"
check "official Fashion-MNIST host" \
    has "$work/err" "fetch_data: no network: cannot reach fashion-mnist.s3-website.eu-central-1.amazonaws.com"
check "official CIFAR-10 host" has "$work/err" "fetch_data: no network: cannot reach www.cs.toronto.edu"
check "the official MD5s accept the three official MNIST files offline" \
    test "$(grep -c "present, official md5 ok" "$work/out")" -eq 3

# ---- CIFAR-10 already extracted: nothing to fetch ----
d9=$work/d9
mkdir -p "$d9/cifar10/cifar-10-batches-bin"
for b in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    : > "$d9/cifar10/cifar-10-batches-bin/$b.bin"
done
run bash "$script" --data-dir "$d9" --mirror "http://127.0.0.1:$closed" cifar10
check "extracted CIFAR-10 counts as present" test $rc -eq 0
check "extracted CIFAR-10: no archive fetched" no_file "$d9/cifar10/cifar-10-binary.tar.gz"

# ---- a file:// mirror (curl) ----
d10=$work/d10
run bash "$script" --data-dir "$d10" --mirror "file://$srv/full" fashion-mnist
check "file:// mirror exits 0" test $rc -eq 0
check "file:// mirror: files match" \
    same_files "$srv/full/fashion-mnist" "$d10/fashion-mnist" "${mnist_files[@]}"

# ---- wget instead of curl ----
if [ $have_wget -eq 1 ]; then
    dw=$work/dw
    run env BNTRAIN_FETCH_TOOL=wget bash "$script" --data-dir "$dw" --mirror "$base/full" mnist cifar10
    check "wget: fresh download exits 0" test $rc -eq 0
    check "wget: mnist matches" same_files "$srv/full/mnist" "$dw/mnist" "${mnist_files[@]}"
    check "wget: cifar10 matches" same_files "$srv/full/cifar10" "$dw/cifar10" cifar-10-binary.tar.gz
    rm "$dw/mnist/$f"
    head -c "$half" "$srv/full/mnist/$f" > "$dw/mnist/$f.part"
    : > "$log"
    run env BNTRAIN_FETCH_TOOL=wget bash "$script" --data-dir "$dw" --mirror "$base/full" mnist
    check "wget: resume exits 0" test $rc -eq 0
    check "wget: resume sent a Range request" has "$log" "GET /full/mnist/$f bytes=$half- 206"
    check "wget: resumed file is right" same_files "$srv/full/mnist" "$dw/mnist" "$f"
    run env BNTRAIN_FETCH_TOOL=wget bash "$script" --data-dir "$work/dw2" --mirror "$base/corrupt" mnist
    check "wget: corrupt download exits 1" test $rc -eq 1
    check "wget: checksum mismatch reported" has "$work/err" "fetch_data: mnist/$bad: checksum mismatch"
    check "wget: no file left in place" no_file "$work/dw2/mnist/$bad"
    run env BNTRAIN_FETCH_TOOL=wget bash "$script" --data-dir "$work/dw3" --mirror "http://127.0.0.1:$closed"
    check "wget: no network exits 1" test $rc -eq 1
    check "wget: no network message" \
        test "$(cat "$work/err")" = "fetch_data: no network: cannot reach 127.0.0.1:$closed"
else
    echo "test_fetch_data: wget is not installed: its checks are skipped" >&2
fi

if command -v shellcheck > /dev/null; then
    check "fetch_data.sh is shellcheck-clean" shellcheck "$script"
fi

finish
