/* bntrain grid --merge: the shards of a grid (grid/shard.h) joined into the outputs of the
 * whole grid, cells.csv, theory.csv and the heatmap, as one process would have written them. */
#ifndef BNTRAIN_GRID_MERGE_H
#define BNTRAIN_GRID_MERGE_H

#include <stddef.h>

#include "bntrain/error.h"
#include "grid/runner.h"
#include "grid/shard.h"

typedef struct {
    size_t total, done, exploded, missing;
    grid_logs_report logs;
    char missing_by_shard[300]; /* "shard 2/3: 11, shard 3/3: 2" (the first few) */
} grid_merge_summary;

/* Reads every run log of g->out_dir (grid_logs_collect, under the folder's lock, so never
 * while a shard runs) and writes theory.csv, cells.csv and the heatmap. With runs missing the
 * folder is left alone and 1 returned, err saying how many and of which shards, unless
 * draw_partial. -1 on failure (err says why): no config.json, mixed logs, a write failed. */
int grid_merge(const bn_grid_config *g, int draw_partial, grid_merge_summary *m, bn_error *err);

#endif
