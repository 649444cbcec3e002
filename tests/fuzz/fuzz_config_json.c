/* Fuzz target of the config.json readers: the grid's (src/grid/identity.c, through
 * grid_check_config, which compares a folder's config.json with the command's configuration
 * when a grid resumes, and config_identity) and the heatmap's (src/plot/grid_read.c, a small
 * JSON parser, through plot_grid_read beside a sound cells.csv). Checked: the grid's check
 * says yes, or no with one line naming the file, never a read error; every value it copies
 * fits its buffer; the heatmap's reader never fails over config.json (a malformed one costs
 * only the title's details) and leaves NUL-terminated strings and a 1/0/-1 batchnorm. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/experiment.h"
#include "fuzz_common.h"
#include "grid/identity.h"
#include "grid/runner.h"
#include "plot/plot.h"

/* A finished 1 x 1 grid, as grid_store_write_cells writes it. */
static const char cells_csv[] = "# bntrain grid config 0123456789abcdef\n"
                                "gamma,log10_lr,lr,n_restarts,restarts_done,restarts_exploded,"
                                "exploded,test_loss_mean,test_loss_std,test_acc_mean\n"
                                "1,-1,0.1,1,1,0,0,0.5,0,0.9\n";

static void check_values(const char *json) {
    static const char *const other_keys[] = {"version", "title_note", "", "\"", NULL};
    for (int pass = 0; pass < 2; pass++) {
        for (const char *const *key = pass ? other_keys : config_result_keys; *key; key++) {
            char small[8], large[1 << 12];
            memset(small, 'x', sizeof small);
            if (config_json_value(json, *key, small, sizeof small) == 0)
                FUZZ_CHECK(memchr(small, '\0', sizeof small) != NULL);
            if (config_json_value(json, *key, large, sizeof large) == 0)
                FUZZ_CHECK(strlen(large) < sizeof large && strchr(large, '\n') == NULL);
        }
    }
    (void)config_identity(json);
}

static void check_grid(const char *dir, const char *path) {
    bn_grid_config g;
    memset(&g, 0, sizeof g);
    experiment_defaults(&g.experiment);
    g.experiment.dataset = "mnist";
    double x = 1.0, log10_lr = -1.0;
    g.x_name = "gamma";
    g.x_values = &x;
    g.n_x = 1;
    g.log10_lrs = &log10_lr;
    g.n_lr = 1;
    g.n_restarts = 1;
    g.out_dir = dir;
    bn_error err;
    int status = grid_check_config(&g, &err);
    /* 1: another configuration (a usage error); -1: a config.json cut short or not a JSON
     * object (a runtime error, exit 1); both say one line naming the file */
    FUZZ_CHECK(status == 0 || status == 1 || status == -1);
    if (status != 0) fuzz_check_message(&err, path);
}

static void check_plot(const char *dir) {
    char cells[FUZZ_PATH_BYTES];
    fuzz_join(cells, dir, "cells.csv");
    fuzz_write(cells, (const uint8_t *)cells_csv, sizeof cells_csv - 1);
    plot_grid grid;
    bn_error err;
    FUZZ_CHECK(plot_grid_read(dir, &grid, &err) == 0);
    FUZZ_CHECK(grid.n_x == 1 && grid.n_y == 1 && grid.cells[0].state == PLOT_CELL_DONE);
    FUZZ_CHECK(memchr(grid.dataset, '\0', sizeof grid.dataset) != NULL);
    FUZZ_CHECK(memchr(grid.arch, '\0', sizeof grid.arch) != NULL);
    FUZZ_CHECK(memchr(grid.title_note, '\0', sizeof grid.title_note) != NULL);
    FUZZ_CHECK(grid.batchnorm == -1 || grid.batchnorm == 0 || grid.batchnorm == 1);
    plot_grid_free(&grid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = fuzz_text(data, size);
    check_values(json);
    free(json);

    char dir[FUZZ_PATH_BYTES], path[FUZZ_PATH_BYTES];
    fuzz_dir_create(dir);
    fuzz_join(path, dir, "config.json");
    fuzz_write(path, data, size);
    check_grid(dir, path);
    check_plot(dir);
    fuzz_dir_remove(dir);
    return 0;
}
