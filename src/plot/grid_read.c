/* Reading a grid folder for the heatmap: cells.csv (required), theory.csv and boundary.csv
 * (optional) and config.json (optional, flat). The grid runner rewrites these while it runs,
 * so the readers are tolerant: cells may come in any order or be missing, empty and "nan"
 * fields are NaN, a torn last line is dropped, and lines beginning with '#' are skipped. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/plot.h"

enum { MAX_FILE_BYTES = 256 << 20, MAX_CELLS = 1000000 };

/* ---- Files and CSV --------------------------------------------------------------------- */

/* Reads a whole file, NUL-terminated. Returns 1, or 0 if it does not exist and is optional. */
static int read_text_file(const char *path, int optional, char **text, size_t *size,
                          bn_error *err) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        if (optional && errno == ENOENT) return 0;
        return bn_fail(err, "%s: %s", path, strerror(errno));
    }
    size_t capacity = 1 << 16, length = 0;
    char *data = malloc(capacity);
    while (data) {
        length += fread(data + length, 1, capacity - length - 1, file);
        if (length < capacity - 1 || capacity >= MAX_FILE_BYTES) break;
        char *grown = realloc(data, capacity * 2);
        if (!grown) free(data);
        data = grown;
        capacity *= 2;
    }
    int failed = !data || ferror(file);
    int too_big = data && length == capacity - 1 && capacity >= MAX_FILE_BYTES;
    fclose(file);
    if (failed || too_big) {
        free(data);
        return bn_fail(err, "%s: %s", path,
                       !data     ? "out of memory"
                       : too_big ? "too large"
                                 : "read error");
    }
    data[length] = '\0';
    *text = data;
    *size = length;
    return 1;
}

typedef struct {
    char *data;
    char **fields;       /* row r, column c at fields[r * n_columns + c]; row 0 is the header */
    size_t *line_number; /* of each row, for messages */
    size_t n_rows, n_columns; /* n_rows counts the header */
    const char *path;
} csv_table;

static void csv_free(csv_table *table) {
    free(table->data);
    free(table->fields);
    free(table->line_number);
    memset(table, 0, sizeof *table);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Splits line into fields in place; returns how many there were (at most max are stored). */
static size_t split_fields(char *line, char **fields, size_t max) {
    size_t n = 0;
    for (char *field = line;; n++) {
        char *comma = strchr(field, ',');
        if (comma) *comma = '\0';
        if (n < max) fields[n] = trim(field);
        if (!comma) return n + 1;
        field = comma + 1;
    }
}

static size_t count_char(const char *s, char c) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Adds one line (NUL-terminated, no newline) as a row; a line with the wrong number of fields
 * is an error unless it is the torn last line of a file being written. */
static int csv_add_line(csv_table *t, char *line, size_t line_number, int is_torn_tail,
                        bn_error *err) {
    if (t->n_rows == 0) t->n_columns = count_char(line, ',') + 1;
    size_t n = split_fields(line, t->fields + t->n_rows * t->n_columns, t->n_columns);
    if (n != t->n_columns) {
        if (is_torn_tail) return 0;
        return bn_fail(err, "%s:%zu: %zu fields, expected %zu", t->path, line_number, n,
                       t->n_columns);
    }
    t->line_number[t->n_rows++] = line_number;
    return 0;
}

/* Returns 1 if read, 0 if optional and absent, -1 on error. */
static int csv_read(const char *path, int optional, csv_table *t, bn_error *err) {
    memset(t, 0, sizeof *t);
    t->path = path;
    size_t size;
    int found = read_text_file(path, optional, &t->data, &size, err);
    if (found <= 0) return found;
    /* columns are at most commas + 1 per line, so this bounds every row */
    size_t max_lines = count_char(t->data, '\n') + 1, max_columns = count_char(t->data, ',') + 1;
    size_t n_fields;
    if (bn_mul_size(max_lines, max_columns, &n_fields) != 0 ||
        !(t->fields = calloc(n_fields, sizeof(char *))) ||
        !(t->line_number = calloc(max_lines, sizeof(size_t)))) {
        csv_free(t);
        return bn_fail(err, "%s: out of memory", path);
    }
    char *line = t->data;
    for (size_t number = 1; *line; number++) {
        char *newline = strchr(line, '\n');
        if (newline) *newline = '\0';
        char *cr = strchr(line, '\r');
        if (cr) *cr = '\0';
        /* '#' lines are comments: cells.csv begins with its grid's identity (grid/identity.h) */
        const char *content = trim(line);
        if (*content && *content != '#' && csv_add_line(t, line, number, !newline, err) != 0) {
            csv_free(t);
            return -1;
        }
        if (!newline) break;
        line = newline + 1;
    }
    if (t->n_rows == 0) {
        csv_free(t);
        return bn_fail(err, "%s: empty, expected a header line", path);
    }
    return 1;
}

static const char *csv_field(const csv_table *t, size_t row, size_t column) {
    return t->fields[row * t->n_columns + column];
}

static long csv_column(const csv_table *t, const char *name) {
    for (size_t c = 0; c < t->n_columns; c++)
        if (strcmp(csv_field(t, 0, c), name) == 0) return (long)c;
    return -1;
}

/* A number, or NaN for an empty field, "nan", or anything that is not a number. */
static double csv_number(const csv_table *t, size_t row, long column) {
    if (column < 0) return NAN;
    const char *field = csv_field(t, row, (size_t)column);
    char *end;
    double value = strtod(field, &end);
    return end == field || *end ? NAN : value;
}

/* ---- cells.csv ------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int same_value(double a, double b) {
    return fabs(a - b) <= 1e-9 * fmax(1, fmax(fabs(a), fabs(b)));
}

/* Sorts values and drops duplicates; returns how many remain. */
static size_t sort_unique(double *values, size_t n) {
    qsort(values, n, sizeof *values, compare_doubles);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || !same_value(values[i], values[kept - 1])) values[kept++] = values[i];
    return kept;
}

