/* A grid configuration's identity: FNV-1a 64 over its result-deciding keys, the identity line
 * that heads a grid's results files, and the check of a folder's files against config.json.
 * FNV-1a is enough: the hash guards against mixing up results by mistake, not against forgery,
 * and it needs no dependency. */
#include "grid/identity.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/text.h"

const char *const config_result_keys[] = {
    "dataset",  "arch",      "batchnorm",  "hidden",       "kernel",   "stride",
    "padding",  "input",     "sigma_w2",   "sigma_b2",     "momentum", "weight_decay",
    "loss",     "batch",     "epochs",     "train_subset", "augment",  "lr_schedule",
    "seed",     "seed_mode", "n_restarts", "x_name",       "gamma",    "x_values",
    "log10_lr", NULL};

/* Keys that came after the first grids, with the value a config.json without them means: the
 * training they were written with. A key at that value is hashed as if absent, so that the
 * grids written before it keep their identity and can be resumed. */
static const struct {
    const char *key, *value;
} implied_values[] = {{"augment", "false"}, {"lr_schedule", "\"constant\""}};

static const char *implied_value(const char *key) {
    for (size_t i = 0; i < sizeof implied_values / sizeof *implied_values; i++)
        if (strcmp(key, implied_values[i].key) == 0) return implied_values[i].value;
    return NULL;
}

/* Where the value of `key` starts in json, and its length; NULL if the key is absent. */
static const char *find_value(const char *json, const char *key, size_t *length) {
    char needle[80];
    snprintf(needle, sizeof needle, "\n  \"%s\": ", key);
    const char *p = strstr(json, needle);
    if (!p) return NULL;
    p += strlen(needle);
    size_t n = strcspn(p, "\n");
    if (n > 0 && p[n - 1] == ',') n--;
    *length = n;
    return p;
}

int config_json_value(const char *json, const char *key, char *value, size_t capacity) {
    size_t n;
    const char *p = find_value(json, key, &n);
    if (!p && (p = implied_value(key)) != NULL) n = strlen(p);
    if (!p) return -1;
    if (n >= capacity) n = capacity - 1;
    memcpy(value, p, n);
    value[n] = '\0';
    return 0;
}

static uint64_t fnv1a(uint64_t hash, const char *bytes, size_t length) {
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)bytes[i]) * 0x100000001b3ULL;
    return hash;
}

uint64_t config_identity(const char *json) {
    return config_identity_of(json, config_result_keys);
}

uint64_t config_identity_of(const char *json, const char *const *keys) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char *const *key = keys; *key; key++) {
        size_t length;
        const char *value = find_value(json, *key, &length);
        const char *implied = implied_value(*key);
        if (!value || (implied && length == strlen(implied) && !memcmp(value, implied, length)))
            continue;
        hash = fnv1a(hash, *key, strlen(*key));
        hash = fnv1a(hash, "=", 1);
        hash = fnv1a(hash, value, length);
        hash = fnv1a(hash, "\n", 1);
    }
    return hash;
}

/* Appends printf output at *used, never past capacity; -1 if it did not fit. */
size_t config_differences(const char *old, const char *now, const char *const *keys,
                          char *differs, size_t capacity) {
    size_t used = 0;
    differs[0] = '\0';
    for (const char *const *key = keys; *key; key++) {
        char a[1 << 12] = "", b[1 << 12] = "";
        int has_a = config_json_value(old, *key, a, sizeof a) == 0;
        int has_b = config_json_value(now, *key, b, sizeof b) == 0;
        if (has_a == has_b && strcmp(a, b) == 0) continue;
        if (strlen(a) > 40) snprintf(a + 36, 5, "...");
        if (strlen(b) > 40) snprintf(b + 36, 5, "...");
        text_append(differs, capacity, &used, "%s%s %s (now %s)", used ? "; " : "", *key,
               has_a ? a : "unset", has_b ? b : "unset");
    }
    return used;
}

#define IDENTITY_PREFIX "# bntrain grid config "

int identity_line(char *buf, size_t capacity, uint64_t identity) {
    int n = snprintf(buf, capacity, IDENTITY_PREFIX "%016" PRIx64 "\n", identity);
    return n < 0 || (size_t)n >= capacity ? -1 : n;
}

int identity_parse(const char *line, uint64_t *identity) {
    size_t prefix = strlen(IDENTITY_PREFIX);
    if (strncmp(line, IDENTITY_PREFIX, prefix) != 0) return -1;
    const char *hex = line + prefix;
    uint64_t v = 0;
    size_t digits = 0;
    for (; digits < 16; digits++) {
        char c = hex[digits];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    if (hex[16] != '\0' && strcmp(hex + 16, "\n") != 0) return -1;
    *identity = v;
    return 0;
}

int config_json_read(const char *path, char **json, bn_error *err) {
    size_t length;
    if (read_file(path, json, &length, err)) return -1;
    /* grid_config_json ends the object with "}\n": anything else was cut short */
    while (length > 0 && ((*json)[length - 1] == '\n' || (*json)[length - 1] == ' '))
        length--;
    if ((*json)[0] == '{' && length > 0 && (*json)[length - 1] == '}') return 0;
    free(*json);
    *json = NULL;
    return bn_fail(err,
                   "%s: truncated or corrupt (not a whole JSON object): restore it, or start "
                   "the grid afresh with --force",
                   path);
}

int grid_folder_identity(const char *dir, uint64_t *identity, bn_error *err) {
    char path[4200], *json;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return bn_fail(err,
                       "%s is missing: the results in %s cannot be tied to a configuration "
                       "without it; restore it",
                       path, dir);
    if (config_json_read(path, &json, err)) return -1;
    *identity = config_identity(json);
    free(json);
    return 0;
}

/* The identity line of one results file against the folder's; 0 also when the file is absent. */
static int check_file_identity(const char *dir, const char *name, uint64_t identity,
                               bn_error *err) {
    char path[4200], line[128] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen(path, "rb");
    if (!file)
        return errno == ENOENT ? 0 : bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int read_failed = !fgets(line, sizeof line, file) && ferror(file);
    int cause = errno;
    fclose(file);
    if (read_failed) return bn_fail(err, "%s: cannot read: %s", path, strerror(cause));
    uint64_t have;
    if (identity_parse(line, &have))
        return bn_fail(err,
                       "%s: no identity line (written by an older bntrain, or not this "
                       "grid's): it cannot be tied to config.json; delete it, and run the "
                       "command that made %s again to write it anew",
                       path, dir);
    if (have != identity)
        return bn_fail(err,
                       "%s: belongs to configuration %016" PRIx64 ", not to this folder's "
                       "%016" PRIx64 " (config.json): it comes from another grid; delete "
                       "it, and run the command that made %s again to write it anew",
                       path, have, identity, dir);
    return 0;
}

int grid_check_identities(const char *dir, uint64_t identity, bn_error *err) {
    static const char *const read_back[] = {"cells.csv", "theory.csv", "boundary.csv", NULL};
    for (const char *const *name = read_back; *name; name++)
        if (check_file_identity(dir, *name, identity, err)) return -1;
    return 0;
}
