/* The options every network-describing command shares, with one set of names and checks. */
#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/data.h"

void options_defaults(bn_options *o) {
    memset(o, 0, sizeof *o);
    o->arch = ARCH_FC;
    o->batchnorm = 1;
    o->kernel = 3;
    o->stride = 2;
    o->padding = 0;
    o->sigma_w2 = 2.0;
    o->sigma_b2 = 0.5;
    o->momentum = 0.9;
    o->loss = LOSS_MSE;
    o->batch = 128;
    o->epochs = 5;
    o->seed = 1;
    o->gamma = 1.0;
    o->lr = 0.01;
}

const struct option options_model[] = {
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"no-bn", no_argument, NULL, OPT_NO_BN},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"stride", required_argument, NULL, OPT_STRIDE},
    {"padding", required_argument, NULL, OPT_PADDING},
    {"sigma-w2", required_argument, NULL, OPT_SIGMA_W2},
    {"sigma-b2", required_argument, NULL, OPT_SIGMA_B2},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {NULL, 0, NULL, 0},
};

const struct option options_training[] = {
    {"loss", required_argument, NULL, OPT_LOSS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"train-subset", required_argument, NULL, OPT_TRAIN_SUBSET},
    {"weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY},
    {NULL, 0, NULL, 0},
};

const struct option options_point[] = {
    {"gamma", required_argument, NULL, OPT_GAMMA},
    {"lr", required_argument, NULL, OPT_LR},
    {NULL, 0, NULL, 0},
};

const char options_model_help[] =
    "  --dataset NAME     mnist, fashion-mnist, cifar10 or mnist-sample (bundled)\n"
    "  --data-dir DIR     data root (default: $BNTRAIN_DATA, else data/)\n"
    "  --arch fc|cnn      fc: 3 x 1000 units; cnn: 30, 60, 90 channels (default fc)\n"
    "  --no-bn            vanilla network: no BatchNorm\n"
    "  --hidden LIST      widths (fc) or channels (cnn) of the hidden layers, e.g. 500,500\n"
    "  --kernel K         conv kernel size (default 3)\n"
    "  --stride S         conv stride (default 2)\n"
    "  --padding P        conv zero padding (default 0)\n"
    "  --sigma-w2 V       weight variance times fan-in at init (default 2)\n"
    "  --sigma-b2 V       bias variance at init (default 0.5)\n"
    "  --momentum MU      SGD momentum (default 0.9)\n"
    "  --verbose          say more (BLAS kernel, threads, timings) on stderr\n";

const char options_training_help[] =
    "  --loss mse|ce      Gaussian loss 1/2||f(x)-onehot(y)||^2 or cross-entropy (default mse)\n"
    "  --batch B          mini-batch size (default 128; the last partial batch is dropped)\n"
    "  --epochs E         epochs (default 5)\n"
    "  --seed S           seed of initial weights and batch order (default 1)\n"
    "  --train-subset N   train on the first N training images only (default: all)\n"
    "  --weight-decay WD  L2 weight decay (default 0)\n";

int options_merge(struct option *out, size_t capacity, const struct option *a,
                  const struct option *b, const struct option *c) {
    size_t n = 0;
    const struct option *lists[3] = {a, b, c};
    for (size_t l = 0; l < 3; l++)
        for (const struct option *o = lists[l]; o && o->name; o++) {
            if (n + 1 >= capacity) return -1;
            out[n++] = *o;
        }
    memset(&out[n], 0, sizeof out[n]);
    return 0;
}

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

static int parse_positive(const char *option, const char *text, size_t *out, bn_error *err) {
    if (parse_size(option, text, out, err)) return -1;
    if (*out == 0) return bn_fail(err, "--%s: must be positive", option);
    return 0;
}

enum { MAX_RANGE_VALUES = 10000 };

static int parse_list(const char *option, const char *text, double **values, size_t *n,
                      bn_error *err) {
    size_t count = 1;
    for (const char *c = text; *c; c++) count += *c == ',';
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

static int parse_start_stop_step(const char *option, const char *text, double **values,
                                 size_t *n, bn_error *err) {
    char buf[3][64];
    const char *p = text;
    for (int part = 0; part < 3; part++) {
        const char *end = part < 2 ? strchr(p, ':') : p + strlen(p);
        if (!end || (size_t)(end - p) >= sizeof buf[part] || (part == 2 && strchr(p, ':')))
            return bn_fail(err, "--%s: '%s' is not start:stop:step or a comma list", option,
                           text);
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
        return bn_fail(err, "--%s: '%s' gives more than %d values", option, text,
                       MAX_RANGE_VALUES);
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

int parse_range(const char *option, const char *text, double **values, size_t *n,
                bn_error *err) {
    if (strchr(text, ':')) return parse_start_stop_step(option, text, values, n, err);
    return parse_list(option, text, values, n, err);
}

static int parse_hidden(bn_options *o, const char *arg, bn_error *err) {
    double *values;
    size_t n;
    if (parse_list("hidden", arg, &values, &n, err)) return -1;
    int status = 0;
    if (n > BN_MAX_HIDDEN) status = bn_fail(err, "--hidden: at most %d layers", BN_MAX_HIDDEN);
    for (size_t i = 0; i < n && !status; i++) {
        if (values[i] < 1 || values[i] > 100000 || values[i] != floor(values[i]))
            status = bn_fail(err, "--hidden: '%g' is not a layer size from 1 to 100000",
                             values[i]);
        o->hidden[i] = (size_t)values[i];
    }
    o->n_hidden = status ? 0 : n;
    free(values);
    return status;
}

static int parse_positive_double(const char *option, const char *text, double *out,
                                 bn_error *err) {
    if (parse_double(option, text, out, err)) return -1;
    if (*out <= 0.0) return bn_fail(err, "--%s: must be positive, got '%s'", option, text);
    return 0;
}

static int parse_nonnegative_double(const char *option, const char *text, double *out,
                                    bn_error *err) {
    if (parse_double(option, text, out, err)) return -1;
    if (*out < 0.0) return bn_fail(err, "--%s: must not be negative, got '%s'", option, text);
    return 0;
}

static int apply_model_option(bn_options *o, int code, const char *arg, bn_error *err) {
    switch (code) {
    case OPT_DATASET:
        if (!dataset_name_known(arg))
            return bn_fail(err, "--dataset: unknown dataset '%s' (mnist, fashion-mnist, "
                                "cifar10, mnist-sample)", arg);
        o->dataset = arg;
        return 1;
    case OPT_DATA_DIR: o->data_dir = arg; return 1;
    case OPT_ARCH:
        if (strcmp(arg, "fc") == 0) o->arch = ARCH_FC;
        else if (strcmp(arg, "cnn") == 0) o->arch = ARCH_CNN;
        else return bn_fail(err, "--arch: unknown architecture '%s' (fc or cnn)", arg);
        return 1;
    case OPT_NO_BN: o->batchnorm = 0; return 1;
    case OPT_HIDDEN: return parse_hidden(o, arg, err) ? -1 : 1;
    case OPT_KERNEL: return parse_positive("kernel", arg, &o->kernel, err) ? -1 : 1;
    case OPT_STRIDE: return parse_positive("stride", arg, &o->stride, err) ? -1 : 1;
    case OPT_PADDING: return parse_size("padding", arg, &o->padding, err) ? -1 : 1;
    case OPT_SIGMA_W2: return parse_positive_double("sigma-w2", arg, &o->sigma_w2, err) ? -1 : 1;
    case OPT_SIGMA_B2:
        return parse_nonnegative_double("sigma-b2", arg, &o->sigma_b2, err) ? -1 : 1;
    case OPT_MOMENTUM:
        if (parse_nonnegative_double("momentum", arg, &o->momentum, err)) return -1;
        if (o->momentum >= 1.0) return bn_fail(err, "--momentum: must be below 1, got '%s'", arg);
        return 1;
    case OPT_VERBOSE: o->verbose = 1; return 1;
    default: return 0;
    }
}

static int apply_training_option(bn_options *o, int code, const char *arg, bn_error *err) {
    switch (code) {
    case OPT_LOSS:
        if (strcmp(arg, "mse") == 0) o->loss = LOSS_MSE;
        else if (strcmp(arg, "ce") == 0) o->loss = LOSS_CE;
        else return bn_fail(err, "--loss: unknown loss '%s' (mse or ce)", arg);
        return 1;
    case OPT_BATCH: return parse_positive("batch", arg, &o->batch, err) ? -1 : 1;
    case OPT_EPOCHS: return parse_positive("epochs", arg, &o->epochs, err) ? -1 : 1;
    case OPT_SEED: {
        size_t seed = 0;
        if (parse_size("seed", arg, &seed, err)) return -1;
        o->seed = seed;
        return 1;
    }
    case OPT_TRAIN_SUBSET: return parse_positive("train-subset", arg, &o->train_subset, err) ? -1 : 1;
    case OPT_WEIGHT_DECAY:
        return parse_nonnegative_double("weight-decay", arg, &o->weight_decay, err) ? -1 : 1;
    case OPT_GAMMA: return parse_double("gamma", arg, &o->gamma, err) ? -1 : 1;
    case OPT_LR: return parse_positive_double("lr", arg, &o->lr, err) ? -1 : 1;
    default: return 0;
    }
}

int options_apply(bn_options *o, int code, const char *arg, bn_error *err) {
    int applied = apply_model_option(o, code, arg, err);
    if (applied) return applied;
    return apply_training_option(o, code, arg, err);
}

int options_model_spec(const bn_options *o, bn_model_spec *spec, bn_error *err) {
    if (!o->dataset) return bn_fail(err, "--dataset is required");
    size_t c, h, w;
    if (dataset_shape(o->dataset, &c, &h, &w))
        return bn_fail(err, "--dataset: unknown dataset '%s'", o->dataset);
    model_spec_paper(spec, o->arch, c, h, w, o->batchnorm);
    if (o->n_hidden) {
        spec->n_hidden = o->n_hidden;
        memcpy(spec->hidden, o->hidden, sizeof spec->hidden);
    }
    spec->kernel = o->kernel;
    spec->stride = o->stride;
    spec->padding = o->padding;
    return model_spec_check(spec, err);
}
