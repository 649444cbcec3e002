/* Tests of the command-line parser (src/cli/options.c): the number and range parsers (ends
 * of ranges reached despite rounding, exact zero, lists, bad input, limits), options_parse on
 * a table like a command's (shared options landing in their fields, choices, flags, unknown
 * options and missing values are usage errors, --help exits 0, operands), options_apply, and
 * the experiment that the options describe (defaults, model spec, training config). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bntrain/experiment.h"
#include "check.h"
#include "cli/cli.h"
#include "cli/options.h"

static void check_parse_double(void) {
    bn_error err;
    double v = 0.0;
    CHECK(parse_double("x", "2.5", &v, &err) == 0 && v == 2.5);
    CHECK(parse_double("x", "-1e-3", &v, &err) == 0 && v == -1e-3);
    const char *bad[] = {"", "abc", "1.5x", "nan", "inf", "-inf", "1e400", " "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7.0;
        CHECK_MSG(parse_double("lr", bad[i], &v, &err) == -1 && v == 7.0, "'%s'", bad[i]);
    }
    CHECK(strstr(err.msg, "--lr") != NULL);
}

static void check_parse_size(void) {
    bn_error err;
    size_t v = 0;
    CHECK(parse_size("n", "0", &v, &err) == 0 && v == 0);
    CHECK(parse_size("n", "123456", &v, &err) == 0 && v == 123456);
    const char *bad[] = {"", "-1", "1.5", "12a", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(parse_size("n", bad[i], &v, &err) == -1, "'%s'", bad[i]);
    CHECK(strstr(err.msg, "--n: '99999999999999999999999' is not a non-negative integer"));
}

static void check_range(const char *text, size_t n_expected, double first, double last) {
    bn_error err;
    double *v = NULL;
    size_t n = 0;
    int status = parse_range("r", text, &v, &n, &err);
    CHECK_MSG(status == 0, "'%s': %s", text, err.msg);
    if (status) return;
    CHECK_MSG(n == n_expected, "'%s': %zu values, expected %zu", text, n, n_expected);
    CHECK_MSG(v[0] == first && v[n - 1] == last, "'%s': %.17g .. %.17g", text, v[0], v[n - 1]);
    free(v);
}

static void check_parse_range(void) {
    /* The grid's defaults: 0.1:4.5:0.2 reaches 4.5 despite rounding; -3:0.5:0.125 gives 29
     * values, one of them exactly 0 (not -0, not 1e-16). */
    check_range("0.1:4.5:0.2", 23, 0.1, 4.5);
    check_range("-3:0.5:0.125", 29, -3.0, 0.5);
    bn_error err;
    double *v;
    size_t n;
    CHECK(parse_range("r", "-3:0.5:0.125", &v, &n, &err) == 0);
    CHECK(v[24] == 0.0 && !signbit(v[24]));
    CHECK(v[1] == -2.875 && v[12] == -1.5);
    free(v);
    CHECK(parse_range("r", "0.1:4.5:0.2", &v, &n, &err) == 0);
    CHECK(v[2] == 0.5 && v[10] == 2.1);
    free(v);
    check_range("1:1:0.5", 1, 1.0, 1.0);
    check_range("0:1:0.3", 4, 0.0, 0.9);
    check_range("1,2.5,-3", 3, 1.0, -3.0);
    check_range("7", 1, 7.0, 7.0);
    check_range("0:9999:1", 10000, 0.0, 9999.0);

    const char *bad[] = {"1:2:0", "2:1:0.5",   "a:2:0.5", "1:2", "1:2:3:4", "1,,2",    ",1", "1,",
                         "x",     "0:10000:1", "1:2:-1",  "",    "1:nan:1", "0:1:1e-9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = NULL;
        CHECK_MSG(parse_range("gamma", bad[i], &v, &n, &err) == -1 && v == NULL, "'%s'", bad[i]);
        CHECK_MSG(strncmp(err.msg, "--gamma", 7) == 0, "'%s': %s", bad[i], err.msg);
    }
    /* A value repeated, as given or once rounded (at 10 decimals for ranges, compared at 12
     * significant digits as the grid keys runs), is named. */
    const char *repeats[][2] = {{"1,1", "1"},
                                {"0.5,1,0.50", "0.5"},
                                {"-2,-1,-2.0000000000001", "-2"},
                                {"1:1.0000000002:0.00000000001", "1"}};
    for (size_t i = 0; i < sizeof repeats / sizeof repeats[0]; i++) {
        v = NULL;
        char expected[80];
        snprintf(expected, sizeof expected, "the value %s is repeated", repeats[i][1]);
        CHECK_MSG(parse_range("gamma", repeats[i][0], &v, &n, &err) == -1 && v == NULL &&
                      strstr(err.msg, expected) && strncmp(err.msg, "--gamma", 7) == 0,
                  "'%s': %s", repeats[i][0], err.msg);
    }
    check_range("1,1.00000000001", 2, 1.0, 1.00000000001);
    char many[30000] = "0";
    for (int i = 1; i <= 10000; i++)
        strcat(many, ",0");
    CHECK(parse_range("r", many, &v, &n, &err) == -1 && strstr(err.msg, "more than 10000"));
}

