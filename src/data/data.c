/* Datasets: the IDX reader (MNIST, Fashion-MNIST, the bundled MNIST sample), the CIFAR-10
 * reader (extracted batches or the official tar.gz, streamed without extracting), and the
 * per-channel normalisation both share. Files go through zlib's gz* functions, which read gzip
 * and raw files alike. Sizes from a file are checked before they reach malloc, and every problem
 * is reported as one line that names the file. */
#include "bntrain/data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define N_CLASSES 10
#define PATH_BYTES 4096
#define MISSING_HINT "get the data with scripts/fetch_data.sh or point --data-dir at it"

/* The sizes marked "fuzz build" below are smaller there (BNTRAIN_FUZZ in CMakeLists.txt): under
 * ASan every large allocation costs milliseconds, a small first buffer lets a small input reach
 * the code that grows it, and short batches let a whole CIFAR-10 archive fit in a fuzz input. */

/* zlib reads 8 KB at a time by default; 1 MB turns a 170 MB archive into a few hundred reads.
 * (fuzz build) */
#ifndef GZ_BUFFER_BYTES
#define GZ_BUFFER_BYTES (1u << 20)
#endif
/* gzread takes an unsigned length and returns an int count: stay well below INT_MAX. */
#define GZ_MAX_READ_BYTES ((size_t)1 << 30)

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */
#define IDX_IMAGES_HEADER_BYTES 16
#define IDX_LABELS_HEADER_BYTES 8
#define IDX_MAX_COUNT 10000000u /* 166x MNIST: a larger count means a corrupt header */
#define IDX_MAX_SIDE 1024u
/* The first buffer of an IDX payload, grown as data arrives. (fuzz build) */
#ifndef IDX_FIRST_ALLOC_BYTES
#define IDX_FIRST_ALLOC_BYTES ((size_t)1 << 20)
#endif
#define MNIST_SIDE 28
#define FASHION_SYSTEM_DIR "/usr/share/datasets/fashion-mnist"

static const char *const IDX_TRAIN_IMAGES = "train-images-idx3-ubyte";
static const char *const IDX_TRAIN_LABELS = "train-labels-idx1-ubyte";
static const char *const IDX_TEST_IMAGES = "t10k-images-idx3-ubyte";
static const char *const IDX_TEST_LABELS = "t10k-labels-idx1-ubyte";

#define CIFAR_SIDE 32
#define CIFAR_IMAGE_BYTES (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD_BYTES (1 + CIFAR_IMAGE_BYTES) /* label, then R, G and B planes */
/* Records per batch file. (fuzz build) */
#ifndef CIFAR_BATCH_RECORDS
#define CIFAR_BATCH_RECORDS 10000
#endif
#define CIFAR_BATCH_BYTES ((size_t)CIFAR_BATCH_RECORDS * CIFAR_RECORD_BYTES)
#define CIFAR_TRAIN_BATCHES 5
#define CIFAR_N_BATCHES 6
#define CIFAR_FOLDER "cifar-10-batches-bin"
#define CIFAR_ARCHIVE "cifar-10-binary.tar.gz"
/* Records staged per read (3 MB): large enough that per-call overhead vanishes. (fuzz build) */
#ifndef CIFAR_CHUNK_RECORDS
#define CIFAR_CHUNK_RECORDS 1024
#endif
#define CIFAR_STAGING_BYTES ((size_t)CIFAR_CHUNK_RECORDS * CIFAR_RECORD_BYTES)

static const char *const CIFAR_BATCH_FILES[CIFAR_N_BATCHES] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

#define TAR_BLOCK 512
#define TAR_NAME_BYTES 100
#define TAR_PREFIX_BYTES 155

/* One split as read from disk: n images of bytes (NCHW) and n labels. */
typedef struct {
    size_t n;
    uint8_t *pixels;
    uint8_t *labels;
} raw_split;

static void raw_split_free(raw_split *split) {
    free(split->pixels);
    free(split->labels);
    memset(split, 0, sizeof *split);
}

/* ---- names, shapes, root ---- */

