/* The option parser every command uses (a getopt_long loop over the command's table, with
 * its included tables), the help it prints, the options several commands share with their
 * checks and messages, and the number parsers. */
#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "cli/cli.h"

/* ---- the parser ---------------------------------------------------------------------- */

/* Options of one command, at most; getopt_long codes of the table's options start above
 * every character, so they never clash with '?', ':' or 'h'. */
enum { MAX_OPTIONS = 96, FIRST_OPTION_CODE = 256 };

/* The command's table flattened for getopt_long: each option with the field it sets (NULL:
 * accepted, without effect). */
typedef struct {
    struct option getopt[MAX_OPTIONS + 2];
    const cli_option *option[MAX_OPTIONS];
    void *field[MAX_OPTIONS];
    size_t n;
} option_index;

static int index_options(option_index *ix, const cli_option *table, char *target) {
    for (const cli_option *o = table; o->kind != OPTION_KIND_END; o++) {
        if (o->kind == OPTION_KIND_INCLUDE || o->kind == OPTION_KIND_IGNORE) {
            char *base = o->kind == OPTION_KIND_INCLUDE && target ? target + o->offset : NULL;
            if (index_options(ix, o->include, base)) return -1;
            continue;
        }
        if (o->kind == OPTION_KIND_TITLE) continue;
        if (ix->n == MAX_OPTIONS) return -1;
        ix->getopt[ix->n] =
            (struct option){o->name, o->kind == OPTION_KIND_FLAG ? no_argument : required_argument,
                            NULL, FIRST_OPTION_CODE + (int)ix->n};
        ix->option[ix->n] = o;
        ix->field[ix->n] = target ? target + o->offset : NULL;
        ix->n++;
    }
    return 0;
}

/* Writes the index of arg among the option's choices; the field is an int or an enum whose
 * values are those indices (an enum's type is compatible with int or unsigned int). */
static int set_choice(const cli_option *o, void *field, const char *arg, bn_error *err) {
    char names[200] = "";
    size_t used = 0;
    for (size_t i = 0; o->choices[i]; i++) {
        if (strcmp(arg, o->choices[i]) == 0) {
            *(int *)field = (int)i;
            return 0;
        }
        const char *separator = i == 0 ? "" : o->choices[i + 1] ? ", " : " or ";
        used +=
            (size_t)snprintf(names + used, sizeof names - used, "%s%s", separator, o->choices[i]);
        if (used >= sizeof names) used = sizeof names - 1;
    }
    return bn_fail(err, "--%s: '%s' is not %s", o->name, arg, names);
}

static int apply_option(const cli_option *o, void *field, const char *arg, bn_error *err) {
    if (!field) return 0;
    if (o->kind == OPTION_KIND_CHOICE) return set_choice(o, field, arg, err);
    return o->set(field, o->name, arg, err);
}

int options_parse(const cli_command *command, void *target, int argc, char **argv,
                  int *first_operand) {
    option_index ix = {.n = 0};
    if (index_options(&ix, command->options, target)) {
        fprintf(stderr, "bntrain %s: more than %d options\n", command->name, MAX_OPTIONS);
        return EXIT_RUNTIME;
    }
    ix.getopt[ix.n] = (struct option){"help", no_argument, NULL, 'h'};
    ix.getopt[ix.n + 1] = (struct option){NULL, 0, NULL, 0};
    /* optind 0, not 1: glibc then also resets its position within a group of short options,
     * which a previous parse (tests parse many command lines) may have left behind. */
    optind = 0;
    opterr = 0;
    int code;
    while ((code = getopt_long(argc, argv, "h", ix.getopt, NULL)) != -1) {
        if (code == 'h') {
            options_print_help(command, stdout);
            return 0;
        }
        if (code < FIRST_OPTION_CODE)
            return usage_error(command->name, "unknown option or missing value: '%s'",
                               argv[optind - 1]);
        size_t i = (size_t)(code - FIRST_OPTION_CODE);
        bn_error err;
        if (apply_option(ix.option[i], ix.field[i], optarg, &err))
            return usage_error(command->name, "%s", err.msg);
    }
    if (!command->takes_operands && optind < argc)
        return usage_error(command->name, "unexpected argument '%s'", argv[optind]);
    if (first_operand) *first_operand = optind;
    return -1;
}

