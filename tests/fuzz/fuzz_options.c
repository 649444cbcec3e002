/* Fuzz target of the option parser (src/cli/options.c) over every command's option table: the
 * input is a command line, one argument per line, the first naming the command (train, grid,
 * theory, plot, figures). options_parse reads it as the command would, into a struct of the
 * command's own size; then every argument goes through parse_range, as grid and theory read
 * their --gamma and --log10-lr. Nothing runs. Checked: a usage error is one line on stderr
 * that names the command, help goes to stdout only, a parse that goes on says nothing and
 * leaves only operands (for commands that take them); a parsed range has 1..10000 finite
 * values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "fuzz_common.h"

enum { MAX_ARGS = 256 };

static FILE *null_out;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    null_out = fopen("/dev/null", "w");
    FUZZ_CHECK(null_out != NULL);
    return 0;
}

static const cli_command *find_command(const char *name) {
    const cli_command *const commands[] = {&train_command, &grid_command, &curves_command,
                                           &theory_command, &plot_command, &figures_command,
                                           &probe_command};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

/* Splits text at its newlines into argv (text is modified); returns argc. */
static int split_args(char *text, char **argv) {
    int argc = 0;
    for (char *arg = text; argc < MAX_ARGS; argc++) {
        argv[argc] = arg;
        char *newline = strchr(arg, '\n');
        if (!newline) return argc + 1;
        *newline = '\0';
        arg = newline + 1;
    }
    return argc;
}

/* options_parse with glibc's stdout and stderr swapped out (they are variables in glibc):
 * help goes to /dev/null, usage errors to *errors. libFuzzer and the sanitizers keep the real
 * stderr, which they hold by file descriptor or by a FILE * taken at start. */
static int parse(const cli_command *command, void *target, int argc, char **argv, int *first,
                 char **errors, size_t *errors_bytes) {
    FILE *real_stdout = stdout, *real_stderr = stderr;
    FILE *captured = open_memstream(errors, errors_bytes);
    FUZZ_CHECK(captured != NULL);
    stdout = null_out;
    stderr = captured;
    int status = options_parse(command, target, argc, argv, first);
    stdout = real_stdout;
    stderr = real_stderr;
    FUZZ_CHECK(fclose(captured) == 0);
    return status;
}

static void check_parse(const cli_command *command, int argc, char **argv) {
    void *target = calloc(1, command->target_bytes);
    FUZZ_CHECK(target != NULL);
    char *errors = NULL;
    size_t errors_bytes = 0;
    int first = -1;
    int status = parse(command, target, argc, argv, &first, &errors, &errors_bytes);
    FUZZ_CHECK(status == -1 || status == 0 || status == EXIT_USAGE);
    if (status == EXIT_USAGE) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "bntrain %s: ", command->name);
        FUZZ_CHECK(strncmp(errors, prefix, strlen(prefix)) == 0);
        FUZZ_CHECK(errors_bytes > 0 && strchr(errors, '\n') == errors + errors_bytes - 1);
    } else {
        FUZZ_CHECK(errors_bytes == 0);
    }
    if (status == -1) {
        FUZZ_CHECK(first >= 1 && first <= argc);
        if (!command->takes_operands) FUZZ_CHECK(first == argc);
    }
    free(errors);
    free(target);
}

static void check_range(const char *text) {
    double *values = NULL;
    size_t n = 0;
    bn_error err;
    if (parse_range("gamma", text, &values, &n, &err) != 0) {
        FUZZ_CHECK(values == NULL && n == 0);
        fuzz_check_message(&err, "--gamma");
        return;
    }
    FUZZ_CHECK(values != NULL && n >= 1 && n <= 10000);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(isfinite(values[i]));
    free(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    char *argv[MAX_ARGS + 1];
    int argc = split_args(text, argv);
    argv[argc] = NULL;
    const cli_command *command = find_command(argv[0]);
    if (command) {
        for (int i = 1; i < argc; i++)
            check_range(argv[i]);
        check_parse(command, argc, argv);
    }
    free(text);
    return 0;
}
