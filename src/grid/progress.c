/* Grid progress reporting. Terminal control codes only when stderr is a terminal. */
#include "grid/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "base/runtime.h"

void progress_start(bn_progress *p, size_t total, size_t done, size_t exploded,
                    const char *x_name, int quiet) {
    p->terminal = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->x_name = x_name;
    p->start = wall_seconds();
    p->last_draw = 0.0;
    p->total = total;
    p->done = done;
    p->done_now = 0;
    p->exploded = exploded;
}

static void format_duration(char *buf, size_t capacity, double seconds) {
    if (!(seconds >= 0.0) || seconds > 1e7) {
        snprintf(buf, capacity, "--:--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    snprintf(buf, capacity, "%02ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

void progress_run_done(bn_progress *p, const bn_run_record *r) {
    p->done++;
    p->done_now++;
    p->exploded += r->exploded != 0;
    if (p->quiet) return;
    double now = wall_seconds(), elapsed = now - p->start;
    double eta = elapsed / (double)p->done_now * (double)(p->total - p->done);
    char elapsed_text[32], eta_text[32];
    format_duration(elapsed_text, sizeof elapsed_text, elapsed);
    format_duration(eta_text, sizeof eta_text, eta);
    if (p->terminal) {
        /* Redraw at most a few times a second; always draw the last one. */
        if (now - p->last_draw < 0.2 && p->done < p->total) return;
        p->last_draw = now;
        fprintf(stderr, "\r\033[K%zu/%zu %s, %zu exploded, %s elapsed, ETA %s", p->done,
                p->total, p->total == 1 ? "run" : "runs", p->exploded, elapsed_text, eta_text);
    } else {
        fprintf(stderr, "run %zu/%zu %s=%.6g log10_lr=%.6g restart=%zu: ", p->done, p->total,
                p->x_name, r->x, r->log10_lr, r->restart);
        if (r->exploded)
            fprintf(stderr, "exploded at epoch %zu step %zu", r->exploded_epoch,
                    r->exploded_step);
        else
            fprintf(stderr, "test_loss %.6g test_acc %.4f", r->test_loss, r->test_acc);
        fprintf(stderr, " (%.1f s; %zu exploded so far; ETA %s)\n", r->seconds, p->exploded,
                eta_text);
    }
    fflush(stderr);
}

void progress_finish(bn_progress *p) {
    if (p->terminal && !p->quiet && p->done_now > 0) fputc('\n', stderr);
}
