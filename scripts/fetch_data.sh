#!/usr/bin/env bash
# Downloads MNIST, Fashion-MNIST and CIFAR-10 into bntrain's data root and verifies them.
# Run with --help for the usage, the sources and the rules it follows.
set -u -o pipefail

prog=fetch_data
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$script_dir")

# ---- official sources and checksums ----
# MNIST: yann.lecun.com/exdb/mnist, the original home, is often unavailable (it answers 403 or
# not at all), so the default is the copy PyTorch downloads from: the same four files, byte for
# byte (the MD5s below are the ones published with the dataset and checked by torchvision).
MNIST_URL=https://ossci-datasets.s3.amazonaws.com/mnist
# Fashion-MNIST: the Zalando Research download location named in its README (HTTP only: the S3
# website endpoint has no HTTPS; the MD5 check is what makes the download trustworthy).
FASHION_URL=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
# CIFAR-10, binary version: Alex Krizhevsky's page at the University of Toronto.
CIFAR_URL=https://www.cs.toronto.edu/~kriz

all_datasets=(mnist fashion-mnist cifar10)
idx_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz
           t10k-labels-idx1-ubyte.gz)
cifar_batches=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin
               data_batch_5.bin test_batch.bin)

official_md5() {
    case "$1/$2" in
        mnist/train-images-idx3-ubyte.gz) echo f68b3c2dcbeaaa9fbdd348bbdeb94873 ;;
        mnist/train-labels-idx1-ubyte.gz) echo d53e105ee54ea40749a09fcbcd1e9432 ;;
        mnist/t10k-images-idx3-ubyte.gz) echo 9fb629c4189551a2d022fa330f9573f3 ;;
        mnist/t10k-labels-idx1-ubyte.gz) echo ec29112dd5afa0611ce80d1b7f02629c ;;
        fashion-mnist/train-images-idx3-ubyte.gz) echo 8d4fb7e6c68d591d4c3dfef9ec88bf0d ;;
        fashion-mnist/train-labels-idx1-ubyte.gz) echo 25c81989df183df01b3e8a0aad5dffbe ;;
        fashion-mnist/t10k-images-idx3-ubyte.gz) echo bef4ecab320f06d8554ea6380940ec79 ;;
        fashion-mnist/t10k-labels-idx1-ubyte.gz) echo bb300cfdad3c16e7a12a480ee83cd310 ;;
        cifar10/cifar-10-binary.tar.gz) echo c32a1d4ab5d03f1284b67883e8d87530 ;;
        *) return 1 ;;
    esac
}

official_base() {
    case $1 in
        mnist) echo "$MNIST_URL" ;;
        fashion-mnist) echo "$FASHION_URL" ;;
        cifar10) echo "$CIFAR_URL" ;;
    esac
}

dataset_files() {
    case $1 in
        mnist | fashion-mnist) printf '%s\n' "${idx_files[@]}" ;;
        cifar10) echo cifar-10-binary.tar.gz ;;
    esac
}

