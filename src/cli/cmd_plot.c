/* bntrain plot: re-renders a grid folder's heatmap (PNG and SVG) from its CSV files, without
 * training; or draws probe folders (bntrain probe) in one figure. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "grid/boundary.h"
#include "grid/identity.h"
#include "grid/shard.h"
#include "plot/plot.h"

static const cli_option plot_options[] = {
    OPTION_TITLE("options:"),
    OPTION_INCLUDE(options_color_scale, 0),
    OPTION_END,
};

const cli_command plot_command = {
    .name = "plot",
    .about =
        "usage: bntrain plot DIR [--color-scale linear|log]\n"
        "       bntrain plot PROBE_DIR [PROBE_DIR2 ...] [GRID_DIR]\n\n"
        "Re-renders DIR/heatmap.png and DIR/heatmap.svg from DIR/cells.csv, DIR/theory.csv,\n"
        "DIR/boundary.csv and DIR/config.json (theory.csv and boundary.csv optional), without\n"
        "training. Each CSV must carry config.json's identity line. When every cell has run and\n"
        "theory.csv exists, a missing boundary.csv (bntrain grid does not write it) is measured\n"
        "and written first: the smallest learning rate per column whose cell diverged, drawn\n"
        "as a marker on the heatmap. A grid run in shards\n"
        "(grid --shard) has its cells.csv once `bntrain grid ... --merge` has joined them.\n"
        "The pictures are replaced atomically: on failure the previous ones stay.\n"
        "Folders of bntrain probe (holding probe.csv): PROBE_DIR/probe.png and probe.svg, each\n"
        "quantity against the layer, one colour per folder (e.g. BN and vanilla), error bars\n"
        "for the spread over channels, log10 where a panel spans more than two decades; and,\n"
        "when two or more were made with --lambda, PROBE_DIR/lambda.png and .svg: log10\n"
        "lambda_max against gamma beside the theory's bound, and beside 2(1+mu)/eta of the\n"
        "measured boundary of a grid folder named among them (bntrain plot P1 P2 ... GRID).\n\n",
    .options = plot_options,
    .target_bytes = sizeof(int), /* log_color_scale */
    .takes_operands = 1,
};

static int is_probe_folder(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/probe.csv", dir);
    return access(path, F_OK) == 0;
}

static int is_grid_folder(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    return access(path, F_OK) == 0;
}

/* The probe folders' lambda_max against gamma (those made with --lambda; at least two), with
 * the grid folder's boundary if one was named: FIRST/lambda.png and .svg. */
static int plot_lambda(char **dirs, int n_dirs, const char *grid_dir) {
    plot_lambda_point points[PLOT_LAMBDA_MAX_POINTS];
    size_t n = 0;
    bn_error err;
    for (int i = 0; i < n_dirs && n < PLOT_LAMBDA_MAX_POINTS; i++) {
        int found = plot_lambda_read(dirs[i], &points[n], &err);
        if (found < 0) {
            fprintf(stderr, "bntrain plot: %s\n", err.msg);
            return EXIT_RUNTIME;
        }
        if (found == 0) n++;
    }
    if (n < 2) {
        if (!grid_dir) return 0; /* no lambda figure to draw, and none asked for */
        return usage_error("plot",
                           "%s: a grid folder among probe folders draws lambda_max against "
                           "gamma, which needs 2 or more probe folders made with --lambda (%zu)",
                           grid_dir, n);
    }
    plot_grid grid;
    int boundary_written = 0;
    if (grid_dir && (boundary_ensure(grid_dir, &boundary_written, &err) ||
                     plot_grid_read(grid_dir, &grid, &err))) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (grid_dir && !grid.has_boundary) {
        plot_grid_free(&grid);
        return usage_error("plot",
                           "%s: no boundary.csv, and it cannot be measured yet: the grid has "
                           "cells not run, or no theory.csv",
                           grid_dir);
    }
    if (boundary_written) printf("wrote %s/boundary.csv\n", grid_dir);
    char png[4200];
    snprintf(png, sizeof png, "%s/lambda.png", dirs[0]);
    int status = plot_lambda_figure(points, n, grid_dir ? &grid : NULL, png, &err);
    if (grid_dir) plot_grid_free(&grid);
    if (status) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    printf("wrote %s/lambda.png and %s/lambda.svg (%zu probe folders)\n", dirs[0], dirs[0], n);
    return 0;
}

/* Every probe folder's probe.csv in one figure, written into the first folder; and, when two
 * or more were made with --lambda, their lambda_max against gamma. One grid folder may be
 * among them: its measured boundary joins the lambda figure. */
static int plot_probe_folders(char **dirs, int n_dirs) {
    char *probes[PLOT_LAMBDA_MAX_POINTS];
    const char *grid_dir = NULL;
    int n_probes = 0;
    for (int i = 0; i < n_dirs; i++) {
        if (is_probe_folder(dirs[i])) {
            if (n_probes == PLOT_LAMBDA_MAX_POINTS)
                return usage_error("plot", "more than %d probe folders", PLOT_LAMBDA_MAX_POINTS);
            probes[n_probes++] = dirs[i];
        } else if (is_grid_folder(dirs[i]) && !grid_dir) {
            grid_dir = dirs[i];
        } else {
            return usage_error("plot",
                               "%s: neither a probe folder (probe.csv) nor a grid folder "
                               "(cells.csv; one at most)",
                               dirs[i]);
        }
    }
    bn_error err;
    if (n_probes <= PLOT_N_CATEGORIES) {
        char png[4200];
        snprintf(png, sizeof png, "%s/probe.png", probes[0]);
        if (plot_probe_figure((const char *const *)probes, (size_t)n_probes, png, &err)) {
            fprintf(stderr, "bntrain plot: %s\n", err.msg);
            return EXIT_RUNTIME;
        }
        printf("wrote %s/probe.png and %s/probe.svg\n", probes[0], probes[0]);
    } else {
        fprintf(stderr, "bntrain plot: note: %d probe folders: probe.png draws at most %d\n",
                n_probes, PLOT_N_CATEGORIES);
    }
    return plot_lambda(probes, n_probes, grid_dir);
}

int cmd_plot(int argc, char **argv) {
    int log_color_scale = 0, first;
    int status = options_parse(&plot_command, &log_color_scale, argc, argv, &first);
    if (status >= 0) return status;
    if (argc == first) return usage_error("plot", "missing the grid folder DIR");
    if (is_probe_folder(argv[first])) return plot_probe_folders(argv + first, argc - first);
    if (argc - first > 1)
        return usage_error("plot", "expected one folder, got %d arguments", argc - first);
    bn_error err;
    uint64_t identity;
    const char *dir = argv[first];
    char cells[4200];
    snprintf(cells, sizeof cells, "%s/cells.csv", dir);
    if (access(cells, F_OK) != 0 && errno == ENOENT && shard_logs_present(dir) > 0) {
        fprintf(stderr,
                "bntrain plot: %s holds shards of a grid (runs.K-of-N.csv) but no cells.csv: "
                "join them with the grid's command and --merge (--partial to draw before every "
                "shard has finished)\n",
                dir);
        return EXIT_RUNTIME;
    }
    int boundary_written = 0;
    if (grid_folder_identity(dir, &identity, &err) || grid_check_identities(dir, identity, &err) ||
        boundary_ensure(dir, &boundary_written, &err) ||
        plot_heatmap_dir(dir, log_color_scale, &err) != 0) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (boundary_written) printf("wrote %s/boundary.csv\n", dir);
    printf("wrote %s/heatmap.png and %s/heatmap.svg\n", argv[first], argv[first]);
    return 0;
}