/* A command like train: the shared tables, a threads option, a choice and a flag. */
typedef struct {
    bn_experiment experiment;
    int verbose, json, log_scale;
    size_t threads;
    const char *out;
} test_args;

static const cli_option test_options[] = {
    OPTION_TITLE("first:"),
    OPTION_INCLUDE(options_model, offsetof(test_args, experiment)),
    OPTION_INCLUDE(options_verbose, offsetof(test_args, verbose)),
    OPTION_INCLUDE(options_training, offsetof(test_args, experiment)),
    OPTION_INCLUDE(options_point, offsetof(test_args, experiment)),
    OPTION_TITLE("second:"),
    OPTION_INCLUDE(options_threads, offsetof(test_args, threads)),
    OPTION_INCLUDE(options_color_scale, offsetof(test_args, log_scale)),
    OPTION_VALUE("out", "DIR", option_set_text, offsetof(test_args, out), "output folder"),
    OPTION_FLAG("json", option_set_flag, offsetof(test_args, json), "JSON lines\nsecond line"),
    OPTION_END,
};

static const cli_command test_command = {
    .name = "test",
    .about = "usage: test [options]\n\n",
    .options = test_options,
};

/* Parses the words of line (split at spaces) as a command line with stdout and stderr sent
 * to files; returns the parser's status and leaves what was printed in *out and *err_text. */
static int parse_line(const cli_command *command, test_args *a, const char *line,
                      int *first_operand, char *out, char *err_text, size_t capacity) {
    char copy[1024], *argv[64];
    int argc = 0;
    snprintf(copy, sizeof copy, "test %s", line);
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w && argc < 63; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    memset(a, 0, sizeof *a);
    experiment_defaults(&a->experiment);
    fflush(stdout);
    fflush(stderr);
    FILE *out_file = tmpfile(), *err_file = tmpfile();
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out_file), 1);
    dup2(fileno(err_file), 2);
    int status = options_parse(command, a, argc, argv, first_operand);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    FILE *files[2] = {out_file, err_file};
    char *texts[2] = {out, err_text};
    for (int i = 0; i < 2; i++) {
        rewind(files[i]);
        size_t n = fread(texts[i], 1, capacity - 1, files[i]);
        texts[i][n] = '\0';
        fclose(files[i]);
    }
    return status;
}

enum { TEXT = 8192 };
static char out[TEXT], err_text[TEXT];

static int parse(test_args *a, const char *line) {
    return parse_line(&test_command, a, line, NULL, out, err_text, TEXT);
}

