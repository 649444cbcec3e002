/* Tests of the measured boundary (src/grid/boundary.c) on a 2 x 2 grid folder written here:
 * the first diverged learning rate of each column against eta_bar, boundary.csv headed by the
 * grid's identity line, and a folder whose files are not its config.json's refused, naming the
 * file, with boundary.csv left as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "check.h"
#include "grid/boundary.h"
#include "grid/identity.h"
#include "grid/store.h"

static const char config[] = "{\n  \"dataset\": \"mnist\",\n  \"arch\": \"fc\",\n"
                             "  \"loss\": \"mse\",\n  \"epochs\": 1,\n  \"x_values\": [0.5, 1],\n"
                             "  \"log10_lr\": [-2, -1]\n}\n";
static const double x_values[] = {0.5, 1.0}, log10_lrs[] = {-2.0, -1.0};

static void write_in(const char *dir, const char *name, const char *text) {
    char path[512];
    bn_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_MSG(write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
}

/* The folder of a finished grid: config.json, cells.csv (the cell gamma 1, log10_lr -1
 * exploded) and theory.csv, each CSV under the identity line `line`. */
static void write_folder_cells(const char *dir, uint64_t identity, const char *line,
                               size_t n_cells) {
    write_in(dir, "config.json", config);
    grid_shape shape = {.x_name = "gamma",
                        .x_values = x_values,
                        .n_x = 2,
                        .log10_lrs = log10_lrs,
                        .n_lr = 2,
                        .n_restarts = 1,
                        .identity = identity};
    grid_store store;
    bn_error err;
    CHECK(grid_store_create(&store, &shape, &err) == 0);
    for (size_t i = 0; i < n_cells; i++) {
        double x = x_values[i % 2], log10_lr = log10_lrs[i / 2];
        int blew_up = x == 1.0 && log10_lr == -1.0;
        bn_run_record r = {.x = x,
                           .log10_lr = log10_lr,
                           .exploded = blew_up,
                           .test_loss = blew_up ? NAN : 0.1,
                           .test_acc = 0.9};
        CHECK(grid_store_add(&store, &r) == 1);
    }
    CHECK_MSG(grid_store_write_cells(&store, dir, &err) == 0, "%s", err.msg);
    grid_store_free(&store);
    char theory[512];
    snprintf(theory, sizeof theory,
             "%sgamma,lambda_max,eta_bar,log10_eta_bar\n0.5,20,0.1,-1\n1,200,0.01,-2\n", line);
    write_in(dir, "theory.csv", theory);
}

static void write_folder(const char *dir, uint64_t identity, const char *line) {
    write_folder_cells(dir, identity, line, 4);
}

/* boundary_ensure (bntrain plot on a plain grid): writes boundary.csv for a finished grid,
 * leaves an existing one alone, and writes none while a cell has not run. */
static void check_ensure(const char *dir, uint64_t identity, const char *line) {
    char path[512], *text = NULL;
    size_t length;
    bn_error err = {""};
    snprintf(path, sizeof path, "%s/boundary.csv", dir);
    unlink(path);
    write_folder_cells(dir, identity, line, 3); /* gamma 1 at log10_lr -1 not run */
    int written = -1;
    CHECK_MSG(boundary_ensure(dir, &written, &err) == 0, "%s", err.msg);
    CHECK(written == 0 && access(path, F_OK) != 0);
    write_folder(dir, identity, line);
    CHECK_MSG(boundary_ensure(dir, &written, &err) == 0, "%s", err.msg);
    CHECK(written == 1);
    CHECK(read_file(path, &text, &length, &err) == 0);
    CHECK(text && strstr(text, "\n1,-1,-2.000000,1.000000\n") != NULL);
    free(text);
    CHECK_MSG(boundary_ensure(dir, &written, &err) == 0, "%s", err.msg);
    CHECK(written == 0); /* there already */
    CHECK_CLOSE(boundary_diverged_loss(LOSS_MSE), 5.0, 1e-12);
}

int main(void) {
    char dir[] = "/tmp/bntrain-test-boundary-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    uint64_t identity = config_identity(config);
    char line[64], other[64], path[512], *text = NULL;
    identity_line(line, sizeof line, identity);
    identity_line(other, sizeof other, identity + 1);
    write_folder(dir, identity, line);
    bn_boundary_summary summary;
    bn_error err = {""};
    size_t length;
    CHECK_MSG(boundary_write(dir, 10.0, &summary, &err) == 0, "%s", err.msg);
    CHECK(summary.n_x == 2 && summary.n_measured == 1);
    CHECK_CLOSE(summary.mean_abs_decades, 1.0, 1e-12); /* -1 measured against -2 */
    snprintf(path, sizeof path, "%s/boundary.csv", dir);
    CHECK(read_file(path, &text, &length, &err) == 0);
    CHECK_MSG(text && strncmp(text, line, strlen(line)) == 0, "boundary.csv begins: %.60s",
              text ? text : "");
    CHECK(text && strstr(text, "\n1,-1,-2.000000,1.000000\n") != NULL);

    check_ensure(dir, identity, line);

    /* a theory.csv with extreme finite values (a hand-edited or foreign one): every row is
     * written whole, however long its numbers print */
    write_folder(dir, identity, line);
    char extreme[512];
    snprintf(extreme, sizeof extreme,
             "%sgamma,lambda_max,eta_bar,log10_eta_bar\n0.5,20,0.1,-1e300\n1,200,0.01,1e300\n",
             line);
    write_in(dir, "theory.csv", extreme);
    CHECK_MSG(boundary_write(dir, 10.0, &summary, &err) == 0, "%s", err.msg);
    char *wide = NULL;
    CHECK(read_file(path, &wide, &length, &err) == 0);
    CHECK_MSG(wide && length > 600 && wide[length - 1] == '\n' && strstr(wide, "\n1,-1,1000000"),
              "boundary.csv of extreme theory values: %zu bytes", length);
    free(wide);
    write_folder(dir, identity, line);
    CHECK_MSG(boundary_write(dir, 10.0, &summary, &err) == 0, "%s", err.msg);

    /* a theory.csv of another grid: refused, named, and boundary.csv stays as it was */
    write_folder(dir, identity, other);
    err.msg[0] = '\0';
    CHECK(boundary_write(dir, 10.0, &summary, &err) == -1);
    CHECK_MSG(strstr(err.msg, "theory.csv: belongs to configuration") != NULL, "%s", err.msg);
    char *after = NULL;
    CHECK(read_file(path, &after, &length, &err) == 0);
    CHECK(text && after && strcmp(text, after) == 0);
    free(after);

    /* and without config.json nothing can be tied to a configuration */
    write_folder(dir, identity, line);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    err.msg[0] = '\0';
    CHECK(boundary_write(dir, 10.0, &summary, &err) == -1);
    CHECK_MSG(strstr(err.msg, "config.json is missing") != NULL, "%s", err.msg);

    free(text);
    const char *names[] = {"cells.csv", "theory.csv", "boundary.csv"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0);
    return check_summary("test_boundary");
}
