/* Whole files: the one atomic writer (temp file, fsync, rename, fsync of the folder) that
 * results, figures and theory tables go through, and the reader of a whole small file. */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_file_open(atomic_file *out, const char *path, bn_error *err) {
    out->file = NULL;
    out->path = path;
    /* mkstemp: a unique temp name, so two threads or processes never share one. */
    int n = snprintf(out->temp_path, sizeof out->temp_path, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof out->temp_path) return bn_fail(err, "%s: path too long", path);
    int fd = mkstemp(out->temp_path);
    if (fd < 0)
        return bn_fail(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
    /* mkstemp creates the file private (0600); results are for everyone to read. */
    if (fchmod(fd, 0644) == 0) out->file = fdopen(fd, "wb");
    if (!out->file) {
        int saved = errno;
        close(fd);
        unlink(out->temp_path);
        return bn_fail(err, "%s: cannot open a temporary file: %s", path, strerror(saved));
    }
    return 0;
}

/* fsync of the folder that holds path, which makes a rename in it durable. A file system that
 * cannot sync folders (EINVAL) has nothing more to offer, and is not an error. */
static int fsync_folder(const char *path) {
    char folder[4200];
    snprintf(folder, sizeof folder, "%s", path);
    char *slash = strrchr(folder, '/');
    if (slash)
        *(slash == folder ? slash + 1 : slash) = '\0';
    else
        snprintf(folder, sizeof folder, ".");
    int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int status = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return status;
}

static int remove_temp_and_fail(atomic_file *out, const char *what, int cause, bn_error *err) {
    unlink(out->temp_path);
    /* cause 0: the stream's error flag was set by an earlier write whose errno is gone */
    return bn_fail(err, "%s: %s: %s", out->path, what, cause ? strerror(cause) : "write error");
}

/* Flush, fsync and close the temp file; on failure it is removed. */
static int atomic_file_close_temp(atomic_file *out, bn_error *err) {
    /* fflush first: it writes what is buffered, and a full disk fails here with ENOSPC. errno
     * is cleared so that a stream whose earlier write failed does not report a stale cause. */
    errno = 0;
    int failed = fflush(out->file) != 0 || ferror(out->file) || fsync(fileno(out->file)) != 0;
    int cause = failed ? errno : 0;
    if (fclose(out->file) != 0 && !failed) {
        failed = 1;
        cause = errno;
    }
    out->file = NULL;
    return failed ? remove_temp_and_fail(out, "cannot write", cause, err) : 0;
}

static int fsync_folder_of_target(const atomic_file *out, bn_error *err) {
    if (fsync_folder(out->path) != 0)
        return bn_fail(err, "%s: written, but cannot fsync its folder: %s", out->path,
                       strerror(errno));
    return 0;
}

int atomic_file_commit(atomic_file *out, bn_error *err) {
    if (atomic_file_close_temp(out, err)) return -1;
    if (rename(out->temp_path, out->path) != 0)
        return remove_temp_and_fail(out, "cannot replace", errno, err);
    return fsync_folder_of_target(out, err);
}

void atomic_file_abort(atomic_file *out) {
    if (out->file) fclose(out->file);
    out->file = NULL;
    unlink(out->temp_path);
}

/* A temp file beside path holding data[0, length), still open (atomic_file_open). */
static int temp_file_with(atomic_file *out, const char *path, const void *data, size_t length,
                          bn_error *err) {
    if (atomic_file_open(out, path, err)) return -1;
    if (length > 0 && fwrite(data, 1, length, out->file) != length) {
        int cause = errno;
        atomic_file_abort(out);
        return bn_fail(err, "%s: cannot write: %s", path, strerror(cause));
    }
    return 0;
}

int write_file_exclusive(const char *path, const void *data, size_t length, int *existed,
                         bn_error *err) {
    atomic_file out;
    *existed = 0;
    if (temp_file_with(&out, path, data, length, err) || atomic_file_close_temp(&out, err))
        return -1;
    /* link() fails with EEXIST rather than replace: the one exclusive create that NFS makes
     * atomic between clients (O_EXCL was not, before NFSv3). */
    if (link(out.temp_path, path) != 0) {
        if (errno != EEXIST) return remove_temp_and_fail(&out, "cannot create", errno, err);
        *existed = 1;
    }
    unlink(out.temp_path);
    return *existed ? 0 : fsync_folder_of_target(&out, err);
}

int write_file_atomic(const char *path, const void *data, size_t length, bn_error *err) {
    atomic_file out;
    if (temp_file_with(&out, path, data, length, err)) return -1;
    return atomic_file_commit(&out, err);
}

int read_file(const char *path, char **data, size_t *length, bn_error *err) {
    *data = NULL;
    *length = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t capacity = 4096, n = 0;
    char *buf = malloc(capacity);
    while (buf) {
        n += fread(buf + n, 1, capacity - 1 - n, f);
        if (n < capacity - 1) break;
        char *bigger = realloc(buf, capacity * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        capacity *= 2;
    }
    int failed = ferror(f), cause = errno;
    fclose(f);
    if (!buf) return bn_fail(err, "%s: cannot read: out of memory", path);
    if (failed) {
        free(buf);
        return bn_fail(err, "%s: cannot read: %s", path, strerror(cause));
    }
    buf[n] = '\0';
    *data = buf;
    *length = n;
    return 0;
}

int folder_lock_named(const char *dir, const char *lock_name, int shared, const char *holder,
                      int *fd, bn_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, lock_name);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (flock(*fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
        close(*fd);
        *fd = -1;
        return bn_fail(err, "%s: %s", dir, holder);
    }
    return 0;
}

int folder_lock(const char *dir, const char *command, int *fd, bn_error *err) {
    char holder[128];
    snprintf(holder, sizeof holder, "another bntrain %s is writing this folder", command);
    return folder_lock_named(dir, ".lock", 0, holder, fd, err);
}

int file_write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

int file_complete_prefix(int fd, off_t size, off_t *prefix) {
    char buf[4096];
    off_t end = size;
    while (end > 0) {
        size_t chunk = end > (off_t)sizeof buf ? sizeof buf : (size_t)end;
        if (pread(fd, buf, chunk, end - (off_t)chunk) != (ssize_t)chunk) return -1;
        for (size_t i = chunk; i-- > 0;)
            if (buf[i] == '\n') {
                *prefix = end - (off_t)chunk + (off_t)i + 1;
                return 0;
            }
        end -= (off_t)chunk;
    }
    *prefix = 0;
    return 0;
}

int file_append_record(int fd, const char *line, size_t length, const char *path, bn_error *err) {
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) return bn_fail(err, "%s: cannot append: %s", path, strerror(errno));
    if (file_write_all(fd, line, length) == 0 && fsync(fd) == 0) return 0;
    int cause = errno;
    if (ftruncate(fd, end) || fsync(fd))
        return bn_fail(err, "%s: cannot append: %s, and cannot cut the partial record: %s", path,
                       strerror(cause), strerror(errno));
    return bn_fail(err, "%s: cannot append: %s", path, strerror(cause));
}
