/* Options shared by the commands that describe a network and its training (train, grid,
 * theory, figures): parsed once, into one struct, with the same names and checks everywhere. */
#ifndef BNTRAIN_OPTIONS_H
#define BNTRAIN_OPTIONS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"
#include "bntrain/loss.h"
#include "bntrain/model.h"

typedef struct {
    const char *dataset;   /* NULL until --dataset is given */
    const char *data_dir;  /* NULL: $BNTRAIN_DATA, else data/ */
    bn_arch arch;
    int batchnorm;
    size_t n_hidden;       /* 0: the paper's widths / channels */
    size_t hidden[BN_MAX_HIDDEN];
    size_t kernel, stride, padding;
    double sigma_w2, sigma_b2;
    double momentum, weight_decay;
    bn_loss loss;
    size_t batch, epochs;
    uint64_t seed;
    size_t train_subset;   /* 0: the whole training set */
    double gamma, lr;
    int verbose;
} bn_options;

/* Option codes of the shared options (values above 255, so they never clash with a short
 * option character). */
enum {
    OPT_DATASET = 1000, OPT_DATA_DIR, OPT_ARCH, OPT_NO_BN, OPT_HIDDEN, OPT_KERNEL, OPT_STRIDE,
    OPT_PADDING, OPT_SIGMA_W2, OPT_SIGMA_B2, OPT_MOMENTUM, OPT_WEIGHT_DECAY, OPT_LOSS,
    OPT_BATCH, OPT_EPOCHS, OPT_SEED, OPT_TRAIN_SUBSET, OPT_GAMMA, OPT_LR, OPT_VERBOSE,
    OPT_FIRST_COMMAND_SPECIFIC = 1100
};

/* The paper's defaults: fc, BN on, sigma_w^2 = 2, sigma_b^2 = 0.5, mu = 0.9, batch 128,
 * mse loss, 3x3 kernels stride 2 no padding, seed 1, gamma 1, lr 0.01, 5 epochs. */
void options_defaults(bn_options *opts);

/* getopt_long entries for the architecture options (dataset, data-dir, arch, no-bn, hidden,
 * kernel, stride, padding, sigma-w2, sigma-b2, momentum, verbose), for the training options
 * (loss, batch, epochs, seed, train-subset, weight-decay) and for one point of the phase
 * diagram (gamma, lr: train only; grid takes ranges instead), each terminated by a zero
 * entry. Commands concatenate them with their own with options_merge. */
extern const struct option options_model[];
extern const struct option options_training[];
extern const struct option options_point[];
/* Copies a, b and c (any may be NULL) and a zero terminator into out (capacity entries);
 * returns -1 if full. */
int options_merge(struct option *out, size_t capacity, const struct option *a,
                  const struct option *b, const struct option *c);

/* Applies one shared option (code from getopt_long, arg its argument). Returns 1 if the code
 * was a shared option and was applied, 0 if it is not a shared option, -1 on a bad value
 * (err names the option and what is wrong). */
int options_apply(bn_options *opts, int code, const char *arg, bn_error *err);

/* Checks what needs all options together (a dataset is named, the network fits the input).
 * Fills spec with the network the options describe. */
int options_model_spec(const bn_options *opts, bn_model_spec *spec, bn_error *err);

/* Help text lines for the shared options, for the commands' usage messages. */
extern const char options_model_help[];
extern const char options_training_help[];

/* Number parsing that rejects trailing garbage, NaN and infinities. */
int parse_double(const char *option, const char *text, double *out, bn_error *err);
int parse_size(const char *option, const char *text, size_t *out, bn_error *err);
/* "start:stop:step" (inclusive, step > 0, start <= stop) or "a,b,c"; at most 10000 values;
 * *values is malloc'd and owned by the caller. */
int parse_range(const char *option, const char *text, double **values, size_t *n,
                bn_error *err);

#endif