usage() {
    cat <<EOF
usage: scripts/fetch_data.sh [--data-dir DIR] [--mirror URL] [--no-verify] [DATASET...]

Downloads datasets for bntrain into DIR/<dataset>/ and verifies their checksums.
DATASET is mnist, fashion-mnist or cifar10 (default: all three).

options:
  --data-dir DIR  data root (default: \$BNTRAIN_DATA, else data/ in the repository:
                  $repo_root/data)
  --mirror URL    fetch from URL/<dataset>/<file> instead of the official hosts; the
                  layout is that of the data root, so any served data folder is a mirror
                  (http://, https:// or, with curl, file://). Default: \$BNTRAIN_MIRROR.
  --no-verify     skip every checksum: take present files as they are, keep downloads
                  unchecked
  -h, --help      print this help and exit

official sources:
  mnist          $MNIST_URL/<file>
                 (the PyTorch copy of yann.lecun.com/exdb/mnist, which is often down;
                 the files and MD5s are the same)
  fashion-mnist  $FASHION_URL/<file>
  cifar10        $CIFAR_URL/cifar-10-binary.tar.gz
  files: mnist and fashion-mnist: ${idx_files[*]};
         cifar10: cifar-10-binary.tar.gz (bntrain reads it without extracting)
  Fashion-MNIST is also the Debian package dataset-fashion-mnist, which bntrain reads when
  DIR/fashion-mnist/ is absent; its .gz files are re-compressed, so not the official MD5s.

checksums:
  Without a mirror, each file must match its published MD5 (built into this script).
  A mirror may serve DATASET/SHA256SUMS or, failing that, DATASET/MD5SUMS, in the format of
  sha256sum/md5sum ("<hex>  <file>" per line). If it does, files it lists are verified
  against it, the others against the official MD5s; if it serves neither (HTTP 4xx),
  everything is verified against the official MD5s. A mirror's own list guards against
  broken transfers, not against a dishonest mirror: it is how a copy that is not
  byte-identical to the official release (for example a re-compressed one) is accepted.
  Each file verified at download has its SHA-256 recorded in DIR/<dataset>/.fetch_data.sha256.

behaviour:
  - A present file that matches its official MD5 or its recorded SHA-256 is skipped without
    any network access, so a second run downloads nothing. Otherwise, with a mirror, the
    mirror's list is consulted; a present file that matches none is reported on stderr and
    downloaded again. The present file is replaced only once the new copy has verified.
  - cifar10 is also taken as present when the archive is absent but an extracted
    cifar-10-batches-bin/ holds the six batch files (not verified).
  - Downloads go to <file>.part and are moved into place only after verifying. An
    interrupted download leaves the .part behind, and the next run resumes it (an HTTP Range
    request). If the server cannot resume, the download starts again from the beginning; if
    a resumed file fails its checksum, it is downloaded once more from the beginning.
  - A file that fails its checksum is deleted (no file is left in place) and the run goes on
    with the other files. After a host proves unreachable, its remaining files are skipped.

environment:
  BNTRAIN_DATA       data root when --data-dir is not given
  BNTRAIN_MIRROR     mirror when --mirror is not given (empty: the official hosts)
  BNTRAIN_FETCH_TOOL curl or wget (default: curl if installed, else wget)
  Proxies are taken from the usual variables (https_proxy, http_proxy, no_proxy).

exit status: 0 all requested datasets are present and verified, 1 a download or a check
failed (one line on stderr for each: "fetch_data: no network: cannot reach HOST",
"fetch_data: DATASET/FILE: checksum mismatch (expected X, got Y)", ...), 2 usage error.
EOF
}

usage_error() {
    echo "$prog: $1 (see --help)" >&2
    exit 2
}

err() { echo "$prog: $*" >&2; }
say() { echo "$prog: $*"; }

# ---- command line ----
data_dir=${BNTRAIN_DATA:-}
mirror=${BNTRAIN_MIRROR:-}
verify=1
datasets=()
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --data-dir | --mirror)
            [ $# -ge 2 ] || usage_error "$1 needs a value"
            if [ "$1" = --data-dir ]; then data_dir=$2; else mirror=$2; fi
            [ "$1" = --mirror ] || [ -n "$2" ] || usage_error "--data-dir: empty path"
            shift 2 ;;
        --data-dir=*)
            data_dir=${1#*=}
            [ -n "$data_dir" ] || usage_error "--data-dir: empty path"
            shift ;;
        --mirror=*) mirror=${1#*=}; shift ;;
        --no-verify) verify=0; shift ;;
        --) shift; datasets+=("$@"); break ;;
        -*) usage_error "unknown option '$1'" ;;
        *) datasets+=("$1"); shift ;;
    esac
done
[ ${#datasets[@]} -gt 0 ] || datasets=("${all_datasets[@]}")
selected=()
for d in "${datasets[@]}"; do
    case $d in
        mnist | fashion-mnist | cifar10) ;;
        *) usage_error "unknown dataset '$d' (mnist, fashion-mnist, cifar10)" ;;
    esac
    case " ${selected[*]-} " in *" $d "*) ;; *) selected+=("$d") ;; esac
done
[ -n "$data_dir" ] || data_dir=$repo_root/data
while [ "${mirror%/}" != "$mirror" ]; do mirror=${mirror%/}; done
if [ -n "$mirror" ]; then
    case $mirror in
        http://?* | https://?* | file://?*) ;;
        *) usage_error "--mirror: '$mirror' is not an http://, https:// or file:// URL" ;;
    esac
fi

tool=${BNTRAIN_FETCH_TOOL:-}
case $tool in
    '') if command -v curl > /dev/null; then tool=curl
        elif command -v wget > /dev/null; then tool=wget
        else err "neither curl nor wget is installed"; exit 1; fi ;;
    curl | wget) command -v "$tool" > /dev/null || { err "$tool is not installed"; exit 1; } ;;
    *) usage_error "BNTRAIN_FETCH_TOOL: '$tool' is neither curl nor wget" ;;
