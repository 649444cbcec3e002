/* Checkpoints of a run between epochs: written through base/file.h's atomic replacement,
 * read back with every field checked before any is trusted. */
#include "bntrain/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/file.h"

static const char CHECKPOINT_MAGIC[8] = {'B', 'N', 'T', 'R', 'C', 'K', 'P', 'T'};
enum { CHECKPOINT_VERSION = 1 };

typedef struct {
    char magic[8];
    uint32_t version, reserved;
    uint64_t identity, seed, epochs_done, n_params, n_buffers, n_order;
    uint64_t rng[4], augment_rng[4];
} checkpoint_header;

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv1a(uint64_t hash, const void *data, size_t length) {
    const unsigned char *bytes = data;
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ bytes[i]) * FNV_PRIME;
    return hash;
}

/* A file and the checksum of the bytes written or read so far. */
typedef struct {
    FILE *file;
    uint64_t hash;
} hashed_stream;

static int put(hashed_stream *s, const void *data, size_t length) {
    s->hash = fnv1a(s->hash, data, length);
    return fwrite(data, 1, length, s->file) == length ? 0 : -1;
}

static int get(hashed_stream *s, void *data, size_t length) {
    if (fread(data, 1, length, s->file) != length) return -1;
    s->hash = fnv1a(s->hash, data, length);
    return 0;
}

/* The batch order as u64, in blocks (size_t may be narrower than the file's u64). */
static int put_order(hashed_stream *s, const size_t *order, size_t n) {
    uint64_t block[512];
    for (size_t start = 0; start < n; start += 512) {
        size_t count = n - start < 512 ? n - start : 512;
        for (size_t i = 0; i < count; i++)
            block[i] = order[start + i];
        if (put(s, block, count * sizeof *block)) return -1;
    }
    return 0;
}

static int get_order(hashed_stream *s, size_t *order, size_t n) {
    uint64_t block[512];
    for (size_t start = 0; start < n; start += 512) {
        size_t count = n - start < 512 ? n - start : 512;
        if (get(s, block, count * sizeof *block)) return -1;
        for (size_t i = 0; i < count; i++) {
            if (block[i] >= n) return -1;
            order[start + i] = (size_t)block[i];
        }
    }
    return 0;
}

static checkpoint_header header_of(const bn_trainer *t, uint64_t identity, uint64_t seed) {
    checkpoint_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CHECKPOINT_MAGIC, sizeof h.magic);
    h.version = CHECKPOINT_VERSION;
    h.identity = identity;
    h.seed = seed;
    h.epochs_done = t->epochs_done;
    h.n_params = t->model.n_params;
    h.n_buffers = t->model.n_buffers;
    h.n_order = t->n_order;
    memcpy(h.rng, t->shuffle_rng.s, sizeof h.rng);
    memcpy(h.augment_rng, t->augment_rng.s, sizeof h.augment_rng);
    return h;
}

int checkpoint_save(const char *path, const bn_trainer *t, uint64_t identity, uint64_t seed,
                    bn_error *err) {
    atomic_file out;
    if (atomic_file_open(&out, path, err)) return -1;
    hashed_stream s = {out.file, FNV_OFFSET};
    checkpoint_header h = header_of(t, identity, seed);
    const bn_model *m = &t->model;
    int failed = put(&s, &h, sizeof h) || put(&s, m->params, m->n_params * sizeof(float)) ||
                 put(&s, m->velocity, m->n_params * sizeof(float)) ||
                 put(&s, m->buffers, m->n_buffers * sizeof(float)) ||
                 put_order(&s, t->order, t->n_order);
    uint64_t checksum = s.hash;
    if (failed || fwrite(&checksum, sizeof checksum, 1, out.file) != 1) {
        int saved = errno;
        atomic_file_abort(&out);
        return bn_fail(err, "%s: cannot write the checkpoint: %s", path, strerror(saved));
    }
    return atomic_file_commit(&out, err);
}

/* Why a header cannot be this run's, or NULL if it can. */
static const char *header_mismatch(const checkpoint_header *h, const checkpoint_header *want) {
    if (memcmp(h->magic, CHECKPOINT_MAGIC, sizeof h->magic) != 0) return "not a bntrain checkpoint";
    if (h->version != CHECKPOINT_VERSION) return "written by another checkpoint version";
    if (h->identity != want->identity) return "written for another configuration";
    if (h->seed != want->seed) return "written for another run (another seed)";
    if (h->n_params != want->n_params || h->n_buffers != want->n_buffers ||
        h->n_order != want->n_order)
        return "written for another network or training set size";
    return NULL;
}

static int read_body(hashed_stream *s, bn_trainer *t, const checkpoint_header *h) {
    bn_model *m = &t->model;
    if (get(s, m->params, m->n_params * sizeof(float)) ||
        get(s, m->velocity, m->n_params * sizeof(float)) ||
        get(s, m->buffers, m->n_buffers * sizeof(float)) || get_order(s, t->order, t->n_order))
        return -1;
    uint64_t computed = s->hash, stored;
    if (fread(&stored, sizeof stored, 1, s->file) != 1 || stored != computed) return -1;
    if (fgetc(s->file) != EOF) return -1; /* trailing bytes */
    memcpy(t->shuffle_rng.s, h->rng, sizeof h->rng);
    memcpy(t->augment_rng.s, h->augment_rng, sizeof h->augment_rng);
    t->epochs_done = (size_t)h->epochs_done;
    return 0;
}

int checkpoint_load(const char *path, bn_trainer *t, uint64_t identity, uint64_t seed,
                    bn_error *err) {
    FILE *file = fopen(path, "rb");
    if (!file && errno == ENOENT) return 1;
    if (!file) return bn_fail(err, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    hashed_stream s = {file, FNV_OFFSET};
    checkpoint_header h, want = header_of(t, identity, seed);
    const char *why = get(&s, &h, sizeof h) ? "cut short" : header_mismatch(&h, &want);
    if (!why && read_body(&s, t, &h)) why = "cut short or corrupt (checksum mismatch)";
    fclose(file);
    if (why)
        return bn_fail(err,
                       "%s: checkpoint refused: %s; delete it to train that run again "
                       "from its first epoch",
                       path, why);
    return 0;
}