static size_t index_of(const double *values, size_t n, double v) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs(values[i] - v) < fabs(values[best] - v)) best = i;
    return best;
}

static plot_cell cell_from_row(const csv_table *t, size_t row, long done_column,
                               long exploded_column, long loss_column) {
    plot_cell cell = {PLOT_CELL_NOT_RUN, NAN};
    double done = csv_number(t, row, done_column), exploded = csv_number(t, row, exploded_column);
    double loss = csv_number(t, row, loss_column);
    if (!(done > 0)) return cell;
    /* a finished cell without a finite mean loss diverged even if the flag says otherwise */
    if ((isfinite(exploded) && exploded != 0) || !isfinite(loss)) {
        cell.state = PLOT_CELL_EXPLODED;
        return cell;
    }
    cell.state = PLOT_CELL_DONE;
    cell.test_loss_mean = loss;
    return cell;
}

/* The y value of a row: log10_lr, or log10 of lr if only that is there. */
static double row_log10_lr(const csv_table *t, size_t row, long log10_column, long lr_column) {
    return log10_column >= 0 ? csv_number(t, row, log10_column)
                             : log10(csv_number(t, row, lr_column));
}

/* Puts each row in its cell. A second row for the same cell is an error naming both lines:
 * taking either would draw one of them and hide the other (a repeated grid value once gave a
 * finished grid a phantom "not run" cell that covered the real one). state_columns: the
 * restarts_done, exploded and test_loss_mean columns. */
static int place_cells(const csv_table *t, plot_grid *grid, long log10_column, long lr_column,
                       const long state_columns[3], bn_error *err) {
    size_t n_cells = grid->n_x * grid->n_y;
    size_t *row_of_cell = calloc(n_cells, sizeof(size_t)); /* 0: no row yet */
    if (!row_of_cell) return bn_fail(err, "%s: out of memory", t->path);
    int status = 0;
    for (size_t row = 1; status == 0 && row < t->n_rows; row++) {
        double x = csv_number(t, row, 0), log10_lr = row_log10_lr(t, row, log10_column, lr_column);
        size_t cell = index_of(grid->log10_lr, grid->n_y, log10_lr) * grid->n_x +
                      index_of(grid->x, grid->n_x, x);
        if (row_of_cell[cell])
            status = bn_fail(err, "%s:%zu: a second row for %s %g, log10_lr %g (first on line %zu)",
                             t->path, t->line_number[row], grid->x_name, x, log10_lr,
                             t->line_number[row_of_cell[cell]]);
        row_of_cell[cell] = row;
        grid->cells[cell] =
            cell_from_row(t, row, state_columns[0], state_columns[1], state_columns[2]);
    }
    free(row_of_cell);
    return status;
}

