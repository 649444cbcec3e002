/* Tests for whole files (base/file.h): the atomic writer replaces a file or leaves the old one
 * intact, with no temp file behind, whatever fails (a missing folder, a full disk simulated by
 * a file size limit, a rename onto a folder, a read-only folder, an abort), and says which file;
 * the streaming form; read_file. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */

#include "base/file.h"
#include "check.h"

#include <dirent.h>
#include <ftw.h>
#include <string.h>
#include <unistd.h>

static size_t count_temp_files(const char *dir) {
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* path holds exactly text */
static int holds(const char *path, const char *text) {
    char *data = NULL;
    size_t length = 0;
    bn_error err;
    int same = read_file(path, &data, &length, &err) == 0 && length == strlen(text) &&
               memcmp(data, text, length) == 0;
    free(data);
    return same;
}

static void test_write(const char *dir) {
    char path[1024];
    bn_error err = {""};
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    CHECK_MSG(write_file_atomic(path, "old\n", 4, &err) == 0, "%s", err.msg);
    CHECK(holds(path, "old\n"));
    struct stat info;
    CHECK(stat(path, &info) == 0 && (info.st_mode & 0777) == 0644); /* not mkstemp's 0600 */
    CHECK(write_file_atomic(path, "new, longer\n", 12, &err) == 0 && holds(path, "new, longer\n"));
    CHECK(write_file_atomic(path, "", 0, &err) == 0 && holds(path, ""));
    CHECK(count_temp_files(dir) == 0);

    atomic_file out;
    CHECK(atomic_file_open(&out, path, &err) == 0);
    CHECK(fprintf(out.file, "streamed %d\n", 42) > 0);
    CHECK(holds(path, "")); /* nothing shows before commit */
    CHECK_MSG(atomic_file_commit(&out, &err) == 0, "%s", err.msg);
    CHECK(holds(path, "streamed 42\n") && out.file == NULL);

    CHECK(atomic_file_open(&out, path, &err) == 0);
    fputs("half a picture", out.file);
    atomic_file_abort(&out);
    CHECK(holds(path, "streamed 42\n"));
    CHECK(count_temp_files(dir) == 0);
}

static void expect_failure(int status, const bn_error *err, const char *path, const char *what) {
    CHECK(status == -1);
    CHECK_MSG(strstr(err->msg, path) != NULL, "'%s' does not name %s", err->msg, path);
    CHECK_MSG(strstr(err->msg, what) != NULL, "'%s' does not say '%s'", err->msg, what);
    printf("  expected error: %s\n", err->msg);
}

static void test_failures(const char *dir) {
    char path[1024], missing[1024];
    bn_error err = {""};
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(write_file_atomic(path, "old\n", 4, &err) == 0);

    snprintf(missing, sizeof missing, "%s/no-such-folder/config.json", dir);
    expect_failure(write_file_atomic(missing, "x", 1, &err), &err, missing,
                   "cannot create a temporary file: No such file or directory");

    /* a full disk, simulated by a file size limit: the whole write, then a buffered stream
     * whose bytes reach the disk only in commit's fflush */
    static char big[8000];
    memset(big, 'x', sizeof big);
    struct rlimit saved;
    CHECK(check_limit_file_size(1000, &saved) == 0);
    int whole = write_file_atomic(path, big, sizeof big, &err);
    bn_error stream_err = {""};
    atomic_file out;
    int streamed = atomic_file_open(&out, path, &stream_err);
    if (streamed == 0) {
        fwrite(big, 1, 1500, out.file);
        streamed = atomic_file_commit(&out, &stream_err);
    }
    CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    expect_failure(whole, &err, path, "cannot write: File too large");
    expect_failure(streamed, &stream_err, path, "cannot write: File too large");
    CHECK(holds(path, "old\n"));
    CHECK(count_temp_files(dir) == 0);

    /* the rename fails when the target is a folder */
    snprintf(path, sizeof path, "%s/a-folder", dir);
    CHECK(mkdir(path, 0755) == 0);
    expect_failure(write_file_atomic(path, "x", 1, &err), &err, path, "cannot replace");
    struct stat info;
    CHECK(stat(path, &info) == 0 && S_ISDIR(info.st_mode));
    CHECK(count_temp_files(dir) == 0);

    if (geteuid() == 0) {
        printf("test_file: running as root, which ignores folder permissions: the read-only "
               "folder case does not apply\n");
        return;
    }
    snprintf(path, sizeof path, "%s/read-only", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(missing, sizeof missing, "%s/read-only/theory.csv", dir);
    CHECK(write_file_atomic(missing, "old\n", 4, &err) == 0);
    CHECK(chmod(path, 0555) == 0);
    expect_failure(write_file_atomic(missing, "new\n", 4, &err), &err, missing,
                   "Permission denied");
    CHECK(chmod(path, 0755) == 0);
    CHECK(holds(missing, "old\n") && count_temp_files(path) == 0);
}

static void test_read(const char *dir) {
    char path[1024];
    bn_error err = {""};
    char *data = (char *)1;
    size_t length = 1;
    snprintf(path, sizeof path, "%s/absent.json", dir);
    expect_failure(read_file(path, &data, &length, &err), &err, path,
                   "cannot open: No such file or directory");
    CHECK(data == NULL && length == 0);
    /* a folder where a file should be opens, then fails to read: the cause is said */
    snprintf(path, sizeof path, "%s/folder.json", dir);
    CHECK(mkdir(path, 0755) == 0);
    expect_failure(read_file(path, &data, &length, &err), &err, path,
                   "cannot read: Is a directory");
    CHECK(data == NULL && length == 0);

    /* larger than read_file's first buffer, so that it grows */
    static char text[10001];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = (char)('a' + i % 26);
    snprintf(path, sizeof path, "%s/big.txt", dir);
    CHECK(write_file_atomic(path, text, sizeof text - 1, &err) == 0);
    CHECK(read_file(path, &data, &length, &err) == 0);
    CHECK(data && length == sizeof text - 1 && memcmp(data, text, length) == 0 &&
          data[length] == '\0');
    free(data);
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw) {
    (void)info, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    char dir[] = "/tmp/bntrain-test-file-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_write(dir);
    test_failures(dir);
    test_read(dir);
    CHECK(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
    return check_summary("test_file");
}