static void check_shared_options(void) {
    test_args a;
    CHECK(parse(&a, "--dataset mnist-sample --arch cnn --no-bn --hidden 5,6,7 --kernel 4 "
                    "--stride 1 --padding 2 --sigma-w2 1.5 --sigma-b2 0 --momentum 0.5 "
                    "--loss ce --batch 32 --epochs 3 --seed 42 --train-subset 500 "
                    "--weight-decay 1e-4 --gamma -0.5 --lr 0.2 --threads 3 --color-scale log "
                    "--out dir --json --verbose --data-dir somewhere --augment on "
                    "--lr-schedule step:10,20") == -1);
    const bn_experiment *e = &a.experiment;
    CHECK(strcmp(e->dataset, "mnist-sample") == 0 && strcmp(e->data_dir, "somewhere") == 0);
    CHECK(e->arch == ARCH_CNN && e->batchnorm == 0 && e->loss == LOSS_CE);
    CHECK(e->n_hidden == 3 && e->hidden[0] == 5 && e->hidden[1] == 6 && e->hidden[2] == 7);
    CHECK(e->kernel == 4 && e->stride == 1 && e->padding == 2);
    CHECK(e->sigma_w2 == 1.5 && e->sigma_b2 == 0.0 && e->momentum == 0.5);
    CHECK(e->batch == 32 && e->epochs == 3 && e->seed == 42 && e->train_subset == 500);
    CHECK(e->weight_decay == 1e-4 && e->gamma == -0.5 && e->lr == 0.2);
    CHECK(e->augment == 1 && e->lr_schedule.kind == LR_STEP && e->lr_schedule.n_milestones == 2 &&
          e->lr_schedule.milestones[0] == 10 && e->lr_schedule.milestones[1] == 20);
    CHECK(a.threads == 3 && a.log_scale == 1 && strcmp(a.out, "dir") == 0 && a.json == 1 &&
          a.verbose == 1);
    CHECK(out[0] == '\0' && err_text[0] == '\0');

    /* A BN-ReLU fc net of depth 50 (issue 22: paper 004's gradients across depth) is accepted,
     * by the parser and by the network's check. */
    CHECK(parse(&a, "--dataset mnist-sample --hidden "
                    "10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,"
                    "10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10,7") ==
          -1);
    CHECK(a.experiment.n_hidden == 50 && a.experiment.hidden[49] == 7);
    bn_model_spec deep_spec;
    bn_error deep_err;
    CHECK(experiment_model_spec(&a.experiment, &deep_spec, &deep_err) == 0);
    CHECK(deep_spec.n_hidden == 50 && model_spec_check(&deep_spec, &deep_err) == 0);

    /* Nothing given: the paper's defaults, untouched fields. */
    CHECK(parse(&a, "") == -1);
    e = &a.experiment;
    CHECK(e->dataset == NULL && e->arch == ARCH_FC && e->batchnorm == 1 && e->batch == 128 &&
          e->epochs == 5 && e->seed == 1 && e->gamma == 1.0 && e->lr == 0.01 &&
          e->sigma_w2 == 2.0 && e->sigma_b2 == 0.5 && e->momentum == 0.9 && e->kernel == 3 &&
          e->stride == 2 && e->loss == LOSS_MSE && e->n_hidden == 0);
    CHECK(e->augment == -1 && e->lr_schedule.kind == LR_CONSTANT);
    CHECK(parse(&a, "--augment on --augment off --lr-schedule cosine") == -1 &&
          a.experiment.augment == 0 && a.experiment.lr_schedule.kind == LR_COSINE);
    CHECK(a.threads == 0 && a.log_scale == 0 && a.out == NULL && a.json == 0);
    CHECK(parse(&a, "--color-scale log --color-scale linear") == -1 && a.log_scale == 0);
    /* The deep networks by name: arch and depth together, width and initialisation. */
    CHECK(parse(&a, "--arch preact-resnet110 --width-mult 0.25 --init gaussian") == -1 &&
          a.experiment.arch == ARCH_PREACT_RESNET && a.experiment.depth == 110 &&
          a.experiment.width_mult == 0.25 && a.experiment.init == INIT_GAUSSIAN);
    CHECK(parse(&a, "--arch vgg16") == -1 && a.experiment.arch == ARCH_VGG16 &&
          a.experiment.depth == 16 && a.experiment.width_mult == 1.0 && a.experiment.init == -1);
    CHECK(parse(&a, "--arch preact-resnet18 --arch cnn") == -1 && a.experiment.arch == ARCH_CNN &&
          a.experiment.depth == 0);
    /* getopt_long's unique prefixes and --name=value work as before. */
    CHECK(parse(&a, "--epo=7 --dataset=cifar10") == -1 && a.experiment.epochs == 7 &&
          strcmp(a.experiment.dataset, "cifar10") == 0);
}

