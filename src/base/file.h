/* Whole files on disk: atomic replacement and reading a small file.
 *
 * A file is replaced atomically: its content goes to a temp file in the target's folder, which
 * commit flushes, fsyncs, closes and renames over the target, then fsyncs the folder so that the
 * rename itself survives a crash. A reader (or a crash) sees the old file or the new one, never
 * half of one; a failure leaves the old file intact and removes the temp file. Every error names
 * the target and the cause (a full disk says "No space left on device"). */
#ifndef BNTRAIN_BASE_FILE_H
#define BNTRAIN_BASE_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "bntrain/error.h"

typedef struct {
    FILE *file;       /* write the content here, between open and commit */
    const char *path; /* the target; must outlive the atomic_file */
    char temp_path[4200];
} atomic_file;

/* Creates the temp file (mode 0644) beside path and opens it as out->file. */
int atomic_file_open(atomic_file *out, const char *path, bn_error *err);
/* Flush, fsync, close, rename over the target, fsync of the folder. On failure the temp file
 * is removed; the target is untouched unless only the folder fsync failed. */
int atomic_file_commit(atomic_file *out, bn_error *err);
/* Closes and removes the temp file; the target is untouched. */
void atomic_file_abort(atomic_file *out);

/* Replaces path with data[0, length) atomically, as above. */
int write_file_atomic(const char *path, const void *data, size_t length, bn_error *err);

/* Creates path with data[0, length) if it does not exist, atomically (a temp file linked to
 * path): a reader sees no file or the whole file, and of several processes creating it at
 * once (on NFS too) exactly one succeeds; the others get *existed = 1 and path as it is. */
int write_file_exclusive(const char *path, const void *data, size_t length, int *existed,
                         bn_error *err);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
int read_file(const char *path, char **data, size_t *length, bn_error *err);

/* Append-only logs (runs.csv, curves.csv): a record is one line written with one call and
 * fsync'd, so a kill leaves at most one torn last line. file_write_all writes all of data
 * (retrying short writes and EINTR); file_complete_prefix gives the length of the file up to
 * and including its last newline (0 if none), which is what a log keeps of a torn file. */
int file_write_all(int fd, const char *data, size_t length);
/* Appends one record (a whole line) to the log open on fd with one write, then fsync: a kill
 * can tear it, but never interleave two records. A full disk can take part of the line: that
 * part is cut off again, so that the log holds complete records only (truncating frees space,
 * so it works on a full disk). path names the log in err. */
int file_append_record(int fd, const char *line, size_t length, const char *path, bn_error *err);
int file_complete_prefix(int fd, off_t size, off_t *prefix);

/* An exclusive lock on DIR/.lock (flock), so that two commands never write one results folder;
 * the lock goes with the process. `command` names the holder in the refusal ("another bntrain
 * grid is writing this folder"). *fd is the lock to close(). */
int folder_lock(const char *dir, const char *command, int *fd, bn_error *err);
/* The same on DIR/lock_name, shared (several holders) or exclusive; `holder` is the refusal's
 * text after "DIR: ". */
int folder_lock_named(const char *dir, const char *lock_name, int shared, const char *holder,
                      int *fd, bn_error *err);

#endif
