#!/usr/bin/env bash
# Bad inputs and what each gives: corrupt data files of every kind, bad options, damaged grid
# folders, a full disk. Each case is run and its exit status and its one line on stderr are
# checked exactly; the same list is README.md's table "Bad inputs" (between its marker
# comments), and the test fails if that table differs from the list.
#   bash tests/test_bad_input.sh --table   prints the table from the list, running nothing
# In the messages, DATA is the data root, DIR the grid folder, N a count of cores and <hash> a
# configuration's identity, which vary from machine to machine or with the options' defaults.
set -u
table_only=0
if [ "${1-}" = "--table" ]; then
    table_only=1
    export BNTRAIN_BINARY=${BNTRAIN_BINARY:-unused}
    export BNTRAIN_SOURCE_DIR=${BNTRAIN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
fi
source "$(dirname "$0")/check.sh" test_bad_input

data="$work/data"
dir="$work/dir"
sample="$src/data/mnist-sample"
cores=$(nproc)
train=(train --dataset mnist-sample --data-dir "$data" --train-subset 256 --batch 32 --epochs 1
       --hidden 32)
cifar=(train --dataset cifar10 --data-dir "$data" --train-subset 256 --batch 32 --epochs 1
       --hidden 32)
grid=(grid --dataset mnist-sample --gamma 0.5,1 --log10-lr -2,-1 --restarts 2 --epochs 1
      --train-subset 200 --batch 50 --hidden 16 --quiet --out "$dir")
skip_reason="" skipped=0 case_stdout="" case_env=()
# A tmpfs mounted on the grid folder by the full-disk case is unmounted on every way out.
trap 'umount "$dir" 2> /dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The case's stderr with the placeholders of the table.
normalise() {
    sed -e "s|$data|DATA|g" -e "s|$dir|DIR|g" -e 's/[0-9a-f]\{16\}/<hash>/g' \
        -e "s/capped at $((4 * cores)) (4x the $cores cores)/capped at 4N (4x the N cores)/"
}

# ---- What each case starts from -----------------------------------------------------------

fresh_data() { rm -rf "$data" && mkdir -p "$data/mnist-sample" && cp "$sample"/*.gz "$data/mnist-sample/"; }
mnist_file() { echo "$data/mnist-sample/$1-idx$2-ubyte.gz"; }
# a gzipped IDX file rewritten by a python expression over its bytes b (a bytearray)
rewrite_idx() {
    local file
    file=$(mnist_file "$1" "$2")
    gzip -dc "$file" | python3 -c "import sys; b = bytearray(sys.stdin.buffer.read()); $3;
sys.stdout.buffer.write(bytes(b))" | gzip -n > "$file.new" && mv "$file.new" "$file"
}
cut_gzip() { fresh_data && head -c "$3" "$sample/$1-idx$2-ubyte.gz" > "$(mnist_file "$1" "$2")"; }
labels_as_images() { fresh_data && cp "$(mnist_file train-labels 1)" "$(mnist_file train-images 3)"; }
# 5000 random bytes, seeded, so that the message (the magic number read) is the same every time
seeded_bytes() {
    python3 -c "import random, sys; r = random.Random(1)
sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(5000)))"
}
random_bytes() { fresh_data && seeded_bytes > "$(mnist_file "$1" "$2")"; }
empty_file() { fresh_data && : > "$(mnist_file "$1" "$2")"; }
folder_instead() { fresh_data && rm "$(mnist_file "$1" "$2")" && mkdir "$(mnist_file "$1" "$2")"; }
missing_file() { fresh_data && rm "$(mnist_file "$1" "$2")"; }
label_ten() { fresh_data && rewrite_idx train-labels 1 "b[8] = 10"; }
one_label_less() {
    fresh_data && rewrite_idx train-labels 1 "n = int.from_bytes(b[4:8], 'big') - 1;
b[4:8] = n.to_bytes(4, 'big'); b = b[:-1]"
}
raw_cut() {
    fresh_data && local file
    file=$(mnist_file t10k-labels 1)
    gzip -dc "$file" | head -c 100 > "${file%.gz}" && rm "$file"
}
fresh_cifar() { rm -rf "$data" && mkdir -p "$data/cifar10"; }
cifar_archive_folder() { fresh_cifar && mkdir "$data/cifar10/cifar-10-binary.tar.gz"; }
cifar_archive_empty() { fresh_cifar && : > "$data/cifar10/cifar-10-binary.tar.gz"; }
cifar_archive_random() { fresh_cifar && seeded_bytes > "$data/cifar10/cifar-10-binary.tar.gz"; }
cifar_batch() { # cifar_batch BYTES [FIRST_LABEL]: data_batch_1.bin of that many bytes
    fresh_cifar && mkdir "$data/cifar10/cifar-10-batches-bin" &&
        { printf "\\x$(printf %02x "${2:-0}")"; head -c $(($1 - 1)) /dev/zero; } \
            > "$data/cifar10/cifar-10-batches-bin/data_batch_1.bin"
}
nothing() { :; }
stdout_full() { case_stdout=/dev/full; }
isa_env() { fresh_data && case_env=(BNTRAIN_ISA="$1"); } # bntrain run with $BNTRAIN_ISA set

# A finished grid, made once; each folder case starts from a copy of it.
made_grid="$work/made-grid"
fresh_grid() { rm -rf "$dir" && cp -r "$made_grid" "$dir"; }
no_config() { fresh_grid && rm "$dir/config.json"; }
cut_config() { fresh_grid && head -c 200 "$made_grid/config.json" > "$dir/config.json"; }
folder_config() { fresh_grid && rm "$dir/config.json" && mkdir "$dir/config.json"; }
other_runs() { fresh_grid && cp "$work/other-grid/runs.csv" "$dir/runs.csv"; }
no_identity() { fresh_grid && tail -n +2 "$made_grid/runs.csv" > "$dir/runs.csv"; }
run_twice() { fresh_grid && sed -n 3p "$made_grid/runs.csv" >> "$dir/runs.csv"; }
torn_line() { # the last record replaced by the start of one
    fresh_grid && head -n -1 "$made_grid/runs.csv" > "$dir/runs.csv" &&
        printf '0.5,-2,0.01,1,12' >> "$dir/runs.csv"
}
old_cells() { fresh_grid && tail -n +2 "$made_grid/cells.csv" > "$dir/cells.csv"; }
other_theory() { fresh_grid && cp "$work/other-grid/theory.csv" "$dir/theory.csv"; }
figure_without_config() {
    rm -rf "$dir" && mkdir -p "$dir/fig2a_fc_mnist" && cp "$made_grid/runs.csv" "$dir/fig2a_fc_mnist/"
}
full_disk() { # a tmpfs filled to its last page under the grid folder
    rm -rf "$dir" && mkdir "$dir" && mount -t tmpfs -o size=1m tmpfs "$dir" 2> /dev/null &&
        { dd if=/dev/zero of="$dir/filler" bs=4096 2> /dev/null; true; }
}

# ---- The cases ----------------------------------------------------------------------------

rows=()

# bad INPUT STATUS MESSAGE SETUP... -- ARGUMENTS...: SETUP prepares the input, then bntrain
# ARGUMENTS must exit with STATUS and print MESSAGE (normalised) as its only line on stderr.
bad() {
    local input=$1 status=$2 message=$3 setup=()
    shift 3
    while [ "$1" != "--" ]; do
        setup+=("$1")
        shift
    done
    shift
    rows+=("| $input | $status | \`${message//|/\\|}\` |")
    [ $table_only -eq 1 ] && return 0
    if [ -n "$skip_reason" ]; then
        echo "test_bad_input: SKIPPED: '$input' not checked: $skip_reason" >&2
        skipped=1
        return 0
    fi
    if ! "${setup[@]}"; then
        check "$input: set up" false
        return 0
    fi
    local had_folder=0
    [ -e "$dir/runs.csv" ] && had_folder=1 && cp -r "$dir" "$work/dir-before"
    env ${case_env[@]+"${case_env[@]}"} "$bin" "$@" > "${case_stdout:-$work/out}" 2> "$work/err"
    local got=$? said
    case_stdout= case_env=()
    said=$(normalise < "$work/err")
    check "$input: exit $status (got $got)" test $got -eq "$status"
    check "$input: says exactly the one line of the table (said: $said)" \
        test "$said" = "$message"
    # a grid folder that is refused is left as it was (a torn line is the one thing mended)
    if [ $had_folder -eq 1 ] && [ "$status" -ne 0 ]; then
        check "$input: the folder is left as it was" diff -r "$work/dir-before" "$dir"
    fi
    rm -rf "$work/dir-before"
}

if [ $table_only -eq 0 ]; then
    # one thread: runs.csv in the same order every time (the duplicated record is its first)
    "$bin" "${grid[@]}" --threads 1 --out "$made_grid" &&
        "$bin" "${grid[@]}" --epochs 2 --out "$work/other-grid"
    check "the grids the folder cases start from" test $? -eq 0
fi

bad "MNIST images: a gzip file cut at 1000 bytes" 1 \
    "bntrain train: DATA/mnist-sample/train-images-idx3-ubyte.gz: truncated: expected 3136016 bytes, got 4321" \
    cut_gzip train-images 3 1000 -- "${train[@]}"
bad "MNIST images: a labels file in their place (wrong magic number)" 1 \
    "bntrain train: DATA/mnist-sample/train-images-idx3-ubyte.gz: wrong magic number 0x00000801, expected 0x00000803 (IDX images)" \
    labels_as_images -- "${train[@]}"
bad "MNIST labels: 5000 random bytes" 1 \
    "bntrain train: DATA/mnist-sample/train-labels-idx1-ubyte.gz: wrong magic number 0x2291d8cd, expected 0x00000801 (IDX labels)" \
    random_bytes train-labels 1 -- "${train[@]}"
bad "MNIST test images: an empty file" 1 \
    "bntrain train: DATA/mnist-sample/t10k-images-idx3-ubyte.gz: truncated: expected a 16-byte IDX header, got 0 bytes" \
    empty_file t10k-images 3 -- "${train[@]}"
bad "MNIST test labels: a folder in the file's place" 1 \
    "bntrain train: DATA/mnist-sample/t10k-labels-idx1-ubyte.gz: a folder, where a data file is expected" \
    folder_instead t10k-labels 1 -- "${train[@]}"
bad "MNIST test labels: missing" 1 \
    "bntrain train: DATA/mnist-sample/t10k-labels-idx1-ubyte.gz: not found (nor without .gz); get the data with scripts/fetch_data.sh or point --data-dir at it" \
    missing_file t10k-labels 1 -- "${train[@]}"
bad "MNIST test labels: not gzipped, cut at 100 bytes" 1 \
    "bntrain train: DATA/mnist-sample/t10k-labels-idx1-ubyte: truncated: expected 1008 bytes, got 100" \
    raw_cut -- "${train[@]}"
bad "MNIST labels: a label of 10" 1 \
    "bntrain train: DATA/mnist-sample/train-labels-idx1-ubyte.gz: label 10 at index 0, expected 0..9" \
    label_ten -- "${train[@]}"
bad "MNIST labels: one label fewer than the images" 1 \
    "bntrain train: DATA/mnist-sample/train-labels-idx1-ubyte.gz: 3999 labels, but DATA/mnist-sample/train-images-idx3-ubyte.gz holds 4000 images" \
    one_label_less -- "${train[@]}"
bad "CIFAR-10 archive: a folder in its place" 1 \
    "bntrain train: DATA/cifar10/cifar-10-binary.tar.gz: a folder, where a data file is expected" \
    cifar_archive_folder -- "${cifar[@]}"
bad "CIFAR-10 archive: an empty file" 1 \
    "bntrain train: DATA/cifar10/cifar-10-binary.tar.gz: truncated archive (no end-of-archive block)" \
    cifar_archive_empty -- "${cifar[@]}"
bad "CIFAR-10 archive: 5000 random bytes" 1 \
    "bntrain train: DATA/cifar10/cifar-10-binary.tar.gz: corrupt tar header (bad checksum or size field)" \
    cifar_archive_random -- "${cifar[@]}"
bad "CIFAR-10 batch file: cut at 5000 bytes" 1 \
    "bntrain train: DATA/cifar10/cifar-10-batches-bin/data_batch_1.bin: truncated: expected 30730000 bytes, got 5000" \
    cifar_batch 5000 -- "${cifar[@]}"
bad "CIFAR-10 batch file: a label of 12" 1 \
    "bntrain train: DATA/cifar10/cifar-10-batches-bin/data_batch_1.bin: label 12 in record 0, expected 0..9" \
    cifar_batch 30730000 12 -- "${cifar[@]}"

bad "\`--bogus\` (an unknown option)" 2 \
    "bntrain train: unknown option or missing value: '--bogus' (see bntrain help train)" \
    fresh_data -- "${train[@]}" --bogus
bad "\`--lr abc\` (not a number)" 2 \
    "bntrain train: --lr: 'abc' is not a number (see bntrain help train)" \
    fresh_data -- "${train[@]}" --lr abc
bad "\`--epochs 2.5\` (not an integer)" 2 \
    "bntrain train: --epochs: '2.5' is not a positive integer (see bntrain help train)" \
    fresh_data -- "${train[@]}" --epochs 2.5
bad "\`--threads 100000\`: capped, and the run goes on" 0 \
    "bntrain train: note: --threads 100000 capped at 4N (4x the N cores)" \
    fresh_data -- "${train[@]}" --threads 100000
[ $table_only -eq 1 ] || check "--threads 100000: the epoch is trained" grep -q '^ *1 ' "$work/out"
bad "\`BNTRAIN_ISA=sse\` (not an instruction-set level)" 2 \
    "bntrain train: BNTRAIN_ISA='sse': not an instruction-set level (portable, avx2 or avx512)" \
    isa_env sse -- "${train[@]}"
bad "\`--gamma -1\` (grid)" 2 \
    "bntrain grid: --gamma: values must be positive, got -1 (see bntrain help grid)" \
    nothing -- grid --dataset mnist-sample --gamma -1 --out "$dir"
bad "\`--gamma 1,1\` (grid: a value twice)" 2 \
    "bntrain grid: --gamma: the value 1 is repeated in '1,1' (see bntrain help grid)" \
    nothing -- grid --dataset mnist-sample --gamma 1,1 --out "$dir"
bad "\`--restarts 100000000\` (grid)" 2 \
    "bntrain grid: --restarts: 100000000 is too many, at most 10000 (see bntrain help grid)" \
    nothing -- grid --dataset mnist-sample --restarts 100000000 --out "$dir"
[ $table_only -eq 1 ] || check "bad grid options create no folder" test ! -e "$dir"
bad "standard output on a full disk (\`theory --csv > /dev/full\`)" 1 \
    "bntrain theory: standard output: cannot write: No space left on device" \
    stdout_full -- theory --arch fc --dataset mnist --csv

bad "grid folder: \`config.json\` missing, \`runs.csv\` there" 2 \
    "bntrain grid: DIR/config.json is missing but DIR/runs.csv holds results: restore it, or use --force to discard those results (or choose another --out) (see bntrain help grid)" \
    no_config -- "${grid[@]}"
bad "grid folder: \`config.json\` cut short" 1 \
    "bntrain grid: DIR/config.json: truncated or corrupt (not a whole JSON object): restore it, or start the grid afresh with --force" \
    cut_config -- "${grid[@]}"
bad "grid folder: a folder in \`config.json\`'s place" 1 \
    "bntrain grid: DIR/config.json: cannot read: Is a directory" \
    folder_config -- "${grid[@]}"
bad "grid folder: \`runs.csv\` of another configuration" 2 \
    "bntrain grid: DIR/runs.csv belongs to configuration <hash>, not to this grid's <hash> (config.json agrees with this command: the file comes from another grid); use another --out, or --force to start afresh (see bntrain help grid)" \
    other_runs -- "${grid[@]}"
bad "grid folder: \`runs.csv\` without its identity line" 2 \
    "bntrain grid: DIR/runs.csv: no identity line: written by an older bntrain, so it cannot be tied to a configuration; use --force to start afresh, or, if you know it was made with this config.json, add '# bntrain grid config <hash>' as its first line (see bntrain help grid)" \
    no_identity -- "${grid[@]}"
bad "grid folder: a run recorded twice in \`runs.csv\`" 1 \
    "bntrain grid: DIR/runs.csv: the run gamma=0.5 log10_lr=-2 restart 0 is recorded twice, on lines 3 and 11; a run is recorded once, so the file was edited or joined with another: keep one of the lines, or use --force to start afresh" \
    run_twice -- "${grid[@]}"
bad "grid folder: \`runs.csv\` ends in a torn line (a kill mid-write): dropped, the run redone" 0 \
    "bntrain grid: dropped a torn last line (16 bytes) from runs.csv" \
    torn_line -- "${grid[@]}"
bad "plot: \`cells.csv\` without the identity line" 1 \
    "bntrain plot: DIR/cells.csv: no identity line (written by an older bntrain, or not this grid's): it cannot be tied to config.json; delete it, and run the command that made DIR again to write it anew" \
    old_cells -- plot "$dir"
bad "plot: \`theory.csv\` of another grid" 1 \
    "bntrain plot: DIR/theory.csv: belongs to configuration <hash>, not to this folder's <hash> (config.json): it comes from another grid; delete it, and run the command that made DIR again to write it anew" \
    other_theory -- plot "$dir"
bad "plot: \`config.json\` missing" 1 \
    "bntrain plot: DIR/config.json is missing: the results in DIR cannot be tied to a configuration without it; restore it" \
    no_config -- plot "$dir"
bad "figures: a figure's folder holding \`runs.csv\` without \`config.json\`" 1 \
    "bntrain figures: DIR/fig2a_fc_mnist/config.json is missing but DIR/fig2a_fc_mnist/runs.csv holds results: restore it, or use --force to discard those results (or choose another --out)" \
    figure_without_config -- figures --quick --quiet --out "$dir"

# The full disk needs a mount: where that is not permitted its row is not checked, loudly.
can_mount() {
    mkdir -p "$work/probe" && mount -t tmpfs -o size=1m tmpfs "$work/probe" 2> /dev/null &&
        umount "$work/probe"
}
[ $table_only -eq 1 ] || can_mount ||
    skip_reason="cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)"
bad "grid folder on a full disk (a tmpfs filled to its last page)" 1 \
    "bntrain grid: DIR/runs.csv: cannot write: No space left on device" \
    full_disk -- "${grid[@]}"
[ $table_only -eq 1 ] || [ -n "$skip_reason" ] || umount "$dir"

# ---- The table ----------------------------------------------------------------------------

table() {
    echo "| bad input | exit | the one line on stderr |"
    echo "| --- | ---: | --- |"
    printf '%s\n' "${rows[@]}"
}
if [ $table_only -eq 1 ]; then
    table
    exit 0
fi
readme_table() {
    sed -n '/<!-- BEGIN bad inputs: tests\/test_bad_input.sh --table -->/,/<!-- END bad inputs -->/p' \
        "$src/README.md" | sed '1d;$d'
}
check "README.md's table of bad inputs is the list's (bash tests/test_bad_input.sh --table)" \
    cmp -s <(table) <(readme_table)
check_summary || exit 1
[ $skipped -eq 0 ] || exit 77