esac
if [ "$tool" = wget ] && [ "${mirror#file://}" != "$mirror" ]; then
    usage_error "--mirror: wget cannot read file:// URLs (install curl)"
fi
if [ $verify -eq 1 ]; then
    for t in md5sum sha256sum; do
        command -v $t > /dev/null || { err "$t is not installed (coreutils)"; exit 1; }
    done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch_data.XXXXXX") || { err "cannot create a temporary folder"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ----
host_of() {
    local rest=${1#*://}
    echo "${rest%%/*}"
}

file_size() { wc -c < "$1" | tr -d ' '; }
hash_of() { "$1sum" < "$2" | cut -d' ' -f1; }

# Sets got_sum to the file's digest of the kind of $1 (md5 or sha256).
digest() { got_sum=$(hash_of "$1" "$2"); }

# Whether file $1 is now larger than $2 bytes: a timeout after data came is a stall, not a
# missing network.
grew() { [ -f "$1" ] && [ "$(file_size "$1")" -gt "$2" ]; }

# fetch URL OUT RESUME: download URL to OUT (appending to it when RESUME is 1).
# Sets f_status: ok, range-done (416 on resume: OUT is already complete), norange (the
# server cannot resume), network (cannot connect), stalled, http (f_code holds the status)
# or other (f_msg says what).
fetch() {
    local url=$1 out=$2 resume=$3 rc=0 code=000 errf=$tmp/fetch.err size0=0
    f_status=ok f_code=000 f_msg=
    : > "$errf"
    [ -f "$out" ] && size0=$(file_size "$out")
    if [ "$tool" = curl ]; then
        local args=(--location --fail --proto-redir "=http,https" --connect-timeout 30
                    --speed-limit 1024 --speed-time 60 -o "$out" -w '%{http_code}')
        [ "$resume" -eq 1 ] && args+=(-C -)
        if [ -t 2 ]; then
            code=$(curl --progress-bar "${args[@]}" "$url") || rc=$?
        else
            code=$(curl --silent --show-error "${args[@]}" "$url" 2> "$errf") || rc=$?
        fi
        case $rc in
            0) ;;
            6 | 7) f_status=network ;;
            28) if grew "$out" "$size0"; then f_status=stalled; else f_status=network; fi ;;
            33) f_status=norange ;;
            22) f_code=$code
                if [ "$resume" -eq 1 ] && [ "$code" = 416 ]; then f_status=range-done; else f_status=http; fi ;;
            37) f_status=http f_code=404 ;; # file:// URL: no such file
            *) f_status=other f_msg=$(head -n 1 "$errf")
               [ -n "$f_msg" ] || f_msg="curl exit status $rc" ;;
        esac
    else
        local args=(--tries=1 --timeout=60 -O "$out")
        [ "$resume" -eq 1 ] && args+=(-c)
        if [ -t 2 ]; then
            wget -nv --show-progress "${args[@]}" "$url" 2> >(tee "$errf" >&2) || rc=$?
            [ -n "${!:-}" ] && wait "$!" 2> /dev/null # the tee: $errf is then complete
        else
            wget -nv "${args[@]}" "$url" 2> "$errf" || rc=$?
        fi
        case $rc in
            0) ;;
            4) if grew "$out" "$size0"; then f_status=stalled; else f_status=network; fi ;;
            8) f_status=http
               f_code=$(grep -o 'ERROR [0-9][0-9][0-9]' "$errf" | head -n 1 | cut -d' ' -f2)
               [ -n "$f_code" ] || f_code=000 ;;
            *) f_status=other f_msg=$(grep -v '^ *$' "$errf" | tail -n 1)
               [ -n "$f_msg" ] || f_msg="wget exit status $rc" ;;
        esac
    fi
    return 0
}

declare -A unreachable=()  # host -> 1 once it failed to connect
declare -A sums_state=()   # dataset -> none | sha256 | md5 | failed, once looked up
failures=0 downloaded=0 present=0

network_error() {
    local host=$1
    unreachable[$host]=1
    err "no network: cannot reach $host"
    failures=$((failures + 1))
}

