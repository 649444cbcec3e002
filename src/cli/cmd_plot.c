/* bntrain plot: re-renders a grid folder's heatmap (PNG and SVG) from its CSV files, without
 * training. */
#include <stdint.h>
#include <stdio.h>

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
        "usage: bntrain plot DIR [--color-scale linear|log]\n\n"
        "Re-renders DIR/heatmap.png and DIR/heatmap.svg from DIR/cells.csv, DIR/theory.csv,\n"
        "DIR/boundary.csv and DIR/config.json (theory.csv and boundary.csv optional), without\n"
        "training. Each CSV must carry config.json's identity line.\n"
        "The pictures are replaced atomically: on failure the previous ones stay.\n\n",
    .options = plot_options,
    .target_bytes = sizeof(int), /* log_color_scale */
    .takes_operands = 1,
};

int cmd_plot(int argc, char **argv) {
    int log_color_scale = 0, first;
    int status = options_parse(&plot_command, &log_color_scale, argc, argv, &first);
    if (status >= 0) return status;
    if (argc == first) return usage_error("plot", "missing the grid folder DIR");
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