static int read_cells(const char *path, plot_grid *grid, bn_error *err) {
    csv_table t;
    if (csv_read(path, 0, &t, err) < 0) return -1;
    long log10_column = csv_column(&t, "log10_lr"), lr_column = csv_column(&t, "lr");
    long done_column = csv_column(&t, "restarts_done");
    long exploded_column = csv_column(&t, "exploded");
    long loss_column = csv_column(&t, "test_loss_mean");
    const char *missing = log10_column < 0 && lr_column < 0 ? "log10_lr"
                          : done_column < 0                 ? "restarts_done"
                          : loss_column < 0                 ? "test_loss_mean"
                                                            : NULL;
    if (missing) {
        csv_free(&t);
        return bn_fail(err, "%s: no column '%s' in the header", path, missing);
    }
    snprintf(grid->x_name, sizeof grid->x_name, "%s", csv_field(&t, 0, 0));
    size_t n = t.n_rows - 1, n_cells = 0;
    if (n == 0) {
        csv_free(&t);
        return bn_fail(err, "%s: no cells, only a header", path);
    }
    grid->x = malloc(n * sizeof(double));
    grid->log10_lr = malloc(n * sizeof(double));
    if (!grid->x || !grid->log10_lr) {
        csv_free(&t);
        return bn_fail(err, "%s: out of memory", path);
    }
    for (size_t row = 1; row <= n; row++) {
        grid->x[row - 1] = csv_number(&t, row, 0);
        grid->log10_lr[row - 1] = row_log10_lr(&t, row, log10_column, lr_column);
        if (!isfinite(grid->x[row - 1]) || !isfinite(grid->log10_lr[row - 1])) {
            int status = bn_fail(err, "%s:%zu: %s or log10_lr is not a finite number", path,
                                 t.line_number[row], grid->x_name);
            csv_free(&t);
            return status;
        }
    }
    grid->n_x = sort_unique(grid->x, n);
    grid->n_y = sort_unique(grid->log10_lr, n);
    if (bn_mul_size(grid->n_x, grid->n_y, &n_cells) != 0 || n_cells > MAX_CELLS ||
        !(grid->cells = malloc(n_cells * sizeof(plot_cell)))) {
        csv_free(&t);
        return bn_fail(err, "%s: a grid of %zu x %zu cells is too large", path, grid->n_x,
                       grid->n_y);
    }
    for (size_t i = 0; i < n_cells; i++)
        grid->cells[i] = (plot_cell){PLOT_CELL_NOT_RUN, NAN};
    int status = place_cells(&t, grid, log10_column, lr_column,
                             (long[3]){done_column, exploded_column, loss_column}, err);
    csv_free(&t);
    return status;
}

/* ---- theory.csv and boundary.csv ------------------------------------------------------- */

/* Reads the pairs (first column, y) of an optional CSV, sorted by x, keeping rows with a finite
 * x (and a finite y if require_y); y is the column y_name, else log10 of the column
 * fallback_name. Returns 1 if the file exists, 0 if not, -1 on error. */