# Looks up the mirror's checksum list for dataset $1 once; leaves it in $tmp/$1.sums.
load_mirror_sums() {
    local ds=$1 name kind
    [ -n "${sums_state[$ds]:-}" ] && return 0
    sums_state[$ds]=none
    [ -n "$mirror" ] || return 0
    local host
    host=$(host_of "$mirror")
    if [ -n "${unreachable[$host]:-}" ]; then sums_state[$ds]=failed; return 0; fi
    for name in SHA256SUMS MD5SUMS; do
        kind=sha256
        [ "$name" = MD5SUMS ] && kind=md5
        rm -f "$tmp/sums.part"
        fetch "$mirror/$ds/$name" "$tmp/sums.part" 0
        case $f_status in
            ok) # "<hex>  <file>", "<hex> *<file>" or "<hex>  ./<file>"; comments ignored.
                awk -v kind="$kind" '
                    /^[ \t]*(#|$)/ { next }
                    { hex = tolower($1); f = $0; sub(/^[^ \t]+[ \t]+/, "", f); sub(/^\*/, "", f);
                      sub(/^\.\//, "", f); sub(/[ \t\r]+$/, "", f)
                      n = (kind == "md5") ? 32 : 64  # no {n} intervals: mawk lacks them
                      if (hex ~ /^[0-9a-f]+$/ && length(hex) == n) print hex "  " f }
                ' "$tmp/sums.part" > "$tmp/$ds.sums"
                sums_state[$ds]=$kind
                say "$ds: verifying against the mirror's $name"
                return 0 ;;
            http) case $f_code in 4??) continue ;; esac
                  err "$mirror/$ds/$name: HTTP error $f_code"
                  failures=$((failures + 1)); sums_state[$ds]=failed; return 0 ;;
            network | stalled) network_error "$host"; sums_state[$ds]=failed; return 0 ;;
            *) err "$mirror/$ds/$name: download failed: $f_msg"
               failures=$((failures + 1)); sums_state[$ds]=failed; return 0 ;;
        esac
    done
    return 0
}

# Sets exp_kind and exp_sum to the checksum dataset $1 file $2 must have: the mirror's, if
# its list names the file, else the official MD5.
expected_sum() {
    local ds=$1 file=$2 hex=
    exp_kind=md5 exp_sum=$(official_md5 "$ds" "$file")
    case ${sums_state[$ds]:-none} in
        sha256 | md5)
            hex=$(awk -v f="$file" '$2 == f { print $1; exit }' "$tmp/$ds.sums")
            if [ -n "$hex" ]; then exp_kind=${sums_state[$ds]} exp_sum=$hex; fi ;;
    esac
}

recorded_sha256() {
    local rec=$1/.fetch_data.sha256
    [ -f "$rec" ] || return 0
    awk -v f="$2" '$2 == f { h = $1 } END { if (h != "") print h }' "$rec"
}

record_sha256() {
    local dir=$1 file=$2 hex=$3 rec=$1/.fetch_data.sha256
    {
        [ -f "$rec" ] && awk -v f="$file" '$2 != f' "$rec"
        echo "$hex  $file"
    } > "$rec.tmp" && mv -f "$rec.tmp" "$rec"
}

# Downloads $url into $dest via $dest.part, resuming, verifying (unless --no-verify), then
# moving it into place. Returns 0 on success; on failure prints one line and returns 1.
download() {
    local ds=$1 file=$2 url=$3 dest=$4 part=$4.part host before resumed restarted=0
    host=$(host_of "$url")
    while :; do
        before=0 resumed=0
        [ -f "$part" ] && before=$(file_size "$part")
        if [ "$before" -gt 0 ]; then
            resumed=1
            say "$ds/$file: resuming at byte $before from $url"
        else
            say "$ds/$file: downloading $url"
        fi
        fetch "$url" "$part" "$resumed"
        case $f_status in
            ok | range-done) ;;
            norange)
                say "$ds/$file: the server cannot resume; downloading from the start"
                rm -f "$part"; continue ;;
            network)
                [ -f "$part" ] && [ ! -s "$part" ] && rm -f "$part"
                network_error "$host"; return 1 ;;
            stalled)
                err "$ds/$file: download stalled; run again to resume it ($part kept)"
                failures=$((failures + 1)); return 1 ;;
            http)
                [ -f "$part" ] && [ ! -s "$part" ] && rm -f "$part"
                err "$url: HTTP error $f_code"
                failures=$((failures + 1)); return 1 ;;
            *)
                [ -f "$part" ] && [ ! -s "$part" ] && rm -f "$part"
                err "$url: download failed: $f_msg"
                failures=$((failures + 1)); return 1 ;;
        esac
        if [ $verify -eq 0 ]; then
            mv -f "$part" "$dest"
            say "$ds/$file: downloaded (not verified)"
            downloaded=$((downloaded + 1))
            return 0
        fi
        expected_sum "$ds" "$file"
        digest "$exp_kind" "$part"
        if [ "$got_sum" = "$exp_sum" ]; then
            local sha=$got_sum
            [ "$exp_kind" = sha256 ] || sha=$(hash_of sha256 "$part")
            mv -f "$part" "$dest"
            record_sha256 "$(dirname "$dest")" "$file" "$sha"
            say "$ds/$file: downloaded, $exp_kind ok"
            downloaded=$((downloaded + 1))
            return 0
        fi
        rm -f "$part"
        if [ $resumed -eq 1 ] && [ $restarted -eq 0 ]; then
            say "$ds/$file: the resumed file fails its checksum; downloading from the start"
            restarted=1
            continue
        fi
        err "$ds/$file: checksum mismatch (expected $exp_sum, got $got_sum)"
        failures=$((failures + 1))
        return 1
    done
}

