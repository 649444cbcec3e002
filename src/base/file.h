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

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
int read_file(const char *path, char **data, size_t *length, bn_error *err);

#endif