static int read_curve(const char *path, const char *y_name, const char *fallback_name,
                      int require_y, double **x_out, double **y_out, size_t *n_out, bn_error *err) {
    csv_table t;
    int found = csv_read(path, 1, &t, err);
    if (found <= 0) return found;
    long y_column = csv_column(&t, y_name);
    long fallback_column = fallback_name ? csv_column(&t, fallback_name) : -1;
    if (y_column < 0 && fallback_column < 0) {
        csv_free(&t);
        return bn_fail(err, "%s: no column '%s' in the header", path, y_name);
    }
    size_t n = 0, capacity = t.n_rows;
    double *pairs = malloc(2 * capacity * sizeof(double));
    if (!pairs) {
        csv_free(&t);
        return bn_fail(err, "%s: out of memory", path);
    }
    for (size_t row = 1; row < t.n_rows; row++) {
        double x = csv_number(&t, row, 0);
        double y = y_column >= 0 ? csv_number(&t, row, y_column)
                                 : log10(csv_number(&t, row, fallback_column));
        if (!isfinite(x) || (require_y && !isfinite(y))) continue;
        pairs[2 * n] = x;
        pairs[2 * n + 1] = isfinite(y) ? y : NAN;
        n++;
    }
    csv_free(&t);
    qsort(pairs, n, 2 * sizeof(double), compare_doubles); /* compares the x of each pair */
    *x_out = malloc((n ? n : 1) * sizeof(double));
    *y_out = malloc((n ? n : 1) * sizeof(double));
    if (!*x_out || !*y_out) {
        free(pairs);
        return bn_fail(err, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++) {
        (*x_out)[i] = pairs[2 * i];
        (*y_out)[i] = pairs[2 * i + 1];
    }
    *n_out = n;
    free(pairs);
    return 1;
}

/* ---- config.json ----------------------------------------------------------------------- */

static const char *skip_space(const char *p) {
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* Appends code point c to out as UTF-8 (if it fits in cap, with room for the NUL). */
static void put_utf8(char *out, size_t *n, size_t cap, unsigned c) {
    char bytes[3];
    size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (k == 1) bytes[0] = (char)c;
    if (k == 2) {
        bytes[0] = (char)(0xC0 | c >> 6);
        bytes[1] = (char)(0x80 | (c & 0x3F));
    }
    if (k == 3) {
        bytes[0] = (char)(0xE0 | c >> 12);
        bytes[1] = (char)(0x80 | (c >> 6 & 0x3F));
        bytes[2] = (char)(0x80 | (c & 0x3F));
    }
    if (*n + k < cap) memcpy(out + *n, bytes, k);
    if (*n + k < cap) *n += k;
}

/* Parses the JSON string at p (at its opening quote) into out (truncated to cap); returns the
 * position after the closing quote, or NULL if malformed. Surrogate pairs become '?'. */
static const char *json_string(const char *p, char *out, size_t cap) {
    static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    size_t n = 0;
    for (p++; *p && *p != '"'; p++) {
        unsigned c = (unsigned char)*p;
        if (c == '\\') {
            const char *e = p[1] ? strchr(escapes, p[1]) : NULL;
            if (p[1] == 'u') {
                char hex[5] = {0};
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)(hex[i] = p[2 + i]))) return NULL;
                c = (unsigned)strtoul(hex, NULL, 16);
                if (c >= 0xD800 && c < 0xE000) c = '?';
                p += 5;
            } else if (e && (e - escapes) % 2 == 0) {
                c = (unsigned char)e[1];
                p++;
            } else {
                return NULL;
            }
        }
        put_utf8(out, &n, cap, c);
    }
    if (cap) out[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* Skips a nested object or array (p at its bracket); NULL if unterminated. */
static const char *json_skip_nested(const char *p) {
    int depth = 0;
    do {
        if (*p == '"') {
            char ignored[1];
            if (!(p = json_string(p, ignored, 0))) return NULL;
            continue;
        }
        if (*p == '{' || *p == '[') depth++;
        if (*p == '}' || *p == ']') depth--;
        if (!*p) return NULL;
        p++;
    } while (depth > 0);
    return p;
}

typedef struct {
    char string[256];
    double number; /* numbers, and true/false as 1/0 */
    int is_string;
} json_value;

/* Parses one value at p into value (a nested value is skipped and leaves it NaN). */
static const char *json_value_at(const char *p, json_value *value) {
    value->is_string = 0;
    value->number = NAN;
    if (*p == '"') {
        value->is_string = 1;
        return json_string(p, value->string, sizeof value->string);
    }
    if (*p == '{' || *p == '[') return json_skip_nested(p);
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        if (strncmp(p, words[i], strlen(words[i])) == 0) {
            value->number = i == 0 ? 1 : i == 1 ? 0 : NAN;
            return p + strlen(words[i]);
        }
    }
    char *end;
    value->number = strtod(p, &end);
    return end == p ? NULL : end;
}

