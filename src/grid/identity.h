/* The identity of a grid's configuration: a 64-bit FNV-1a hash of the keys of config.json that
 * decide the results, written as the first line of every results file of a grid folder that is
 * read back (runs.csv, cells.csv, theory.csv, boundary.csv), so that none can be read as
 * belonging to another configuration. */
#ifndef BNTRAIN_GRID_IDENTITY_H
#define BNTRAIN_GRID_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"

/* The keys of config.json that decide the results, NULL-terminated. The version and the title
 * note do not: a grid resumed by a newer bntrain, or given another title, is the same grid. */
extern const char *const config_result_keys[];

/* Copies the raw value of `key` (without the trailing comma) from a config.json text written
 * by grid_config_json (one key per line); -1 if the key is absent. A key newer than the first
 * grids ("augment", "lr_schedule") reads, when absent, as the value it then implied. */
int config_json_value(const char *json, const char *key, char *value, size_t capacity);

/* The hash of "key=value\n" over config_result_keys in order (absent keys skipped, and so are
 * the newer keys at the value their absence implies: a config.json from before them keeps
 * its identity). */
uint64_t config_identity(const char *json);

/* The same over another list of keys (NULL-terminated): another command's config.json. */
uint64_t config_identity_of(const char *json, const char *const *keys);
/* Lists, into differs, the keys whose values differ between two config.json texts, as
 * "key old (now new)" separated by "; " (long values cut); returns the length. */
size_t config_differences(const char *old, const char *now, const char *const *keys,
                          char *differs, size_t capacity);
/* "# bntrain grid config <16 hex digits>\n"; returns the length or -1 if it does not fit. */
int identity_line(char *buf, size_t capacity, uint64_t identity);
/* Parses an identity line (with or without its newline); 0 or -1 if it is not one. */
int identity_parse(const char *line, uint64_t *identity);

/* Reads a grid's config.json whole into *json (malloc'd). A file that is not a whole JSON object
 * (cut short by a full disk, or emptied) is refused, naming it and what to do. */
int config_json_read(const char *path, char **json, bn_error *err);

/* The identity of the grid in DIR, from DIR/config.json, which must be there: without it the
 * results cannot be tied to a configuration. */
int grid_folder_identity(const char *dir, uint64_t *identity, bn_error *err);

/* Checks that each results file of DIR that is read back (cells.csv, theory.csv, boundary.csv;
 * those present) begins with the identity line of `identity`; -1 naming the first that does
 * not, what it is, and what to do. */
int grid_check_identities(const char *dir, uint64_t identity, bn_error *err);

#endif
