/* The probe's report: its rows, probe.csv and eigenvalues.csv (written atomically), and the
 * table on stdout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "bntrain/probe.h"

int probe_report_add(bn_probe_report *r, size_t layer, const char *quantity, double value,
                     double spread, bn_error *err) {
    if (strlen(quantity) >= sizeof r->rows[0].quantity)
        return bn_fail(err, "probe: quantity name '%s' too long", quantity);
    if (r->n_rows == r->capacity) {
        size_t capacity = r->capacity ? 2 * r->capacity : 64;
        bn_probe_row *rows = realloc(r->rows, capacity * sizeof *rows);
        if (!rows) return bn_fail(err, "probe: out of memory for %zu rows", capacity);
        r->rows = rows;
        r->capacity = capacity;
    }
    bn_probe_row *row = &r->rows[r->n_rows++];
    row->layer = layer;
    strcpy(row->quantity, quantity);
    row->value = value;
    row->spread = spread;
    return 0;
}

const bn_probe_row *probe_report_find(const bn_probe_report *r, size_t layer,
                                      const char *quantity) {
    for (size_t i = 0; i < r->n_rows; i++)
        if (r->rows[i].layer == layer && strcmp(r->rows[i].quantity, quantity) == 0)
            return &r->rows[i];
    return NULL;
}

void probe_report_free(bn_probe_report *r) {
    for (size_t i = 0; r->layers && i < r->n_layers; i++) {
        free(r->layers[i].x_eigenvalues);
        free(r->layers[i].g_eigenvalues);
    }
    free(r->layers);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

static void print_layer(FILE *f, size_t layer) {
    if (layer == BN_PROBE_ALL)
        fputs("all", f);
    else
        fprintf(f, "%zu", layer);
}

int probe_write_csv(const char *path, const bn_probe_report *r, bn_error *err) {
    atomic_file out;
    if (atomic_file_open(&out, path, err)) return -1;
    fputs("layer,quantity,value,spread\n", out.file);
    for (size_t i = 0; i < r->n_rows; i++) {
        const bn_probe_row *row = &r->rows[i];
        print_layer(out.file, row->layer);
        fprintf(out.file, ",%s,%.9g,", row->quantity, row->value);
        if (!isnan(row->spread)) fprintf(out.file, "%.9g", row->spread);
        fputc('\n', out.file);
    }
    return atomic_file_commit(&out, err);
}

static void print_spectrum(FILE *f, size_t layer, const char *factor, const double *eigenvalues,
                           size_t d) {
    for (size_t i = 0; eigenvalues && i < d; i++)
        fprintf(f, "%zu,%s,%zu,%.9g\n", layer, factor, i + 1, eigenvalues[i]);
}

int probe_write_eigenvalues(const char *path, const bn_probe_report *r, bn_error *err) {
    atomic_file out;
    if (atomic_file_open(&out, path, err)) return -1;
    fputs("layer,factor,index,eigenvalue\n", out.file);
    for (size_t k = 0; k < r->n_layers; k++) {
        const bn_probe_layer *l = &r->layers[k];
        print_spectrum(out.file, k + 1, "input", l->x_eigenvalues, l->x_dim);
        print_spectrum(out.file, k + 1, "outgrad", l->g_eigenvalues, l->g_dim);
    }
    return atomic_file_commit(&out, err);
}

/* A value of the table, or "-" where the row is absent (a skipped factor). */
static void print_cell(FILE *f, const bn_probe_report *r, size_t layer, const char *quantity) {
    const bn_probe_row *row = probe_report_find(r, layer, quantity);
    if (row)
        fprintf(f, "  %11.4g", row->value);
    else
        fprintf(f, "  %11s", "-");
}

void probe_print_table(FILE *f, const bn_probe_report *r) {
    static const char *const columns[] = {"channel_mean_abs", "channel_var",    "grad_norm",
                                          "grad_to_weight",   "input_cov_cond", "outgrad_cov_cond"};
    static const char *const titles[] = {"|ch mean|",   "ch var",   "grad_norm",
                                         "grad/weight", "cond(Sx)", "cond(Sdh)"};
    fprintf(f, "%5s", "layer");
    for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++)
        fprintf(f, "  %11s", titles[c]);
    fputc('\n', f);
    for (size_t k = 1; k <= r->n_layers; k++) {
        fprintf(f, "%5zu", k);
        for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++)
            print_cell(f, r, k, columns[c]);
        fputc('\n', f);
    }
    fprintf(f, "\noutput gradient at layer %zu, per class: |mean_b dL_b/dz_j|  std_b\n",
            r->n_layers);
    for (size_t i = 0; i < r->n_rows; i++) {
        const bn_probe_row *row = &r->rows[i];
        if (strncmp(row->quantity, "dlogit_class_", 13) == 0)
            fprintf(f, "%5s  %11.4g  %11.4g\n", row->quantity + 13, row->value, row->spread);
    }
    const bn_probe_row *loss = probe_report_find(r, BN_PROBE_ALL, "loss");
    const bn_probe_row *ratio = probe_report_find(r, BN_PROBE_ALL, "dlogit_mean_to_std");
    if (loss) fprintf(f, "\nloss %.6g", loss->value);
    if (ratio) fprintf(f, "  mean |mean|/std of dL/dz over classes %.4g", ratio->value);
    fputc('\n', f);
}
