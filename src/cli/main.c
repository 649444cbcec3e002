/* bntrain: dispatches on the first word to the subcommands in src/cli/cmd_*.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cpu.h"
#include "base/runtime.h"
#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train one network and print per-epoch losses"},
    {"grid", cmd_grid, "train a (gamma, eta) grid of networks: the phase diagram"},
    {"curves", cmd_curves, "learning curves of gammas x restarts, checkpointed (Fig. 4)"},
    {"theory", cmd_theory, "mean-field lambda_max bound and maximal learning rate eta_bar"},
    {"probe", cmd_probe, "per-layer statistics, gradients and Fisher factors of one network"},
    {"plot", cmd_plot, "re-render a grid's heatmap; draw probe folders"},
    {"figures", cmd_figures, "regenerate the paper's figures (--quick: in minutes)"},
};
static const size_t n_commands = sizeof commands / sizeof commands[0];

static void print_usage(FILE *out) {
    fprintf(out, "bntrain %s: phase diagrams of batch-normalised networks\n\n"
                 "usage: bntrain COMMAND [options]\n\ncommands:\n",
            BNTRAIN_VERSION);
    for (size_t i = 0; i < n_commands; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-8s %s\n", "help", "help CMD prints the options of CMD");
    fprintf(out, "\nbntrain --version prints the version.\n");
}

/* What a command prints to stdout (train's epochs, theory's table) is a result, often
 * redirected to a file: a write that failed (a full disk) fails the command, rather than leave
 * a short file behind an exit status of 0. */
static int check_stdout(const char *name, int status) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return status;
    fprintf(stderr, "bntrain %s: standard output: cannot write: %s\n", name,
            errno ? strerror(errno) : "write error");
    return status ? status : EXIT_RUNTIME;
}

static const command *find_command(const char *name) {
    for (size_t i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("bntrain %s\n", BNTRAIN_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            print_usage(stdout);
            return 0;
        }
        const command *cmd = find_command(argv[2]);
        if (!cmd) {
            fprintf(stderr, "bntrain: unknown command '%s' (see bntrain --help)\n", argv[2]);
            return EXIT_USAGE;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        return cmd->run(2, help_argv);
    }
    const command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "bntrain: unknown command '%s' (see bntrain --help)\n", name);
        return EXIT_USAGE;
    }
    /* $BNTRAIN_ISA, read once before anything runs: the level holds for the whole process
     * (cpu.h). A value bntrain cannot honour is refused, never quietly lowered. */
    bn_error err;
    if (cpu_isa_from_env(&err)) {
        fprintf(stderr, "bntrain %s: %s\n", name, err.msg);
        return EXIT_USAGE;
    }
    return check_stdout(name, cmd->run(argc - 1, argv + 1));
}