const char *const bn_dataset_names[] = {"mnist", "fashion-mnist", "mnist-sample", "cifar10", NULL};
#define KNOWN_NAMES "mnist, fashion-mnist, mnist-sample, cifar10"

static int is_idx_dataset(const char *name) {
    return strcmp(name, "mnist") == 0 || strcmp(name, "fashion-mnist") == 0 ||
           strcmp(name, "mnist-sample") == 0;
}

int dataset_shape(const char *name, size_t *channels, size_t *height, size_t *width) {
    if (!name) return -1;
    if (is_idx_dataset(name)) {
        *channels = 1;
        *height = *width = MNIST_SIDE;
        return 0;
    }
    if (strcmp(name, "cifar10") == 0) {
        *channels = 3;
        *height = *width = CIFAR_SIDE;
        return 0;
    }
    return -1;
}

int dataset_name_known(const char *name) {
    size_t channels, height, width;
    return dataset_shape(name, &channels, &height, &width) == 0;
}

const char *dataset_root(const char *data_dir) {
    if (data_dir) return data_dir;
    const char *env = getenv("BNTRAIN_DATA");
    return env && *env ? env : "data";
}

/* ---- files and gzip streams ---- */

static int make_path(char *out, bn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int make_path(char *out, bn_error *err, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(out, PATH_BYTES, fmt, args);
    va_end(args);
    if (len < 0 || len >= PATH_BYTES) return bn_fail(err, "%.200s...: path too long", out);
    return 0;
}

static int file_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && !S_ISDIR(info.st_mode);
}

