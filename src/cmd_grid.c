/* bntrain grid: placeholder until the grid runner lands in this file (issue 3). */
#include <stdio.h>

#include "bntrain/cli.h"

int cmd_grid(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "bntrain grid: not built yet\n");
    return EXIT_RUNTIME;
}
