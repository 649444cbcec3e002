/* Atomic file writing for the figures: write a temp file in the target's folder, flush, fsync,
 * then rename it over the target, so a reader (or a crash) never sees half a picture and a
 * failure leaves the previous picture in place. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "plot/plot.h"

int plot_file_open(plot_file *out, const char *path, bn_error *err) {
    /* pid and a counter: two threads of one process may write figures at the same time */
    static atomic_uint counter;
    out->file = NULL;
    out->path = path;
    int n = snprintf(out->temp_path, sizeof out->temp_path, "%s.tmp.%ld.%u", path, (long)getpid(),
                     atomic_fetch_add(&counter, 1u));
    if (n < 0 || (size_t)n >= sizeof out->temp_path) return bn_fail(err, "%s: path too long", path);
    int fd = open(out->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return bn_fail(err, "%s: cannot create temporary file %s: %s", path, out->temp_path,
                       strerror(errno));
    out->file = fdopen(fd, "wb");
    if (!out->file) {
        int saved = errno;
        close(fd);
        unlink(out->temp_path);
        return bn_fail(err, "%s: cannot open temporary file: %s", path, strerror(saved));
    }
    return 0;
}

int plot_file_commit(plot_file *out, bn_error *err) {
    const char *step = NULL;
    int saved = 0;
    if (ferror(out->file) || fflush(out->file) != 0)
        step = "write";
    else if (fsync(fileno(out->file)) != 0)
        step = "fsync";
    if (step) saved = errno;
    if (fclose(out->file) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    out->file = NULL;
    if (!step && rename(out->temp_path, out->path) != 0) {
        step = "rename";
        saved = errno;
    }
    if (!step) return 0;
    unlink(out->temp_path);
    return bn_fail(err, "%s: %s failed: %s", out->path, step,
                   saved ? strerror(saved) : "stream error");
}

void plot_file_abort(plot_file *out) {
    if (out->file) fclose(out->file);
    out->file = NULL;
    unlink(out->temp_path);
}