/* Each bad command line: usage error (2), one line on stderr naming the bad part. */
static void check_usage_errors(void) {
    const char *cases[][2] = {
        {"--bogus", "unknown option or missing value: '--bogus'"},
        {"--batch", "unknown option or missing value: '--batch'"},
        {"--dataset mnist --lr", "unknown option or missing value: '--lr'"},
        {"-x", "unknown option or missing value"},
        {"--json=1", "unknown option or missing value: '--json=1'"},
        {"extra", "unexpected argument 'extra'"},
        {"--dataset nope", "--dataset: unknown dataset 'nope'"},
        {"--arch rnn", "--arch: 'rnn' is not fc, cnn, vgg16, preact-resnet18 or preact-resnetN"},
        {"--arch preact-resnet19", "--arch: 'preact-resnet19' is not fc, cnn"},
        {"--arch preact-resnet1208", "--arch: 'preact-resnet1208' is not fc, cnn"},
        {"--arch preact-resnet020", "--arch: 'preact-resnet020' is not fc, cnn"},
        {"--arch vgg", "--arch: 'vgg' is not fc, cnn"},
        {"--width-mult 0", "--width-mult: must be positive, got '0'"},
        {"--init xavier", "--init: 'xavier' is not gaussian or pytorch"},
        {"--loss hinge", "--loss: 'hinge' is not mse or ce"},
        {"--color-scale rainbow", "--color-scale: 'rainbow' is not linear or log"},
        {"--threads 0", "--threads: '0' is not a positive integer"},
        {"--threads -1", "--threads: '-1' is not a positive integer"},
        {"--threads 100001", "--threads: '100001' is more than 100000"},
        {"--batch 0", "--batch: '0' is not a positive integer"},
        {"--epochs 2.5", "--epochs: '2.5' is not a positive integer"},
        {"--padding -1", "--padding: '-1' is not a non-negative integer"},
        {"--seed x", "--seed: 'x' is not a non-negative integer"},
        {"--lr 0", "--lr: must be positive, got '0'"},
        {"--lr abc", "--lr: 'abc' is not a number"},
        {"--gamma 1e400", "--gamma: '1e400' is not a number"},
        {"--sigma-b2 -1", "--sigma-b2: must not be negative, got '-1'"},
        {"--momentum 1", "--momentum: must be below 1, got '1'"},
        {"--hidden 10,0", "--hidden: '0' is not a layer size from 1 to 100000"},
        {"--hidden 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65", "--hidden: at most 64 layers"},
        {"--augment yes", "--augment: 'yes' is not off or on"},
        {"--augment", "unknown option or missing value: '--augment'"},
        {"--lr-schedule linear",
         "--lr-schedule: 'linear' is not constant, step:E1,E2,... or cosine"},
        {"--lr-schedule step:", "--lr-schedule: 'step:': milestones are whole epochs"},
        {"--lr-schedule step:20,10", "--lr-schedule: 'step:20,10': milestones must increase"},
        {"--lr-schedule step:0", "--lr-schedule: 'step:0': a milestone must be an epoch from 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_args a;
        int status = parse(&a, cases[i][0]);
        CHECK_MSG(status == EXIT_USAGE, "'%s': status %d", cases[i][0], status);
        CHECK_MSG(strncmp(err_text, "bntrain test: ", 14) == 0 &&
                      strstr(err_text, cases[i][1]) != NULL &&
                      strstr(err_text, "(see bntrain help test)\n") != NULL,
                  "'%s': %s", cases[i][0], err_text);
        CHECK_MSG(strchr(err_text, '\n') == err_text + strlen(err_text) - 1, "'%s': %s",
                  cases[i][0], err_text);
        CHECK(out[0] == '\0');
    }
}

static void check_help(void) {
    test_args a;
    CHECK(parse(&a, "--help") == 0);
    CHECK(err_text[0] == '\0');
    CHECK(strncmp(out, "usage: test [options]\n\nfirst:\n  --dataset NAME     mnist", 54) == 0);
    CHECK(strstr(out, "\n  --arch NAME        fc: 3 x 1000 units") != NULL);
    CHECK(strstr(out, "\n  --weight-decay WD  L2 weight decay (default 0)\n") != NULL);
    CHECK(strstr(out, "\n  --verbose          say more") != NULL);
    CHECK(strstr(out, "(default 0.01)\n\nsecond:\n  --threads N        cores to use") != NULL);
    CHECK(strstr(out, "\n  --color-scale linear|log  colour the mean test loss linearly or by its "
                      "log10\n                     (default linear)\n") != NULL);
    CHECK(strstr(out, "\n  --json             JSON lines\n                     second line\n"));
    CHECK(parse(&a, "--dataset cifar10 -h --bogus") == 0 && err_text[0] == '\0');
    CHECK(strncmp(out, "usage: test", 11) == 0);
    /* The help is printed by --help before any later error is seen, and not after one. */
    CHECK(parse(&a, "--bogus --help") == EXIT_USAGE && out[0] == '\0');
}

static void check_operands(void) {
    static const cli_command with_operands = {
        .name = "test", .about = "", .options = test_options, .takes_operands = 1};
    test_args a;
    int first = -1;
    CHECK(parse_line(&with_operands, &a, "one --json two", &first, out, err_text, TEXT) == -1);
    CHECK(a.json == 1 && first == 2);
    CHECK(parse_line(&with_operands, &a, "--json", &first, out, err_text, TEXT) == -1);
    CHECK(first == 2);
}

/* options_apply: bench's way to use the shared tables with a parser of its own. */
static void check_apply(void) {
    bn_experiment e;
    experiment_defaults(&e);
    bn_error err;
    CHECK(options_apply(options_model, &e, "arch", "cnn", &err) == 1 && e.arch == ARCH_CNN);
    CHECK(options_apply(options_model, &e, "data-dir", "d", &err) == 1 &&
          strcmp(e.data_dir, "d") == 0);
    CHECK(options_apply(options_model, &e, "batch", "64", &err) == 0 && e.batch == 128);
    CHECK(options_apply(options_training, &e, "batch", "64", &err) == 1 && e.batch == 64);
    CHECK(options_apply(options_training, &e, "batch", "0", &err) == -1 &&
          strstr(err.msg, "--batch: '0' is not a positive integer"));
    /* A refused --hidden changes nothing, and a size out of range is never converted: the
     * fuzzer found (size_t)-1.5, undefined behaviour, in "--hidden 11,-1.5". */
    const char *bad_hidden[] = {"500,-1.5", "7,1e300", "7,0.5"};
    for (size_t i = 0; i < sizeof bad_hidden / sizeof bad_hidden[0]; i++) {
        bn_experiment before;
        experiment_defaults(&e);
        before = e;
        CHECK(options_apply(options_model, &e, "hidden", bad_hidden[i], &err) == -1);
        CHECK_MSG(e.n_hidden == before.n_hidden &&
                      memcmp(e.hidden, before.hidden, sizeof e.hidden) == 0,
                  "--hidden %s changed the experiment", bad_hidden[i]);
    }
}

static void check_experiment(void) {
    bn_experiment e;
    experiment_defaults(&e);
    bn_error err;
    bn_model_spec spec;
    CHECK(experiment_model_spec(&e, &spec, &err) == -1);
    e.dataset = "mnist";
    CHECK_MSG(experiment_model_spec(&e, &spec, &err) == 0, "%s", err.msg);
    CHECK(spec.arch == ARCH_FC && spec.batchnorm && spec.n_hidden == 3 && spec.hidden[0] == 1000 &&
          spec.in_channels == 1 && spec.in_height == 28);
    e.dataset = "cifar10";
    e.arch = ARCH_CNN;
    e.n_hidden = 2;
    e.hidden[0] = 4;
    e.hidden[1] = 8;
    e.padding = 1;
    CHECK_MSG(experiment_model_spec(&e, &spec, &err) == 0, "%s", err.msg);
    CHECK(spec.n_hidden == 2 && spec.hidden[1] == 8 && spec.padding == 1 && spec.in_channels == 3);
    e.kernel = 40;
    CHECK(experiment_model_spec(&e, &spec, &err) == -1);

    bn_core_share cores = {.cores = 2};
    e.gamma = 0.25;
    e.lr = 0.5;
    e.weight_decay = 1e-3;
    e.seed = 9;
    bn_train_config cfg = experiment_train_config(&e, &cores);
    CHECK(cfg.loss == e.loss && cfg.gamma == 0.25 && cfg.lr == 0.5 && cfg.momentum == 0.9 &&
          cfg.weight_decay == 1e-3 && cfg.sigma_w2 == 2.0 && cfg.sigma_b2 == 0.5 &&
          cfg.batch == 128 && cfg.epochs == 5 && cfg.seed == 9 && cfg.cores == &cores &&
          cfg.evaluate_last_epoch_only == 0);
    /* Augmentation: off by default for the paper's networks, as asked otherwise. */
    CHECK(cfg.augment == 0 && cfg.lr_schedule.kind == LR_CONSTANT);
    CHECK(experiment_default_augment(ARCH_FC) == 0 && experiment_default_augment(ARCH_CNN) == 0);
    e.augment = 1;
    CHECK(experiment_augment(&e) == 1 && experiment_train_config(&e, NULL).augment == 1);
    e.augment = 0;
    CHECK(experiment_augment(&e) == 0);
    e.lr_schedule.kind = LR_COSINE;
    CHECK(experiment_train_config(&e, NULL).lr_schedule.kind == LR_COSINE);
}

int main(void) {
    check_parse_double();
    check_parse_size();
    check_parse_range();
    check_shared_options();
    check_usage_errors();
    check_help();
    check_operands();
    check_apply();
    check_experiment();
    return check_summary("test_options");
}