# Whether to skip a file because its host has already failed (the failure is counted once).
skip_unreachable() {
    [ -n "${unreachable[$3]:-}" ] || return 1
    say "$1/$2: skipped: $3 is unreachable"
}

# Whether to skip a file because the mirror's checksum list could not be read.
skip_no_sums() {
    [ "${sums_state[$1]:-}" = failed ] || return 1
    say "$1/$2: skipped: the mirror's checksum list could not be read"
}

# Handles one file of one dataset: skip it when present and good, else download it.
fetch_file() {
    local ds=$1 file=$2 dir=$data_dir/$1 url dest host
    dest=$dir/$file
    if [ -n "$mirror" ]; then url=$mirror/$ds/$file; else url=$(official_base "$ds")/$file; fi
    host=$(host_of "$url")
    if [ -f "$dest" ]; then
        if [ $verify -eq 0 ]; then
            say "$ds/$file: present (not verified)"; present=$((present + 1)); return 0
        fi
        if [ "$(hash_of md5 "$dest")" = "$(official_md5 "$ds" "$file")" ]; then
            say "$ds/$file: present, official md5 ok"; present=$((present + 1)); return 0
        fi
        local rec
        rec=$(recorded_sha256 "$dir" "$file")
        if [ -n "$rec" ] && [ "$(hash_of sha256 "$dest")" = "$rec" ]; then
            say "$ds/$file: present, sha256 recorded at download ok"; present=$((present + 1))
            return 0
        fi
        # Only the mirror's list can still vouch for it.
        skip_unreachable "$ds" "$file" "$host" && return 0
        load_mirror_sums "$ds"
        skip_no_sums "$ds" "$file" && return 0
        expected_sum "$ds" "$file"
        digest "$exp_kind" "$dest"
        if [ "$got_sum" = "$exp_sum" ]; then
            local sha=$got_sum
            [ "$exp_kind" = sha256 ] || sha=$(hash_of sha256 "$dest")
            record_sha256 "$dir" "$file" "$sha"
            say "$ds/$file: present, mirror's $exp_kind ok"; present=$((present + 1))
            return 0
        fi
        err "warning: $ds/$file: present but checksum mismatch (expected $exp_sum, got $got_sum); downloading it again"
    fi
    skip_unreachable "$ds" "$file" "$host" && return 0
    if [ $verify -eq 1 ]; then
        load_mirror_sums "$ds"
        skip_no_sums "$ds" "$file" && return 0
    fi
    download "$ds" "$file" "$url" "$dest"
    return 0
}

for ds in "${selected[@]}"; do
    dir=$data_dir/$ds
    if [ "$ds" = cifar10 ] && [ ! -e "$dir/cifar-10-binary.tar.gz" ] &&
        [ -d "$dir/cifar-10-batches-bin" ]; then
        complete=1
        for b in "${cifar_batches[@]}"; do [ -f "$dir/cifar-10-batches-bin/$b" ] || complete=0; done
        if [ $complete -eq 1 ]; then
            say "cifar10: present as the extracted cifar-10-batches-bin/ (not verified); archive not needed"
            present=$((present + 1))
            continue
        fi
    fi
    if ! mkdir -p "$dir" 2> /dev/null || [ ! -w "$dir" ]; then
        err "$dir: cannot create or write the folder"
        failures=$((failures + 1))
        continue
    fi
    mapfile -t files < <(dataset_files "$ds")
    for file in "${files[@]}"; do
        fetch_file "$ds" "$file"
    done
done

say "$downloaded downloaded, $present already present, $failures failed (data root: $data_dir)"
[ $failures -eq 0 ] || exit 1
exit 0
