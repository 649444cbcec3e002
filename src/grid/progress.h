/* Progress of a grid on stderr: one updating line on a terminal, one plain line per finished
 * run otherwise (batch logs). */
#ifndef BNTRAIN_PROGRESS_H
#define BNTRAIN_PROGRESS_H

#include <stddef.h>

#include "grid/results.h"

typedef struct {
    int terminal;
    int quiet;
    const char *x_name;
    double start, last_draw;
    size_t total, done, done_now, exploded;
} bn_progress;

void progress_start(bn_progress *p, size_t total, size_t done, size_t exploded,
                    const char *x_name, int quiet);
void progress_run_done(bn_progress *p, const bn_run_record *r);
/* Ends the updating line (a newline on a terminal). */
void progress_finish(bn_progress *p);

#endif
