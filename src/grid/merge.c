/* grid --merge: every run log of a folder into one store, the runs missing (and whose shard
 * should have run them), then the whole grid's outputs. */
#include "grid/merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/text.h"
#include "grid/identity.h"
#include "grid/store.h"
#include "plot/plot.h"

/* Counts the runs missing from the store and, by the position of each in grid_run_order,
 * lists the shards they belong to (the first few, with how many each). */
static int count_missing(const bn_grid_config *g, const bn_model_spec *spec,
                         const grid_store *store, grid_merge_summary *m, bn_error *err) {
    size_t total = g->n_x * g->n_lr * g->n_restarts, n_shards = m->logs.n_shards;
    grid_run_slot *order = grid_run_order(g, spec);
    size_t *per_shard = calloc(n_shards ? n_shards : 1, sizeof *per_shard);
    if (!order || !per_shard) {
        free(order);
        free(per_shard);
        return bn_fail(err, "out of memory for the run list");
    }
    for (size_t i = 0; i < total; i++) {
        const grid_run_slot *p = &order[i];
        long k = grid_store_index(store, g->x_values[p->ix], g->log10_lrs[p->ilr], p->restart);
        if (store->done[k]) continue;
        m->missing++;
        if (n_shards) per_shard[i % n_shards]++;
    }
    size_t used = 0, listed = 0;
    m->missing_by_shard[0] = '\0';
    for (size_t k = 0; k < n_shards; k++) {
        if (!per_shard[k]) continue;
        if (listed++ == 8) {
            text_append(m->missing_by_shard, sizeof m->missing_by_shard, &used, ", ...");
            break;
        }
        text_append(m->missing_by_shard, sizeof m->missing_by_shard, &used, "%sshard %zu/%zu: %zu",
                    used ? ", " : "", k + 1, n_shards, per_shard[k]);
    }
    free(order);
    free(per_shard);
    return 0;
}

/* What a folder with runs missing says: how many, whose, and the three ways on. */
static int refuse_missing(const bn_grid_config *g, const grid_merge_summary *m, bn_error *err) {
    return bn_fail(err,
                   "%s: %zu of %zu runs are missing (%s); nothing written: run %s again (a "
                   "shard resumes), or run the grid without --shard to run them here, or add "
                   "--partial to draw the runs there are",
                   g->out_dir, m->missing, m->total,
                   m->logs.n_shards ? m->missing_by_shard : "no shard files, runs.csv only",
                   m->logs.n_shards ? "those shards" : "the grid");
}

/* theory.csv, cells.csv and the heatmap, as grid_run writes them at its end. */
static int write_outputs(const bn_grid_config *g, const bn_model_spec *spec,
                         const grid_store *store, bn_error *err) {
    uint64_t identity = store->shape.identity;
    if (grid_write_theory(g, spec, identity, err) ||
        grid_store_write_cells(store, g->out_dir, err) ||
        grid_check_identities(g->out_dir, identity, err))
        return -1;
    return plot_heatmap_dir(g->out_dir, g->log_color_scale, err);
}

static int merge_locked(const bn_grid_config *g, const bn_model_spec *spec, uint64_t identity,
                        int draw_partial, grid_merge_summary *m, bn_error *err) {
    grid_shape shape = {.x_name = g->x_name,
                        .x_values = g->x_values,
                        .n_x = g->n_x,
                        .log10_lrs = g->log10_lrs,
                        .n_lr = g->n_lr,
                        .n_restarts = g->n_restarts,
                        .identity = identity};
    grid_store store;
    if (grid_store_create(&store, &shape, err)) return -1;
    int status = grid_logs_collect(g->out_dir, identity, &store, &m->logs, err);
    if (status == 0) status = count_missing(g, spec, &store, m, err);
    m->done = store.n_done;
    m->exploded = store.n_exploded;
    if (status == 0 && m->missing && !draw_partial) status = refuse_missing(g, m, err) ? 1 : 0;
    if (status == 0) status = write_outputs(g, spec, &store, err);
    grid_store_free(&store);
    return status;
}

int grid_merge(const bn_grid_config *g, int draw_partial, grid_merge_summary *m, bn_error *err) {
    memset(m, 0, sizeof *m);
    m->total = g->n_x * g->n_lr * g->n_restarts;
    bn_model_spec spec;
    if (experiment_model_spec(&g->experiment, &spec, err)) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", g->out_dir);
    if (access(path, F_OK) != 0)
        return bn_fail(err, "%s is missing: no shard of this grid has started in %s", path,
                       g->out_dir);
    uint64_t identity;
    if (grid_folder_identity(g->out_dir, &identity, err)) return -1;
    int lock_fd;
    if (folder_lock_named(g->out_dir, ".lock", 0,
                          "shards of this grid are still running (or another bntrain grid "
                          "writes this folder): merge once they have ended",
                          &lock_fd, err))
        return -1;
    int status = merge_locked(g, &spec, identity, draw_partial, m, err);
    close(lock_fd);
    return status;
}