static int dir_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static gzFile open_gz(const char *path, bn_error *err) {
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            bn_fail(err, "%s: not found; " MISSING_HINT, path);
        else
            bn_fail(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    (void)gzbuffer(f, GZ_BUFFER_BYTES); /* only fails after a read has started */
    return f;
}

static int gz_fail(gzFile f, const char *path, bn_error *err) {
    int errnum;
    const char *msg = gzerror(f, &errnum);
    if (errnum == Z_ERRNO) return bn_fail(err, "%s: read error: %s", path, strerror(errno));
    /* zlib starts its message with the path it was opened with; we name the file once. */
    size_t path_len = strlen(path);
    if (strncmp(msg, path, path_len) == 0 && strncmp(msg + path_len, ": ", 2) == 0)
        msg += path_len + 2;
    return bn_fail(err, "%s: corrupt or truncated gzip data: %s", path, msg);
}

/* Reads len bytes, or fewer if the data ends first (*got says how many). Returns -1 only when
 * zlib reports corrupt data or a read error. */
static int read_full(gzFile f, void *buf, size_t len, size_t *got, const char *path,
                     bn_error *err) {
    unsigned char *bytes = buf;
    *got = 0;
    while (*got < len) {
        size_t want = len - *got < GZ_MAX_READ_BYTES ? len - *got : GZ_MAX_READ_BYTES;
        int n = gzread(f, bytes + *got, (unsigned)want);
        if (n < 0) return gz_fail(f, path, err);
        if (n == 0) break;
        *got += (size_t)n;
    }
    return 0;
}

/* Called once the declared content is read: more data is an error, and so is a gzip stream that
 * ends without its trailer or fails its CRC, which zlib only checks at the very end. */
static int expect_end(gzFile f, const char *path, size_t declared_bytes, bn_error *err) {
    unsigned char extra;
    int n = gzread(f, &extra, 1);
    if (n > 0)
        return bn_fail(err, "%s: trailing data after the declared %zu bytes", path, declared_bytes);
    int errnum;
    (void)gzerror(f, &errnum);
    if (n < 0 || errnum != Z_OK) return gz_fail(f, path, err);
    return 0;
}

/* ---- IDX ---- */

static size_t read_be32(const unsigned char *bytes) {
    return (size_t)((uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
                    (uint32_t)bytes[3]);
}

static int idx_read_header(gzFile f, const char *path, size_t magic, size_t n_dims, size_t *dims,
                           bn_error *err) {
    unsigned char header[IDX_IMAGES_HEADER_BYTES];
    size_t header_bytes = 4 + 4 * n_dims, got;
    if (read_full(f, header, header_bytes, &got, path, err) != 0) return -1;
    if (got < header_bytes)
        return bn_fail(err, "%s: truncated: expected a %zu-byte IDX header, got %zu bytes", path,
                       header_bytes, got);
    size_t file_magic = read_be32(header);
    if (file_magic != magic)
        return bn_fail(err, "%s: wrong magic number 0x%08zx, expected 0x%08zx (IDX %s)", path,
                       file_magic, magic, n_dims == 3 ? "images" : "labels");
    for (size_t i = 0; i < n_dims; i++)
        dims[i] = read_be32(header + 4 + 4 * i);
    if (dims[0] == 0 || dims[0] > IDX_MAX_COUNT)
        return bn_fail(err, "%s: implausible count %zu in the header (expected 1..%u)", path,
                       dims[0], IDX_MAX_COUNT);
    return 0;
}

/* Opens an IDX file and reads its header: the magic number, then one big-endian 32-bit size per
 * dimension, the first being the count. */
static gzFile idx_open(const char *path, size_t magic, size_t n_dims, size_t *dims, bn_error *err) {
    gzFile f = open_gz(path, err);
    if (f && idx_read_header(f, path, magic, n_dims, dims, err) != 0) {
        gzclose(f);
        return NULL;
    }
    return f;
}

/* Reads the payload the header declared, and checks nothing follows. The buffer grows with the
 * data actually present (doubling from 1 MB) instead of trusting the header, so a corrupt count
 * cannot become a huge allocation; for a sound file the last step lands on the declared size. */
static int idx_read_payload(gzFile f, const char *path, size_t header_bytes, size_t payload_bytes,
                            uint8_t **out, bn_error *err) {
    size_t capacity = payload_bytes < IDX_FIRST_ALLOC_BYTES ? payload_bytes : IDX_FIRST_ALLOC_BYTES;
    size_t have = 0;
    uint8_t *data = malloc(capacity);
    if (!data) return bn_fail(err, "%s: out of memory for %zu bytes", path, capacity);
    while (have < payload_bytes) {
        if (have == capacity) {
            size_t grown = capacity > payload_bytes / 2 ? payload_bytes : 2 * capacity;
            uint8_t *bigger = realloc(data, grown);
            if (!bigger) {
                free(data);
                return bn_fail(err, "%s: out of memory for %zu bytes", path, grown);
            }
            data = bigger;
            capacity = grown;
        }
        size_t got;
        if (read_full(f, data + have, capacity - have, &got, path, err) != 0) {
            free(data);
            return -1;
        }
        have += got;
        if (have < capacity) break; /* the data ended early */
    }
    if (have < payload_bytes) {
        free(data);
        return bn_fail(err, "%s: truncated: expected %zu bytes, got %zu", path,
                       header_bytes + payload_bytes, header_bytes + have);
    }
    if (expect_end(f, path, header_bytes + payload_bytes, err) != 0) {
        free(data);
        return -1;
    }
    *out = data;
    return 0;
}

int idx_read_images(const char *path, uint8_t **pixels, size_t *n, size_t *rows, size_t *cols,
                    bn_error *err) {
    size_t dims[3] = {0}, image_bytes = 0, payload_bytes = 0;
    *pixels = NULL;
    *n = *rows = *cols = 0;
    gzFile f = idx_open(path, IDX_IMAGES_MAGIC, 3, dims, err);
    if (!f) return -1;
    int status = 0;
    if (dims[1] == 0 || dims[2] == 0 || dims[1] > IDX_MAX_SIDE || dims[2] > IDX_MAX_SIDE)
        status = bn_fail(err, "%s: implausible image size %zux%zu in the header", path, dims[1],
                         dims[2]);
    else if (bn_mul_size(dims[1], dims[2], &image_bytes) != 0 ||
             bn_mul_size(dims[0], image_bytes, &payload_bytes) != 0 ||
             payload_bytes > SIZE_MAX - IDX_IMAGES_HEADER_BYTES)
        status = bn_fail(err, "%s: declared size overflows", path);
    if (status == 0)
        status = idx_read_payload(f, path, IDX_IMAGES_HEADER_BYTES, payload_bytes, pixels, err);
    gzclose(f);
    if (status != 0) return -1;
    *n = dims[0];
    *rows = dims[1];
    *cols = dims[2];
    return 0;
}

int idx_read_labels(const char *path, uint8_t **labels, size_t *n, bn_error *err) {
    size_t count = 0; /* set by idx_open; initialised for the compiler's sake */
    *labels = NULL;
    *n = 0;
    gzFile f = idx_open(path, IDX_LABELS_MAGIC, 1, &count, err);
    if (!f) return -1;
    int status = idx_read_payload(f, path, IDX_LABELS_HEADER_BYTES, count, labels, err);
    gzclose(f);
    if (status != 0) return -1;
    for (size_t i = 0; i < count; i++) {
        if ((*labels)[i] >= N_CLASSES) {
            unsigned bad = (*labels)[i];
            free(*labels);
            *labels = NULL;
            return bn_fail(err, "%s: label %u at index %zu, expected 0..%d", path, bad, i,
                           N_CLASSES - 1);
        }
    }
    *n = count;
    return 0;
}

/* Puts <folder>/<base>.gz or, failing that, <folder>/<base> into path. */
/* A folder where a data file should be: named as such, not as a file not found. */
static int refuse_folder(const char *path, bn_error *err) {
    return bn_fail(err, "%s: a folder, where a data file is expected", path);
}

static int idx_locate(const char *folder, const char *base, char *path, bn_error *err) {
    if (make_path(path, err, "%s/%s.gz", folder, base) != 0) return -1;
    if (file_exists(path)) return 0;
    if (dir_exists(path)) return refuse_folder(path, err);
    if (make_path(path, err, "%s/%s", folder, base) != 0) return -1;
    if (file_exists(path)) return 0;
    if (dir_exists(path)) return refuse_folder(path, err);
    return bn_fail(err, "%s/%s.gz: not found (nor without .gz); " MISSING_HINT, folder, base);
}

/* Reads one split's images and labels and checks that they belong together. */
static int idx_load_split(const char *folder, const char *images_base, const char *labels_base,
                          raw_split *split, bn_error *err) {
    char images_path[PATH_BYTES], labels_path[PATH_BYTES];
    size_t rows, cols, n_labels;
    if (idx_locate(folder, images_base, images_path, err) != 0 ||
        idx_locate(folder, labels_base, labels_path, err) != 0)
        return -1;
    if (idx_read_images(images_path, &split->pixels, &split->n, &rows, &cols, err) != 0) return -1;
    if (rows != MNIST_SIDE || cols != MNIST_SIDE)
        return bn_fail(err, "%s: expected %dx%d images, got %zux%zu", images_path, MNIST_SIDE,
                       MNIST_SIDE, rows, cols);
    if (idx_read_labels(labels_path, &split->labels, &n_labels, err) != 0) return -1;
    if (n_labels != split->n)
        return bn_fail(err, "%s: %zu labels, but %s holds %zu images", labels_path, n_labels,
                       images_path, split->n);
    return 0;
}

static int idx_load(const char *root, const char *name, raw_split *train, raw_split *test,
                    bn_error *err) {
    char folder[PATH_BYTES], probe[PATH_BYTES];
    if (make_path(folder, err, "%s/%s", root, name) != 0) return -1;
    /* Fashion-MNIST is also a Debian package: use it when the data root has no copy. */
    if (strcmp(name, "fashion-mnist") == 0 &&
        idx_locate(folder, IDX_TRAIN_IMAGES, probe, NULL) != 0) {
        if (idx_locate(FASHION_SYSTEM_DIR, IDX_TRAIN_IMAGES, probe, NULL) != 0)
            return bn_fail(err,
                           "%s/%s.gz: not found, nor in " FASHION_SYSTEM_DIR
                           "; install dataset-fashion-mnist or " MISSING_HINT,
                           folder, IDX_TRAIN_IMAGES);
        snprintf(folder, sizeof folder, "%s", FASHION_SYSTEM_DIR);
    }
    if (idx_load_split(folder, IDX_TRAIN_IMAGES, IDX_TRAIN_LABELS, train, err) != 0) return -1;
    return idx_load_split(folder, IDX_TEST_IMAGES, IDX_TEST_LABELS, test, err);
}

/* ---- CIFAR-10 ---- */

/* Where batch b lands: data_batch_1..5 fill the training split in order, test_batch the test
 * split. */
static raw_split *cifar_batch_split(size_t batch, raw_split *train, raw_split *test,
                                    size_t *first) {
    if (batch < CIFAR_TRAIN_BATCHES) {
        *first = batch * CIFAR_BATCH_RECORDS;
        return train;
    }
    *first = 0;
    return test;
}

/* Reads one batch (10000 records of a label byte and 3072 CHW pixel bytes) from the stream into
 * records [first, first + 10000) of split. `what` names the file or archive member. */
static int cifar_read_batch(gzFile f, const char *what, uint8_t *staging, raw_split *split,
                            size_t first, bn_error *err) {
    size_t done = 0;
    while (done < CIFAR_BATCH_RECORDS) {
        size_t count = CIFAR_BATCH_RECORDS - done;
        if (count > CIFAR_CHUNK_RECORDS) count = CIFAR_CHUNK_RECORDS;
        size_t want = count * CIFAR_RECORD_BYTES, got;
        if (read_full(f, staging, want, &got, what, err) != 0) return -1;
        if (got < want)
            return bn_fail(err, "%s: truncated: expected %zu bytes, got %zu", what,
                           CIFAR_BATCH_BYTES, done * CIFAR_RECORD_BYTES + got);
        for (size_t r = 0; r < count; r++) {
            const uint8_t *record = staging + r * CIFAR_RECORD_BYTES;
            size_t index = first + done + r;
            if (record[0] >= N_CLASSES)
                return bn_fail(err, "%s: label %u in record %zu, expected 0..%d", what,
                               (unsigned)record[0], done + r, N_CLASSES - 1);
            split->labels[index] = record[0];
            memcpy(split->pixels + index * CIFAR_IMAGE_BYTES, record + 1, CIFAR_IMAGE_BYTES);
        }
        done += count;
    }
    return 0;
}

static int cifar_read_folder(const char *folder, raw_split *train, raw_split *test,
                             uint8_t *staging, bn_error *err) {
    for (size_t batch = 0; batch < CIFAR_N_BATCHES; batch++) {
        char path[PATH_BYTES];
        size_t first;
        if (make_path(path, err, "%s/%s", folder, CIFAR_BATCH_FILES[batch]) != 0) return -1;
        gzFile f = open_gz(path, err);
        if (!f) return -1;
        raw_split *split = cifar_batch_split(batch, train, test, &first);
        int status = cifar_read_batch(f, path, staging, split, first, err);
        if (status == 0) status = expect_end(f, path, CIFAR_BATCH_BYTES, err);
        gzclose(f);
        if (status != 0) return -1;
    }
    return 0;
}

/* A ustar header field in octal, right-aligned, ended by NUL or space. */
static int tar_octal(const unsigned char *field, size_t width, size_t *value) {
    size_t i = 0, digits = 0, v = 0;
    while (i < width && field[i] == ' ')
        i++;
    for (; i < width && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
        if (v > SIZE_MAX >> 3) return -1;
        v = v << 3 | (size_t)(field[i] - '0');
    }
    if (digits == 0 || (i < width && field[i] != ' ' && field[i] != '\0')) return -1;
    *value = v;
    return 0;
}

/* The checksum is the byte sum of the header with its own 8-byte field counted as spaces. */
static int tar_checksum_ok(const unsigned char *block) {
    size_t stored, sum = 0;
    if (tar_octal(block + 148, 8, &stored) != 0) return 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += i >= 148 && i < 156 ? ' ' : block[i];
    return sum == stored;
}

static int tar_block_is_zero(const unsigned char *block) {
    for (size_t i = 0; i < TAR_BLOCK; i++)
        if (block[i]) return 0;
    return 1;
}

/* The member's path: the POSIX ustar prefix (if any) and the name, without a leading "./". */
static void tar_member_name(const unsigned char *block, char *name) {
    size_t name_len = strnlen((const char *)block, TAR_NAME_BYTES), prefix_len = 0;
    if (memcmp(block + 257, "ustar\0", 6) == 0)
        prefix_len = strnlen((const char *)block + 345, TAR_PREFIX_BYTES);
    size_t at = 0;
    if (prefix_len > 0) {
        memcpy(name, block + 345, prefix_len);
        name[prefix_len] = '/';
        at = prefix_len + 1;
    }
    memcpy(name + at, block, name_len);
    name[at + name_len] = '\0';
    if (strncmp(name, "./", 2) == 0) memmove(name, name + 2, strlen(name + 2) + 1);
}

/* Index of the batch an archive member holds, or -1 for members we skip. */
static int cifar_member_batch(const char *name) {
    const char *folder = CIFAR_FOLDER "/";
    if (strncmp(name, folder, strlen(folder)) != 0) return -1;
    for (size_t batch = 0; batch < CIFAR_N_BATCHES; batch++)
        if (strcmp(name + strlen(folder), CIFAR_BATCH_FILES[batch]) == 0) return (int)batch;
    return -1;
}

/* Reads and drops n bytes (members we do not need, padding); fewer means a cut archive. */
static int tar_skip(gzFile f, const char *path, size_t n, uint8_t *staging, bn_error *err) {
    while (n > 0) {
        size_t want = n < CIFAR_STAGING_BYTES ? n : CIFAR_STAGING_BYTES, got;
        if (read_full(f, staging, want, &got, path, err) != 0) return -1;
        if (got < want) return bn_fail(err, "%s: truncated archive", path);
        n -= want;
    }
    return 0;
}

/* Handles the member whose header is in block: reads it if it is a batch, skips it otherwise. */
static int cifar_archive_member(gzFile f, const char *path, const unsigned char *block, int *seen,
                                raw_split *train, raw_split *test, uint8_t *staging,
                                bn_error *err) {
    char name[TAR_PREFIX_BYTES + 1 + TAR_NAME_BYTES + 1];
    size_t size;
    if (!tar_checksum_ok(block) || tar_octal(block + 124, 12, &size) != 0)
        return bn_fail(err, "%s: corrupt tar header (bad checksum or size field)", path);
    tar_member_name(block, name);
    size_t padding = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
    char type = (char)block[156];
    int batch = cifar_member_batch(name);
    if (batch < 0 || (type != '0' && type != '\0')) {
        if (tar_skip(f, path, size, staging, err) != 0) return -1;
        return tar_skip(f, path, padding, staging, err);
    }
    char what[PATH_BYTES + sizeof name + 16];
    snprintf(what, sizeof what, "%s: member %s", path, name);
    if (seen[batch]) return bn_fail(err, "%s: appears twice", what);
    if (size != CIFAR_BATCH_BYTES)
        return bn_fail(err, "%s: %zu bytes, expected %zu (%d records of %d bytes)", what, size,
                       CIFAR_BATCH_BYTES, CIFAR_BATCH_RECORDS, CIFAR_RECORD_BYTES);
    size_t first;
    raw_split *split = cifar_batch_split((size_t)batch, train, test, &first);
    if (cifar_read_batch(f, what, staging, split, first, err) != 0) return -1;
    seen[batch] = 1;
    return tar_skip(f, path, padding, staging, err);
}

/* Walks the tar stream member by member up to the end-of-archive block, then reads the rest so
 * that zlib checks the CRC of the whole stream. */
static int cifar_scan_archive(gzFile f, const char *path, raw_split *train, raw_split *test,
                              uint8_t *staging, bn_error *err) {
    int seen[CIFAR_N_BATCHES] = {0};
    for (;;) {
        unsigned char block[TAR_BLOCK];
        size_t got;
        if (read_full(f, block, TAR_BLOCK, &got, path, err) != 0) return -1;
        if (got < TAR_BLOCK)
            return bn_fail(err, "%s: truncated archive (no end-of-archive block)", path);
        if (tar_block_is_zero(block)) break;
        if (cifar_archive_member(f, path, block, seen, train, test, staging, err) != 0) return -1;
    }
    for (size_t batch = 0; batch < CIFAR_N_BATCHES; batch++)
        if (!seen[batch])
            return bn_fail(err, "%s: no member " CIFAR_FOLDER "/%s", path,
                           CIFAR_BATCH_FILES[batch]);
    size_t got;
    do {
        if (read_full(f, staging, CIFAR_STAGING_BYTES, &got, path, err) != 0) return -1;
    } while (got == CIFAR_STAGING_BYTES);
    int errnum;
    (void)gzerror(f, &errnum);
    return errnum == Z_OK ? 0 : gz_fail(f, path, err);
}

static int cifar_read_archive(const char *path, raw_split *train, raw_split *test, uint8_t *staging,
                              bn_error *err) {
    gzFile f = open_gz(path, err);
    if (!f) return -1;
    int status = cifar_scan_archive(f, path, train, test, staging, err);
    gzclose(f);
    return status;
}

static int cifar_alloc(raw_split *split, size_t n, bn_error *err) {
    split->pixels = malloc(n * CIFAR_IMAGE_BYTES);
    split->labels = malloc(n);
    if (!split->pixels || !split->labels)
        return bn_fail(err, "out of memory for %zu CIFAR-10 images", n);
    split->n = n;
    return 0;
}

/* The extracted folder wins over the archive: it is what a user who unpacked the data means. */
static int cifar_load(const char *root, raw_split *train, raw_split *test, bn_error *err) {
    char batches[PATH_BYTES], archive[PATH_BYTES];
    if (make_path(batches, err, "%s/cifar10/" CIFAR_FOLDER, root) != 0 ||
        make_path(archive, err, "%s/cifar10/" CIFAR_ARCHIVE, root) != 0)
        return -1;
    int use_folder = dir_exists(batches);
    if (!use_folder && dir_exists(archive)) return refuse_folder(archive, err);
    if (!use_folder && !file_exists(archive))
        return bn_fail(err, "%s: not found (nor the extracted %s/); " MISSING_HINT, archive,
                       batches);
    if (cifar_alloc(train, CIFAR_TRAIN_BATCHES * CIFAR_BATCH_RECORDS, err) != 0 ||
        cifar_alloc(test, CIFAR_BATCH_RECORDS, err) != 0)
        return -1;
    uint8_t *staging = malloc(CIFAR_STAGING_BYTES);
    if (!staging) return bn_fail(err, "out of memory for the CIFAR-10 read buffer");
    int status = use_folder ? cifar_read_folder(batches, train, test, staging, err)
                            : cifar_read_archive(archive, train, test, staging, err);
    free(staging);
    return status;
}

/* ---- normalisation ---- */

/* Per-channel mean and population standard deviation of the training pixels scaled to [0, 1].
 * Counting byte values first makes the sums exact; the moments are then taken in double over 256
 * bins, so the result does not depend on the number or order of images. */
static void channel_stats(const raw_split *train, size_t channels, size_t plane, double *mean,
                          double *std) {
    uint64_t histogram[3][256] = {{0}};
    for (size_t i = 0; i < train->n; i++) {
        for (size_t c = 0; c < channels; c++) {
            const uint8_t *pixels = train->pixels + (i * channels + c) * plane;
            for (size_t j = 0; j < plane; j++)
                histogram[c][pixels[j]]++;
        }
    }
    double count = (double)train->n * (double)plane;
    for (size_t c = 0; c < channels; c++) {
        double sum = 0.0, squares = 0.0;
        for (size_t v = 0; v < 256; v++)
            sum += (double)histogram[c][v] * ((double)v / 255.0);
        mean[c] = sum / count;
        for (size_t v = 0; v < 256; v++) {
            double deviation = (double)v / 255.0 - mean[c];
            squares += (double)histogram[c][v] * deviation * deviation;
        }
        std[c] = sqrt(squares / count);
    }
}

/* Moves a raw split's bytes into out as they are: nothing is copied. */
static void keep_split(raw_split *raw, bn_split *out) {
    out->n = raw->n;
    out->pixels = raw->pixels;
    out->labels = raw->labels;
    raw->pixels = NULL;
    raw->labels = NULL;
}

void dataset_set_lookup(bn_dataset *ds) {
    for (size_t c = 0; c < ds->channels && c < 3; c++)
        for (size_t v = 0; v < 256; v++)
            ds->normalised[c][v] =
                (float)(((double)v / 255.0 - ds->channel_mean[c]) / ds->channel_std[c]);
}

/* One image's bytes through the channel's table. */
static void normalise_image(const bn_dataset *ds, const uint8_t *pixels, float *out) {
    size_t plane = ds->height * ds->width;
    for (size_t c = 0; c < ds->channels; c++) {
        const float *table = ds->normalised[c];
        for (size_t j = 0; j < plane; j++)
            out[c * plane + j] = table[pixels[c * plane + j]];
    }
}

void dataset_normalise(const bn_dataset *ds, const bn_split *split, size_t first, size_t n,
                       float *out) {
    size_t values = ds->channels * ds->height * ds->width;
    for (size_t i = 0; i < n; i++)
        normalise_image(ds, split->pixels + (first + i) * values, out + i * values);
}

void dataset_gather(const bn_dataset *ds, const bn_split *split, const size_t *indices, size_t n,
                    float *out) {
    size_t values = ds->channels * ds->height * ds->width;
    for (size_t i = 0; i < n; i++)
        normalise_image(ds, split->pixels + indices[i] * values, out + i * values);
}

float *dataset_float_copy(const bn_dataset *ds, const bn_split *split, size_t first, size_t n,
                          bn_error *err) {
    size_t values, bytes;
    if (bn_mul_size(n ? n : 1, ds->channels * ds->height * ds->width, &values) ||
        bn_mul_size(values, sizeof(float), &bytes)) {
        bn_fail(err, "%zu images are too many for memory", n);
        return NULL;
    }
    float *images = malloc(bytes);
    if (!images) {
        bn_fail(err, "out of memory for %zu normalised images (%zu MB)", n, bytes >> 20);
        return NULL;
    }
    dataset_normalise(ds, split, first, n, images);
    return images;
}

static int normalise_dataset(bn_dataset *ds, const char *root, raw_split *train, raw_split *test,
                             bn_error *err) {
    size_t plane = ds->height * ds->width;
    channel_stats(train, ds->channels, plane, ds->channel_mean, ds->channel_std);
    for (size_t c = 0; c < ds->channels; c++)
        if (!(ds->channel_std[c] > 0.0))
            return bn_fail(err, "%s/%s: training images are constant in channel %zu", root,
                           ds->name, c);
    dataset_set_lookup(ds);
    keep_split(train, &ds->train);
    keep_split(test, &ds->test);
    return 0;
}

/* ---- the dataset ---- */

int dataset_load(bn_dataset *ds, const char *name, const char *data_dir, bn_error *err) {
    memset(ds, 0, sizeof *ds);
    if (dataset_shape(name, &ds->channels, &ds->height, &ds->width) != 0)
        return bn_fail(err, "unknown dataset '%s' (known: " KNOWN_NAMES ")", name ? name : "");
    snprintf(ds->name, sizeof ds->name, "%s", name);
    ds->n_classes = N_CLASSES;
    const char *root = dataset_root(data_dir);
    raw_split train = {0}, test = {0};
    int status = ds->channels == 3 ? cifar_load(root, &train, &test, err)
                                   : idx_load(root, name, &train, &test, err);
    if (status == 0) status = normalise_dataset(ds, root, &train, &test, err);
    raw_split_free(&train);
    raw_split_free(&test);
    if (status != 0) dataset_free(ds);
    return status;
}

void dataset_truncate_train(bn_dataset *ds, size_t n) {
    if (n == 0 || n >= ds->train.n) return;
    size_t values = n * ds->channels * ds->height * ds->width; /* below the current size */
    /* Shrinking can only fail by keeping the old block, which stays valid. */
    uint8_t *pixels = realloc(ds->train.pixels, values);
    if (pixels) ds->train.pixels = pixels;
    uint8_t *labels = realloc(ds->train.labels, n);
    if (labels) ds->train.labels = labels;
    ds->train.n = n;
}

void dataset_free(bn_dataset *ds) {
    free(ds->train.pixels);
    free(ds->train.labels);
    free(ds->test.pixels);
    free(ds->test.labels);
    memset(ds, 0, sizeof *ds);
}