/* Finds key at the top level of the object in text. Returns 1 if found, 0 if absent, -1 if the
 * text is not a JSON object. */
static int json_find(const char *text, const char *key, json_value *value) {
    const char *p = skip_space(text);
    if (*p++ != '{') return -1;
    for (p = skip_space(p); *p != '}'; p = skip_space(p + 1)) {
        char name[64];
        if (*p != '"' || !(p = json_string(p, name, sizeof name))) return -1;
        p = skip_space(p);
        if (*p++ != ':') return -1;
        if (!(p = json_value_at(skip_space(p), value))) return -1;
        if (strcmp(name, key) == 0) return 1;
        p = skip_space(p);
        if (*p == '}') break;
        if (*p != ',') return -1;
    }
    return 0;
}

/* Copies a string value of key into out, cut to fit (titles only need the start). */
static void json_copy_string(const char *json, const char *key, char *out, size_t size) {
    json_value value;
    if (json_find(json, key, &value) != 1 || !value.is_string) return;
    size_t n = strnlen(value.string, size - 1);
    memcpy(out, value.string, n);
    out[n] = '\0';
}

double plot_json_number(const char *json, const char *key) {
    json_value value;
    return json_find(json, key, &value) == 1 && !value.is_string ? value.number : NAN;
}

/* A missing or malformed config.json costs only the details of the title, never the figure;
 * a malformed one says so in the title note. */
static int read_config(const char *path, plot_grid *grid, bn_error *err) {
    char *json;
    size_t size;
    int found = read_text_file(path, 1, &json, &size, err);
    if (found <= 0) return found;
    json_value probe;
    /* no key is empty, so this walks the whole object: the check that it parses */
    if (json_find(json, "", &probe) < 0) {
        snprintf(grid->title_note, sizeof grid->title_note, "config.json is malformed");
    } else {
        json_copy_string(json, "dataset", grid->dataset, sizeof grid->dataset);
        json_copy_string(json, "arch", grid->arch, sizeof grid->arch);
        json_copy_string(json, "loss", grid->loss, sizeof grid->loss);
        json_copy_string(json, "title_note", grid->title_note, sizeof grid->title_note);
        grid->epochs = plot_json_number(json, "epochs");
        grid->n_restarts = plot_json_number(json, "n_restarts");
        double batchnorm = plot_json_number(json, "batchnorm");
        grid->batchnorm = isnan(batchnorm) ? -1 : batchnorm != 0;
    }
    free(json);
    return 0;
}

/* ---- The folder ------------------------------------------------------------------------ */

void plot_grid_free(plot_grid *grid) {
    free(grid->x);
    free(grid->log10_lr);
    free(grid->cells);
    free(grid->theory_x);
    free(grid->theory_log10_eta_bar);
    free(grid->boundary_x);
    free(grid->boundary_log10_lr);
    memset(grid, 0, sizeof *grid);
}

static int join_path(char *out, size_t size, const char *dir, const char *name, bn_error *err) {
    int n = snprintf(out, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? bn_fail(err, "%s: path too long", dir) : 0;
}

int plot_grid_read(const char *dir, plot_grid *grid, bn_error *err) {
    memset(grid, 0, sizeof *grid);
    grid->epochs = grid->n_restarts = NAN;
    grid->batchnorm = -1;
    char path[4096];
    int status =
        join_path(path, sizeof path, dir, "cells.csv", err) == 0 &&
        read_cells(path, grid, err) == 0 &&
        join_path(path, sizeof path, dir, "theory.csv", err) == 0 &&
        read_curve(path, "log10_eta_bar", "eta_bar", 0, &grid->theory_x,
                   &grid->theory_log10_eta_bar, &grid->n_theory, err) >= 0 &&
        join_path(path, sizeof path, dir, "boundary.csv", err) == 0 &&
        (grid->has_boundary = read_curve(path, "log10_lr_emp", NULL, 1, &grid->boundary_x,
                                         &grid->boundary_log10_lr, &grid->n_boundary, err)) >= 0 &&
        join_path(path, sizeof path, dir, "config.json", err) == 0 &&
        read_config(path, grid, err) >= 0;
    if (status) return 0;
    plot_grid_free(grid);
    return -1;
}