int options_apply(const cli_option *table, void *target, const char *name, const char *arg,
                  bn_error *err) {
    option_index ix = {.n = 0};
    if (index_options(&ix, table, target)) return bn_fail(err, "more than %d options", MAX_OPTIONS);
    for (size_t i = 0; i < ix.n; i++)
        if (strcmp(ix.option[i]->name, name) == 0)
            return apply_option(ix.option[i], ix.field[i], arg, err) ? -1 : 1;
    return 0;
}

/* Help lines: the option in a column of 21 characters (wider options push their text two
 * spaces to the right), further lines of the text indented to the column. */
enum { HELP_COLUMN = 21 };

static void print_option_help(FILE *out, const cli_option *o) {
    char head[120];
    int n = snprintf(head, sizeof head, "  --%s", o->name);
    if (o->kind != OPTION_KIND_FLAG)
        n += snprintf(head + n, sizeof head - (size_t)n, " %s", o->value_name);
    fprintf(out, "%-*s", n + 2 > HELP_COLUMN ? n + 2 : HELP_COLUMN, head);
    for (const char *line = o->help;;) {
        size_t length = strcspn(line, "\n");
        fprintf(out, "%.*s\n", (int)length, line);
        if (!line[length]) break;
        line += length + 1;
        fprintf(out, "%*s", HELP_COLUMN, "");
    }
}

static void print_table_help(FILE *out, const cli_option *table, int *titles) {
    for (const cli_option *o = table; o->kind != OPTION_KIND_END; o++) {
        if (o->kind == OPTION_KIND_TITLE)
            fprintf(out, "%s%s\n", (*titles)++ ? "\n" : "", o->help);
        else if (o->kind == OPTION_KIND_INCLUDE || o->kind == OPTION_KIND_IGNORE)
            print_table_help(out, o->include, titles);
        else
            print_option_help(out, o);
    }
}

void options_print_help(const cli_command *command, FILE *out) {
    fputs(command->about, out);
    int titles = 0;
    print_table_help(out, command->options, &titles);
}

/* ---- numbers ------------------------------------------------------------------------- */

int parse_double(const char *option, const char *text, double *out, bn_error *err) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v))
        return bn_fail(err, "--%s: '%s' is not a number", option, text);
    *out = v;
    return 0;
}

int parse_size(const char *option, const char *text, size_t *out, bn_error *err) {
    char *end;
    errno = 0;
    if (text[0] == '-' || text[0] == '\0')
        return bn_fail(err, "--%s: '%s' is not a non-negative integer", option, text);
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0' || errno == ERANGE || v > (unsigned long long)SIZE_MAX / 2)
        return bn_fail(err, "--%s: '%s' is not a non-negative integer", option, text);
    *out = (size_t)v;
    return 0;
}

enum { MAX_RANGE_VALUES = 10000 };

static int parse_list(const char *option, const char *text, double **values, size_t *n,
                      bn_error *err) {
    size_t count = 1;
    for (const char *c = text; *c; c++)
        count += *c == ',';
    if (count > MAX_RANGE_VALUES)
        return bn_fail(err, "--%s: more than %d values", option, MAX_RANGE_VALUES);
    char *copy = strdup(text);
    double *v = malloc(count * sizeof *v);
    if (!copy || !v) {
        free(copy);
        free(v);
        return bn_fail(err, "out of memory");
    }
    size_t i = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (i < count && parse_double(option, tok, &v[i++], err)) goto fail;
    if (i != count) {
        bn_fail(err, "--%s: empty value in list '%s'", option, text);
        goto fail;
    }
    free(copy);
    *values = v;
    *n = count;
    return 0;
fail:
    free(copy);
    free(v);
    return -1;
}

