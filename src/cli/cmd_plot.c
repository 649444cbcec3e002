/* bntrain plot: re-renders a grid folder's heatmap (PNG and SVG) from its CSV files, without
 * training; or draws probe folders (bntrain probe) in one figure. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "grid/identity.h"
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
        "       bntrain plot PROBE_DIR [PROBE_DIR2 ...]\n\n"
        "Re-renders DIR/heatmap.png and DIR/heatmap.svg from DIR/cells.csv, DIR/theory.csv,\n"
        "DIR/boundary.csv and DIR/config.json (theory.csv and boundary.csv optional), without\n"
        "training. Each CSV must carry config.json's identity line.\n"
        "The pictures are replaced atomically: on failure the previous ones stay.\n"
        "Folders of bntrain probe (holding probe.csv): PROBE_DIR/probe.png and probe.svg, each\n"
        "quantity against the layer, one colour per folder (e.g. BN and vanilla), error bars\n"
        "for the spread over channels, log10 where a panel spans more than two decades.\n\n",
    .options = plot_options,
    .target_bytes = sizeof(int), /* log_color_scale */
    .takes_operands = 1,
};

static int is_probe_folder(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/probe.csv", dir);
    return access(path, F_OK) == 0;
}

/* Every folder's probe.csv in one figure, written into the first folder. */
static int plot_probe_folders(char **dirs, int n_dirs) {
    if (n_dirs > PLOT_N_CATEGORIES)
        return usage_error("plot", "%d probe folders: at most %d in one figure", n_dirs,
                           PLOT_N_CATEGORIES);
    for (int i = 1; i < n_dirs; i++)
        if (!is_probe_folder(dirs[i]))
            return usage_error("plot", "%s: no probe.csv (all folders must be probe folders)",
                               dirs[i]);
    char png[4200];
    snprintf(png, sizeof png, "%s/probe.png", dirs[0]);
    bn_error err;
    if (plot_probe_figure((const char *const *)dirs, (size_t)n_dirs, png, &err)) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    printf("wrote %s/probe.png and %s/probe.svg\n", dirs[0], dirs[0]);
    return 0;
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
    if (grid_folder_identity(dir, &identity, &err) || grid_check_identities(dir, identity, &err) ||
        plot_heatmap_dir(dir, log_color_scale, &err) != 0) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    printf("wrote %s/heatmap.png and %s/heatmap.svg\n", argv[first], argv[first]);
    return 0;
}
