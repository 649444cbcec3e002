/* bntrain plot: re-renders a grid folder's heatmap (PNG and SVG) from its CSV files, without
 * training. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/options.h"
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
        "DIR/boundary.csv and DIR/config.json (all but cells.csv optional), without training.\n"
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
    if (plot_heatmap_dir(argv[first], log_color_scale, &err) != 0) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    printf("wrote %s/heatmap.png and %s/heatmap.svg\n", argv[first], argv[first]);
    return 0;
}
