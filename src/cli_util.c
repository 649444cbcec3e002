/* Helpers shared by the subcommands' option handling and messages. */
#include <stdarg.h>
#include <stdio.h>

#include "bntrain/cli.h"

int usage_error(const char *command, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "bntrain %s: ", command);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, " (see bntrain help %s)\n", command);
    va_end(args);
    return EXIT_USAGE;
}
