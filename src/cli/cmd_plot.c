/* bntrain plot: re-renders a grid folder's heatmap (PNG and SVG) from its CSV files, without
 * training. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "plot/plot.h"

enum { OPT_COLOR_SCALE = 1, OPT_HELP };

static const struct option plot_options[] = {
    {"color-scale", required_argument, NULL, OPT_COLOR_SCALE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void print_help(void) {
    printf("usage: bntrain plot DIR [--color-scale linear|log]\n\n"
           "Re-renders DIR/heatmap.png and DIR/heatmap.svg from DIR/cells.csv, DIR/theory.csv,\n"
           "DIR/boundary.csv and DIR/config.json (all but cells.csv optional), without training.\n"
           "The pictures are replaced atomically: on failure the previous ones stay.\n\n"
           "options:\n"
           "  --color-scale linear|log  colour the mean test loss linearly or by its log10\n"
           "                            (default linear)\n"
           "  -h, --help                print this help\n");
}

int cmd_plot(int argc, char **argv) {
    int log_color_scale = 0, code;
    optind = 1;
    opterr = 0;
    while ((code = getopt_long(argc, argv, "h", plot_options, NULL)) != -1) {
        if (code == OPT_HELP || code == 'h') {
            print_help();
            return 0;
        }
        if (code != OPT_COLOR_SCALE)
            return usage_error("plot", "unknown option or missing value: '%s'", argv[optind - 1]);
        if (strcmp(optarg, "linear") != 0 && strcmp(optarg, "log") != 0)
            return usage_error("plot", "--color-scale must be linear or log, not '%s'", optarg);
        log_color_scale = strcmp(optarg, "log") == 0;
    }
    if (argc == optind) return usage_error("plot", "missing the grid folder DIR");
    if (argc - optind > 1)
        return usage_error("plot", "expected one folder, got %d arguments", argc - optind);
    bn_error err;
    if (plot_heatmap_dir(argv[optind], log_color_scale, &err) != 0) {
        fprintf(stderr, "bntrain plot: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    printf("wrote %s/heatmap.png and %s/heatmap.svg\n", argv[optind], argv[optind]);
    return 0;
}
