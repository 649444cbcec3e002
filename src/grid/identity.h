/* The identity of a grid's configuration: a 64-bit FNV-1a hash of the keys of config.json that
 * decide the results, written as the first line of runs.csv and cells.csv so that no results
 * file can be read as belonging to another configuration. */
#ifndef BNTRAIN_GRID_IDENTITY_H
#define BNTRAIN_GRID_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

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

/* "# bntrain grid config <16 hex digits>\n"; returns the length or -1 if it does not fit. */
int identity_line(char *buf, size_t capacity, uint64_t identity);
/* Parses an identity line (with or without its newline); 0 or -1 if it is not one. */
int identity_parse(const char *line, uint64_t *identity);

#endif