static int parse_start_stop_step(const char *option, const char *text, double **values, size_t *n,
                                 bn_error *err) {
    char buf[3][64];
    const char *p = text;
    for (int part = 0; part < 3; part++) {
        const char *end = part < 2 ? strchr(p, ':') : p + strlen(p);
        if (!end || (size_t)(end - p) >= sizeof buf[part] || (part == 2 && strchr(p, ':')))
            return bn_fail(err, "--%s: '%s' is not start:stop:step or a comma list", option, text);
        memcpy(buf[part], p, (size_t)(end - p));
        buf[part][end - p] = '\0';
        p = end + 1;
    }
    double start = 0.0, stop = 0.0, step = 0.0;
    if (parse_double(option, buf[0], &start, err) || parse_double(option, buf[1], &stop, err) ||
        parse_double(option, buf[2], &step, err))
        return -1;
    if (step <= 0.0) return bn_fail(err, "--%s: step must be positive in '%s'", option, text);
    if (start > stop) return bn_fail(err, "--%s: start > stop in '%s'", option, text);
    /* Tolerance of a millionth of a step, so that 0.1:4.5:0.2 includes 4.5 despite rounding. */
    double span = (stop - start) / step;
    if (span + 1.0 > MAX_RANGE_VALUES)
        return bn_fail(err, "--%s: '%s' gives more than %d values", option, text, MAX_RANGE_VALUES);
    size_t count = (size_t)floor(span + 1e-6) + 1;
    double *v = malloc(count * sizeof *v);
    if (!v) return bn_fail(err, "out of memory");
    for (size_t i = 0; i < count; i++) {
        /* Rounded to 10 decimals so that 0.1 + 2 * 0.2 is 0.5 and -3 + 24 * 0.125 is 0, and
         * the values print and compare cleanly; + 0.0 turns -0 into 0. */
        double x = start + (double)i * step;
        char rounded[64];
        snprintf(rounded, sizeof rounded, "%.10f", x);
        v[i] = strtod(rounded, NULL) + 0.0;
    }
    *values = v;
    *n = count;
    return 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A value given twice would be two grid points with one key (values are told apart as
 * printed, at 12 significant digits): refused, naming it. Values that print alike are
 * neighbours once sorted, since rounding is monotonic. */
static int refuse_repeats(const char *option, const char *text, const double *values, size_t n,
                          bn_error *err) {
    double *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return bn_fail(err, "out of memory");
    memcpy(sorted, values, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_doubles);
    char a[40], b[40] = "";
    int status = 0;
    for (size_t i = 0; i < n && status == 0; i++) {
        snprintf(a, sizeof a, "%.12g", sorted[i]);
        if (i > 0 && strcmp(a, b) == 0)
            status = bn_fail(err, "--%s: the value %s is repeated in '%s'", option, a, text);
        memcpy(b, a, sizeof b);
    }
    free(sorted);
    return status;
}

int parse_range(const char *option, const char *text, double **values, size_t *n, bn_error *err) {
    int status = strchr(text, ':') ? parse_start_stop_step(option, text, values, n, err)
                                   : parse_list(option, text, values, n, err);
    if (status == 0 && refuse_repeats(option, text, *values, *n, err)) {
        free(*values);
        *values = NULL;
        *n = 0;
        return -1;
    }
    return status;
}

/* ---- setters ------------------------------------------------------------------------- */

int option_set_flag(void *field, const char *name, const char *arg, bn_error *err) {
    *(int *)field = 1;
    return 0;
}

static int clear_flag(void *field, const char *name, const char *arg, bn_error *err) {
    *(int *)field = 0;
    return 0;
}

int option_set_text(void *field, const char *name, const char *arg, bn_error *err) {
    *(const char **)field = arg;
    return 0;
}

int option_set_count(void *field, const char *name, const char *arg, bn_error *err) {
    size_t *count = field;
    bn_error ignored;
    if (parse_size(name, arg, count, &ignored) || *count == 0)
        return bn_fail(err, "--%s: '%s' is not a positive integer", name, arg);
    return 0;
}

int option_set_seed(void *field, const char *name, const char *arg, bn_error *err) {
    size_t seed = 0;
    if (parse_size(name, arg, &seed, err)) return -1;
    *(uint64_t *)field = seed;
    return 0;
}

static int set_size(void *field, const char *name, const char *arg, bn_error *err) {
    return parse_size(name, arg, field, err);
}

static int set_double(void *field, const char *name, const char *arg, bn_error *err) {
    return parse_double(name, arg, field, err);
}

static int set_positive_double(void *field, const char *name, const char *arg, bn_error *err) {
    if (parse_double(name, arg, field, err)) return -1;
    if (*(double *)field <= 0.0) return bn_fail(err, "--%s: must be positive, got '%s'", name, arg);
    return 0;
}

static int set_nonnegative_double(void *field, const char *name, const char *arg, bn_error *err) {
    if (parse_double(name, arg, field, err)) return -1;
    if (*(double *)field < 0.0)
        return bn_fail(err, "--%s: must not be negative, got '%s'", name, arg);
    return 0;
}

static int set_momentum(void *field, const char *name, const char *arg, bn_error *err) {
    if (set_nonnegative_double(field, name, arg, err)) return -1;
    if (*(double *)field >= 1.0) return bn_fail(err, "--%s: must be below 1, got '%s'", name, arg);
    return 0;
}

static int set_dataset(void *field, const char *name, const char *arg, bn_error *err) {
    if (!dataset_name_known(arg))
        return bn_fail(err,
                       "--%s: unknown dataset '%s' (mnist, fashion-mnist, cifar10, "
                       "mnist-sample)",
                       name, arg);
    *(const char **)field = arg;
    return 0;
}

/* field: the bn_experiment, whose n_hidden and hidden[] it sets together. */
static int set_hidden(void *field, const char *name, const char *arg, bn_error *err) {
    bn_experiment *e = field;
    double *values;
    size_t n;
    if (parse_list(name, arg, &values, &n, err)) return -1;
    int status = 0;
    if (n > BN_MAX_HIDDEN) status = bn_fail(err, "--%s: at most %d layers", name, BN_MAX_HIDDEN);
    for (size_t i = 0; i < n && !status; i++)
        if (values[i] < 1 || values[i] > 100000 || values[i] != floor(values[i]))
            status =
                bn_fail(err, "--%s: '%g' is not a layer size from 1 to 100000", name, values[i]);
    /* Only checked sizes are converted: (size_t) of a negative or huge double is undefined. */
    for (size_t i = 0; i < n && !status; i++)
        e->hidden[i] = (size_t)values[i];
    if (!status) e->n_hidden = n;
    free(values);
    return status;
}

/* field: the bn_experiment, whose arch and depth it sets together. */
static int set_arch(void *field, const char *name, const char *arg, bn_error *err) {
    bn_experiment *e = field;
    if (arch_from_name(arg, &e->arch, &e->depth))
        return bn_fail(err,
                       "--%s: '%s' is not fc, cnn, vgg16, preact-resnet18 or preact-resnetN "
                       "(N = 6n + 2 up to 1202: 20, 56, 110)",
                       name, arg);
    return 0;
}

static int set_lr_schedule(void *field, const char *name, const char *arg, bn_error *err) {
    bn_error why;
    if (lr_schedule_parse(arg, field, &why)) return bn_fail(err, "--%s: %s", name, why.msg);
    return 0;
}

/* Thread counts become OpenMP team sizes (int): bounded well below INT_MAX. */
enum { MAX_THREADS = 100000 };

static int set_threads(void *field, const char *name, const char *arg, bn_error *err) {
    if (option_set_count(field, name, arg, err)) return -1;
    if (*(size_t *)field > MAX_THREADS)
        return bn_fail(err, "--%s: '%s' is more than %d", name, arg, MAX_THREADS);
    return 0;
}

/* ---- the shared tables ----------------------------------------------------------------- */

#define EXPERIMENT(field) offsetof(bn_experiment, field)

/* Choices, in the order of their enum's values. */
static const char *const init_names[] = {"gaussian", "pytorch", NULL};
_Static_assert(INIT_GAUSSIAN == 0 && INIT_PYTORCH == 1, "init_names follows bn_init");
static const char *const loss_names[] = {"mse", "ce", NULL};
_Static_assert(LOSS_MSE == 0 && LOSS_CE == 1, "loss_names follows bn_loss");
static const char *const color_scale_names[] = {"linear", "log", NULL}; /* 1: log scale */
static const char *const off_on_names[] = {"off", "on", NULL};               /* 1: on */

const cli_option options_data_dir[] = {
    OPTION_VALUE("data-dir", "DIR", option_set_text, 0,
                 "data root (default: $BNTRAIN_DATA, else data/)"),
    OPTION_END,
};

const cli_option options_model[] = {
    OPTION_VALUE("dataset", "NAME", set_dataset, EXPERIMENT(dataset),
                 "mnist, fashion-mnist, cifar10 or mnist-sample (bundled)"),
    OPTION_INCLUDE(options_data_dir, EXPERIMENT(data_dir)),
    OPTION_VALUE("arch", "NAME", set_arch, 0,
                 "fc: 3 x 1000 units; cnn: 30, 60, 90 channels (default fc);\n"
                 "vgg16, preact-resnet18, preact-resnetN (N = 6n + 2): Fig. 4's"),
    OPTION_VALUE("width-mult", "F", set_positive_double, EXPERIMENT(width_mult),
                 "vgg16, preact-resnet: every channel count times F (default 1)"),
    OPTION_CHOICE("init", "KIND", init_names, EXPERIMENT(init),
                  "gaussian: N(0, sigma_w2/fan_in); pytorch: U(+-1/sqrt(fan_in))\n"
                  "(default gaussian for fc and cnn, pytorch for the deep nets)"),
    OPTION_FLAG("no-bn", clear_flag, EXPERIMENT(batchnorm), "vanilla network: no BatchNorm"),
    OPTION_VALUE("hidden", "LIST", set_hidden, 0,
                 "widths (fc) or channels (cnn) of the hidden layers, e.g. 500,500"),
    OPTION_VALUE("kernel", "K", option_set_count, EXPERIMENT(kernel),
                 "conv kernel size (default 3)"),
    OPTION_VALUE("stride", "S", option_set_count, EXPERIMENT(stride), "conv stride (default 2)"),
    OPTION_VALUE("padding", "P", set_size, EXPERIMENT(padding), "conv zero padding (default 0)"),
    OPTION_VALUE("sigma-w2", "V", set_positive_double, EXPERIMENT(sigma_w2),
                 "weight variance times fan-in at init (default 2)"),
    OPTION_VALUE("sigma-b2", "V", set_nonnegative_double, EXPERIMENT(sigma_b2),
                 "bias variance at init (default 0.5)"),
    OPTION_VALUE("momentum", "MU", set_momentum, EXPERIMENT(momentum),
                 "SGD momentum (default 0.9)"),
    OPTION_END,
};

const cli_option options_training[] = {
    OPTION_CHOICE("loss", "mse|ce", loss_names, EXPERIMENT(loss),
                  "Gaussian loss 1/2||f(x)-onehot(y)||^2 or cross-entropy (default mse)"),
    OPTION_VALUE("batch", "B", option_set_count, EXPERIMENT(batch),
                 "mini-batch size (default 128; the last partial batch is dropped)"),
    OPTION_VALUE("epochs", "E", option_set_count, EXPERIMENT(epochs), "epochs (default 5)"),
    OPTION_VALUE("seed", "S", option_set_seed, EXPERIMENT(seed),
                 "seed of initial weights and batch order (default 1)"),
    OPTION_VALUE("train-subset", "N", option_set_count, EXPERIMENT(train_subset),
                 "train on the first N training images only (default: all)"),
    OPTION_VALUE("weight-decay", "WD", set_nonnegative_double, EXPERIMENT(weight_decay),
                 "L2 weight decay (default 0)"),
    OPTION_CHOICE("augment", "on|off", off_on_names, EXPERIMENT(augment),
                  "random crop (4-pixel padding) and horizontal flip of the\n"
                  "training images (default off for fc and cnn)"),
    OPTION_VALUE("lr-schedule", "S", set_lr_schedule, EXPERIMENT(lr_schedule),
                 "constant, step:E1,E2,... (lr x 0.1 after each epoch Ei)\n"
                 "or cosine over the epochs (default constant)"),
    OPTION_END,
};

const cli_option options_lr[] = {
    OPTION_VALUE("lr", "ETA", set_positive_double, EXPERIMENT(lr), "learning rate (default 0.01)"),
    OPTION_END,
};

const cli_option options_point[] = {
    OPTION_VALUE("gamma", "G", set_double, EXPERIMENT(gamma),
                 "BatchNorm scale at init (default 1)"),
    OPTION_INCLUDE(options_lr, 0),
    OPTION_END,
};

const cli_option options_verbose[] = {
    OPTION_FLAG("verbose", option_set_flag, 0,
                "say more (BLAS kernel, threads, timings) on stderr"),
    OPTION_END,
};

const cli_option options_threads[] = {
    OPTION_VALUE("threads", "N", set_threads, 0,
                 "cores to use (default: all; same results with any)"),
    OPTION_END,
};

const cli_option options_color_scale[] = {
    OPTION_CHOICE("color-scale", "linear|log", color_scale_names, 0,
                  "colour the mean test loss linearly or by its log10\n(default linear)"),
    OPTION_END,
};
