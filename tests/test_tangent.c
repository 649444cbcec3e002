/* Forward-mode derivatives (J v): every layer's *_tangent and the model's model_tangent against
 * central differences of the forward pass along the same direction, f(x + h v) - f(x - h v)
 * over 2h, evaluated in double from float outputs; and a tiny fc BN net's J v against
 * PyTorch's torch.autograd.functional.jvp (tests/fixtures/tangent_fc.bin, written by
 * tests/make_fixtures.py). */
#include <stdlib.h>
#include <string.h>

#include "bntrain/layers.h"
#include "bntrain/model.h"
#include "bntrain/rng.h"
#include "check.h"
#include "finite_diff.h"
#include "fixture.h"

/* Every output is tried with four steps and the closest agreement kept: a ReLU or a max-pool
 * window can change side at one step and not at the next (a kink then spoils that one
 * difference only), float rounding spoils the smallest step (about 3e-4 of an output of size
 * 1) and curvature the largest (BatchNorm's h^2 term, about 1e-4 at h = 1e-2). A wrong term
 * of a tangent (a missing mean, a dropped dW) is wrong at every step. Tolerance: FD_TOL of the
 * largest tangent, the backward passes' (finite_diff.h). */
static const double tangent_steps[4] = {1e-2, 3e-3, 1e-3, 3e-4};

static bn_rng rng;

static float *random_floats(size_t n, double scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    randomize_from(&rng, x, n, scale);
    return x;
}

/* An operand of a forward pass and the direction it moves along: work = base + h dir. */
typedef struct {
    float *base, *dir, *work;
    size_t n;
} operand;

#define MAX_OPERANDS 4

/* A forward pass over its operands' work arrays, writing n_out floats to out. */
typedef struct {
    operand ops[MAX_OPERANDS];
    size_t n_ops, n_out;
    float *out;
    void (*forward)(void *ctx);
    void *ctx;
} fd_case;

static void add_operand(fd_case *c, float *work, size_t n, double scale) {
    operand *o = &c->ops[c->n_ops++];
    o->work = work;
    o->n = n;
    o->base = malloc(n * sizeof(float));
    memcpy(o->base, work, n * sizeof(float));
    o->dir = random_floats(n, scale);
}

static void move_operands(fd_case *c, double h) {
    for (size_t k = 0; k < c->n_ops; k++)
        for (size_t i = 0; i < c->ops[k].n; i++)
            c->ops[k].work[i] = (float)(c->ops[k].base[i] + h * c->ops[k].dir[i]);
}

/* Worst over outputs of the closest difference quotient's error, relative to the largest
 * tangent; leaves the operands at their base values. */
static double fd_tangent_error(fd_case *c, const float *tangent) {
    size_t n = c->n_out;
    double *up = malloc(n * sizeof *up), *best = malloc(n * sizeof *best), scale = 1e-3;
    for (size_t i = 0; i < n; i++) {
        best[i] = INFINITY;
        if (fabs(tangent[i]) > scale) scale = fabs(tangent[i]);
    }
    for (size_t s = 0; s < 4; s++) {
        double h = tangent_steps[s];
        move_operands(c, h);
        c->forward(c->ctx);
        for (size_t i = 0; i < n; i++)
            up[i] = c->out[i];
        move_operands(c, -h);
        c->forward(c->ctx);
        for (size_t i = 0; i < n; i++) {
            double error = fabs((up[i] - c->out[i]) / (2 * h) - tangent[i]);
            if (error < best[i]) best[i] = error;
        }
    }
    move_operands(c, 0.0);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        if (best[i] / scale > worst) worst = best[i] / scale;
    free(up);
    free(best);
    return worst;
}

static void fd_case_free(fd_case *c) {
    for (size_t k = 0; k < c->n_ops; k++) {
        free(c->ops[k].base);
        free(c->ops[k].dir);
    }
}

static void check_tangent_tol(fd_case *c, const float *tangent, const char *label, double tol) {
    double e = fd_tangent_error(c, tangent);
    CHECK_MSG(e < tol, "%s: tangent error %g (tolerance %g)", label, e, tol);
    if (getenv("BNTRAIN_FD_REPORT")) printf("%s: tangent error %.3g\n", label, e);
}

static void check_tangent(fd_case *c, const float *tangent, const char *label) {
    check_tangent_tol(c, tangent, label, FD_TOL);
}

/* ---- linear ---- */
typedef struct {
    size_t batch, in_dim, out_dim;
    float *in, *w, *b, *out;
} linear_case;

static void linear_run(void *ctx) {
    linear_case *c = ctx;
    linear_forward(c->out, c->in, c->w, c->b, c->batch, c->in_dim, c->out_dim);
}

/* The weight's direction is drawn in rows and stored in panels, so padding stays 0. */
static void check_linear(size_t batch, size_t in_dim, size_t out_dim, int input_moves) {
    size_t nw = linear_weight_floats(in_dim, out_dim), no = batch * out_dim;
    float *rows = random_floats(in_dim * out_dim, 0.5), *w = malloc(nw * sizeof *w);
    linear_weight_from_rows(w, rows, in_dim, out_dim);
    linear_case lc = {batch,
                      in_dim,
                      out_dim,
                      random_floats(batch * in_dim, 1),
                      w,
                      random_floats(out_dim, 0.3),
                      malloc(no * sizeof(float))};
    fd_case c = {.n_out = no, .out = lc.out, .forward = linear_run, .ctx = &lc};
    add_operand(&c, lc.in, batch * in_dim, input_moves ? 1.0 : 0.0);
    add_operand(&c, lc.w, nw, 0.0);
    randomize_from(&rng, rows, in_dim * out_dim, 1);
    linear_weight_from_rows(c.ops[1].dir, rows, in_dim, out_dim);
    add_operand(&c, lc.b, out_dim, 1.0);
    float *tangent = malloc(no * sizeof *tangent);
    linear_tangent(tangent, lc.in, input_moves ? c.ops[0].dir : NULL, lc.w, c.ops[1].dir,
                   c.ops[2].dir, batch, in_dim, out_dim);
    check_tangent(&c, tangent, input_moves ? "linear" : "linear, fixed input");
    fd_case_free(&c);
    free(tangent), free(rows), free(lc.in), free(lc.w), free(lc.b), free(lc.out);
}

/* ---- conv ---- */
typedef struct {
    conv_shape shape;
    size_t batch;
    int channel_major;
    float *in, *w, *b, *out;
} conv_case;

static void conv_run(void *ctx) {
    conv_case *c = ctx;
    conv_forward(c->out, c->in, c->channel_major, c->w, c->b, &c->shape, c->batch);
}

static void check_conv(size_t cin, size_t side, size_t cout, size_t k, size_t stride,
                       size_t padding, int channel_major, int bias, int input_moves) {
    size_t out_side = conv_out_size(side, k, stride, padding), batch = 3;
    conv_case cc = {.shape = {cin, side, side, cout, out_side, out_side, k, stride, padding},
                    .batch = batch,
                    .channel_major = channel_major};
    size_t ni = batch * cin * side * side, nw = cout * cin * k * k;
    size_t no = batch * cout * out_side * out_side;
    cc.in = random_floats(ni, 1), cc.w = random_floats(nw, 0.3);
    cc.b = bias ? random_floats(cout, 0.3) : NULL, cc.out = malloc(no * sizeof(float));
    fd_case c = {.n_out = no, .out = cc.out, .forward = conv_run, .ctx = &cc};
    add_operand(&c, cc.in, ni, input_moves ? 1.0 : 0.0);
    add_operand(&c, cc.w, nw, 1.0);
    if (bias) add_operand(&c, cc.b, cout, 1.0);
    float *tangent = malloc(no * sizeof *tangent), *scratch = malloc(no * sizeof *scratch);
    conv_tangent(tangent, scratch, cc.in, input_moves ? c.ops[0].dir : NULL, channel_major, cc.w,
                 c.ops[1].dir, bias ? c.ops[2].dir : NULL, &cc.shape, batch);
    char label[96];
    snprintf(label, sizeof label, "conv %zux%zu k%zu s%zu p%zu cm=%d bias=%d input=%d", cin, side,
             k, stride, padding, channel_major, bias, input_moves);
    check_tangent(&c, tangent, label);
    fd_case_free(&c);
    free(tangent), free(scratch), free(cc.in), free(cc.w), free(cc.b), free(cc.out);
}

/* ---- batchnorm ---- */
typedef struct {
    size_t batch, channels, spatial;
    int train;
    float *in, *gamma, *beta, *out, *mean, *rstd, *var, *running_mean, *running_var;
} bn_case;

static void bn_run(void *ctx) {
    bn_case *c = ctx;
    if (c->train)
        batchnorm_forward(c->out, c->mean, c->rstd, c->var, c->in, c->gamma, c->beta, c->batch,
                          c->channels, c->spatial);
    else
        batchnorm_forward_eval(c->out, c->in, c->gamma, c->beta, c->running_mean, c->running_var,
                               c->batch, c->channels, c->spatial);
}

static void check_batchnorm(size_t batch, size_t channels, size_t spatial, int train) {
    size_t n = batch * channels * spatial;
    bn_case bc = {.batch = batch, .channels = channels, .spatial = spatial, .train = train};
    bc.in = random_floats(n, 1.5), bc.gamma = random_floats(channels, 1);
    bc.beta = random_floats(channels, 1), bc.out = malloc(n * sizeof(float));
    bc.mean = malloc(channels * sizeof(float)), bc.rstd = malloc(channels * sizeof(float));
    bc.var = malloc(channels * sizeof(float)), bc.running_mean = random_floats(channels, 0.3);
    bc.running_var = random_floats(channels, 0.3);
    for (size_t c = 0; c < channels; c++)
        bc.running_var[c] = 0.5f + fabsf(bc.running_var[c]);
    fd_case c = {.n_out = n, .out = bc.out, .forward = bn_run, .ctx = &bc};
    add_operand(&c, bc.in, n, 1.0);
    add_operand(&c, bc.gamma, channels, 1.0);
    add_operand(&c, bc.beta, channels, 1.0);
    bn_run(&bc); /* the statistics at the base point, which the tangent reads */
    float *tangent = malloc(n * sizeof *tangent);
    if (train)
        batchnorm_tangent(tangent, bc.in, c.ops[0].dir, bc.mean, bc.rstd, bc.gamma, c.ops[1].dir,
                          c.ops[2].dir, batch, channels, spatial);
    else
        batchnorm_tangent_eval(tangent, bc.in, c.ops[0].dir, bc.gamma, c.ops[1].dir, c.ops[2].dir,
                               bc.running_mean, bc.running_var, batch, channels, spatial);
    char label[80];
    snprintf(label, sizeof label, "batchnorm %zux%zux%zu train=%d", batch, channels, spatial,
             train);
    check_tangent(&c, tangent, label);
    fd_case_free(&c);
    free(tangent), free(bc.in), free(bc.gamma), free(bc.beta), free(bc.out), free(bc.mean);
    free(bc.rstd), free(bc.var), free(bc.running_mean), free(bc.running_var);
}

/* ---- the layers without parameters: one input, its output ---- */
typedef enum { KIND_RELU, KIND_MAXPOOL, KIND_AVGPOOL, KIND_FLATTEN, KIND_RESIDUAL } plain_kind;

typedef struct {
    plain_kind kind;
    size_t batch, channels, height, width;
    float *in, *other, *out;
} plain_case;

static size_t plain_out_floats(const plain_case *c) {
    size_t planes = c->batch * c->channels;
    switch (c->kind) {
    case KIND_MAXPOOL:
        return planes * maxpool_out_size(c->height) * maxpool_out_size(c->width);
    case KIND_AVGPOOL:
        return planes;
    default:
        return planes * c->height * c->width;
    }
}

static void plain_run(void *ctx) {
    plain_case *c = ctx;
    size_t planes = c->batch * c->channels, pixels = c->height * c->width;
    switch (c->kind) {
    case KIND_RELU:
        relu_forward(c->out, c->in, planes * pixels);
        break;
    case KIND_MAXPOOL:
        maxpool_forward(c->out, c->in, planes, c->height, c->width);
        break;
    case KIND_AVGPOOL:
        global_avgpool_forward(c->out, c->in, c->batch, c->channels, pixels);
        break;
    case KIND_FLATTEN:
        flatten_forward(c->out, c->in, c->batch, c->channels, pixels);
        break;
    case KIND_RESIDUAL:
        residual_forward(c->out, c->in, c->other, planes * pixels);
        break;
    }
}

static void plain_tangent(const plain_case *c, float *tangent, const float *din,
                          const float *dother) {
    size_t planes = c->batch * c->channels, pixels = c->height * c->width;
    switch (c->kind) {
    case KIND_RELU:
        relu_tangent(tangent, din, c->out, planes * pixels);
        break;
    case KIND_MAXPOOL:
        maxpool_tangent(tangent, din, c->in, planes, c->height, c->width);
        break;
    case KIND_AVGPOOL:
        global_avgpool_tangent(tangent, din, c->batch, c->channels, pixels);
        break;
    case KIND_FLATTEN:
        flatten_tangent(tangent, din, c->batch, c->channels, pixels);
        break;
    case KIND_RESIDUAL:
        residual_tangent(tangent, din, dother, planes * pixels);
        break;
    }
}

static void check_plain(plain_kind kind, size_t height, size_t width, const char *label) {
    plain_case pc = {.kind = kind, .batch = 3, .channels = 4, .height = height, .width = width};
    size_t n = pc.batch * pc.channels * height * width, no = plain_out_floats(&pc);
    pc.in = random_floats(n, 1), pc.other = random_floats(n, 1);
    pc.out = malloc(no * sizeof(float));
    fd_case c = {.n_out = no, .out = pc.out, .forward = plain_run, .ctx = &pc};
    add_operand(&c, pc.in, n, 1.0);
    add_operand(&c, pc.other, n, 1.0);
    plain_run(&pc); /* the ReLU's tangent reads its output */
    float *tangent = malloc(no * sizeof *tangent);
    plain_tangent(&pc, tangent, c.ops[0].dir, c.ops[1].dir);
    check_tangent(&c, tangent, label);
    fd_case_free(&c);
    free(tangent), free(pc.in), free(pc.other), free(pc.out);
}

/* ---- whole networks ---- */
typedef struct {
    bn_model *model;
    const float *input;
    size_t batch;
    int train;
    float *logits;
} net_case;

static void net_run(void *ctx) {
    net_case *c = ctx;
    const float *logits = model_forward(c->model, c->input, c->batch, c->train);
    memcpy(c->logits, logits, c->batch * c->model->spec.n_classes * sizeof(float));
}

/* A direction over every trained parameter, 0 on the padding and alignment gaps of the
 * parameter arena: drawn by model_init from another seed (every weight and bias), with
 * random BatchNorm scales and shifts. */
static void parameter_direction(const bn_model *m, float *dir) {
    bn_model other = *m;
    other.params = dir;
    other.velocity = malloc(m->n_params * sizeof(float));
    other.grads = malloc(m->n_params * sizeof(float));
    other.buffers = malloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    memset(dir, 0, m->n_params * sizeof *dir);
    model_init(&other, 1.0, 1.0, 1.0, &rng);
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_BATCHNORM)
            randomize_from(&rng, dir + m->layers[i].gamma, 2 * m->layers[i].out_c, 1);
    free(other.velocity), free(other.grads), free(other.buffers);
}

/* The deep networks' differences cross ReLU kinks at every step: with BatchNorm every parameter
 * moves every unit, and there are dozens of layers of them. Their error falls with the size of
 * the direction, as a kink's does and a wrong term's does not (preact-resnet20 in eval mode:
 * 0.042 at scale 1, 0.0071 at 0.1, 0.0028 at 0.01; vgg16: 0.054, 0.022, 0.0023), so they
 * move along a direction scaled by 0.01 and are held to 5e-3. */
#define DEEP_DIRECTION_SCALE 0.01
#define DEEP_TOL 5e-3

static void check_network(const bn_model_spec *spec, int train, double direction_scale, double tol,
                          const char *label) {
    bn_model model;
    bn_error err;
    size_t batch = 5;
    CHECK_MSG(model_create(&model, spec, batch, &err) == 0, "%s: %s", label, err.msg);
    if (!model.params) return;
    model_init(&model, 0.8, 2.0, 0.5, &rng);
    size_t n_in = batch * model_input_size(&model), no = batch * spec->n_classes;
    float *input = random_floats(n_in, 1);
    if (!train) CHECK(model_calibrate_batchnorm(&model, input, batch, &err) == 0);
    net_case nc = {&model, input, batch, train, malloc(no * sizeof(float))};
    fd_case c = {.n_out = no, .out = nc.logits, .forward = net_run, .ctx = &nc};
    add_operand(&c, model.params, model.n_params, 0.0);
    parameter_direction(&model, c.ops[0].dir);
    for (size_t i = 0; i < model.n_params; i++)
        c.ops[0].dir[i] *= (float)direction_scale;
    float *tangents = malloc(model.n_acts * sizeof(float));
    float *scratch = malloc(model_tangent_scratch_floats(&model, batch) * sizeof(float));
    model_forward(&model, input, batch, train);
    const float *jv = model_tangent(&model, input, c.ops[0].dir, tangents, scratch, batch, train);
    float *tangent = malloc(no * sizeof *tangent);
    memcpy(tangent, jv, no * sizeof *tangent);
    check_tangent_tol(&c, tangent, label, tol);
    fd_case_free(&c);
    free(tangent), free(tangents), free(scratch), free(nc.logits), free(input);
    model_free(&model);
}

static void check_paper_network(bn_arch arch, int batchnorm, int train) {
    bn_model_spec spec;
    model_spec_paper(&spec, arch, 2, 9, 9, batchnorm);
    spec.n_hidden = 2, spec.hidden[0] = 6, spec.hidden[1] = 5, spec.n_classes = 4;
    char label[64];
    snprintf(label, sizeof label, "%s bn=%d train=%d", arch_name(arch), batchnorm, train);
    check_network(&spec, train, 1.0, FD_TOL, label);
}

static void check_deep_network(bn_arch arch, size_t depth, double width_mult, size_t side,
                               int train) {
    bn_model_spec spec;
    model_spec_deep(&spec, arch, depth, 2, side, side);
    spec.width_mult = width_mult;
    spec.n_classes = 4;
    char label[64];
    arch_label(&spec, label, sizeof label);
    snprintf(label + strlen(label), sizeof label - strlen(label), " train=%d", train);
    check_network(&spec, train, DEEP_DIRECTION_SCALE, DEEP_TOL, label);
}

/* ---- PyTorch parity ---- */

/* The fixture's tensor `name`, which must hold `count` floats; NULL (and a failed check) if
 * not. */
static const float *fixture_floats(const fixture *fx, const char *name, size_t count) {
    const fixture_tensor *t = fixture_get(fx, name);
    CHECK_MSG(t && t->count == count, "tangent_fc.bin: %s missing or of the wrong size", name);
    return t && t->count == count ? t->data : NULL;
}

/* The fixture's param/K or dir/K tensors into an arena laid out as the model's parameters
 * (linear weights from PyTorch's rows into panels). */
static int fixture_parameters(const fixture *fx, const bn_model *m, const char *prefix,
                              float *arena) {
    memset(arena, 0, m->n_params * sizeof *arena);
    size_t k = 0;
    char name[32];
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        const float *a, *b;
        size_t n_first = l->kind == LAYER_LINEAR ? l->fan_in * l->out_c : l->out_c;
        if (l->kind != LAYER_LINEAR && l->kind != LAYER_BATCHNORM) continue;
        snprintf(name, sizeof name, "%s/%zu", prefix, k++);
        if (!(a = fixture_floats(fx, name, n_first))) return -1;
        snprintf(name, sizeof name, "%s/%zu", prefix, k++);
        if (!(b = fixture_floats(fx, name, l->out_c))) return -1;
        if (l->kind == LAYER_LINEAR) {
            linear_weight_from_rows(arena + l->weight, a, l->fan_in, l->out_c);
            memcpy(arena + l->bias, b, l->out_c * sizeof *arena);
        } else {
            memcpy(arena + l->gamma, a, l->out_c * sizeof *arena);
            memcpy(arena + l->beta, b, l->out_c * sizeof *arena);
        }
    }
    return 0;
}

/* J v in both BatchNorm modes against PyTorch's float64 jvp. Tolerance 1e-4 of the largest
 * output: float rounding over three layers (observed below 1e-6). */
static void check_pytorch_jvp(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/tangent_fc.bin", check_source_dir());
    fixture fx;
    bn_error err;
    int loaded = fixture_load(&fx, path, &err) == 0;
    CHECK_MSG(loaded, "%s", err.msg);
    if (!loaded) return;
    const float *spec_values = fixture_floats(&fx, "spec", 5);
    const float *hidden = fixture_floats(&fx, "hidden", 2);
    bn_model model;
    size_t batch = spec_values ? (size_t)spec_values[0] : 0;
    bn_model_spec spec;
    if (spec_values && hidden) {
        model_spec_paper(&spec, ARCH_FC, (size_t)spec_values[1], (size_t)spec_values[2],
                         (size_t)spec_values[3], 1);
        spec.n_classes = (size_t)spec_values[4];
        spec.n_hidden = 2, spec.hidden[0] = (size_t)hidden[0], spec.hidden[1] = (size_t)hidden[1];
    }
    if (!spec_values || !hidden || model_create(&model, &spec, batch, &err)) {
        CHECK_MSG(0, "tangent_fc.bin: cannot build its network");
        fixture_free(&fx);
        return;
    }
    size_t no = batch * spec.n_classes;
    const float *input = fixture_floats(&fx, "input", batch * model_input_size(&model));
    float *dir = malloc(model.n_params * sizeof *dir);
    float *tangents = malloc(model.n_acts * sizeof *tangents);
    float *scratch = malloc(model_tangent_scratch_floats(&model, batch) * sizeof *scratch);
    int ready = input && fixture_parameters(&fx, &model, "param", model.params) == 0 &&
                fixture_parameters(&fx, &model, "dir", dir) == 0;
    for (int train = 1; ready && train >= 0; train--) {
        size_t j = 0;
        char name[32];
        for (size_t i = 0; i < model.n_layers && !train; i++) {
            const bn_layer *l = &model.layers[i];
            if (l->kind != LAYER_BATCHNORM) continue;
            snprintf(name, sizeof name, "running_mean/%zu", j);
            const float *mean = fixture_floats(&fx, name, l->out_c);
            snprintf(name, sizeof name, "running_var/%zu", j++);
            const float *var = fixture_floats(&fx, name, l->out_c);
            if (mean) memcpy(model.buffers + l->running_mean, mean, l->out_c * sizeof(float));
            if (var) memcpy(model.buffers + l->running_var, var, l->out_c * sizeof(float));
        }
        const float *expected = fixture_floats(&fx, train ? "jv_train" : "jv_eval", no);
        if (!expected) continue;
        model_forward(&model, input, batch, train);
        const float *jv = model_tangent(&model, input, dir, tangents, scratch, batch, train);
        double worst = 0.0, scale = 0.0;
        for (size_t i = 0; i < no; i++) {
            if (fabs(expected[i]) > scale) scale = fabs(expected[i]);
            if (fabs(jv[i] - expected[i]) > worst) worst = fabs(jv[i] - expected[i]);
        }
        CHECK_MSG(worst <= 1e-4 * scale, "PyTorch jvp, train=%d: error %g of %g", train, worst,
                  scale);
        if (getenv("BNTRAIN_FD_REPORT"))
            printf("PyTorch jvp train=%d: error %.3g of the largest\n", train, worst / scale);
    }
    CHECK(ready);
    free(dir), free(tangents), free(scratch);
    model_free(&model);
    fixture_free(&fx);
}

int main(void) {
    rng_seed(&rng, 2024);
    check_linear(5, 7, 4, 1);
    check_linear(4, 20, 19, 1);
    check_linear(5, 7, 4, 0);
    check_conv(2, 7, 3, 3, 2, 0, 0, 1, 1);
    check_conv(3, 6, 2, 3, 1, 1, 1, 0, 1);
    check_conv(2, 8, 4, 1, 2, 0, 1, 1, 0);
    check_batchnorm(6, 3, 1, 1);
    check_batchnorm(2, 3, 5, 1);
    check_batchnorm(1, 4, 12, 1);
    check_batchnorm(6, 3, 1, 0);
    check_batchnorm(2, 3, 5, 0);
    check_plain(KIND_RELU, 3, 5, "relu");
    check_plain(KIND_MAXPOOL, 4, 5, "maxpool");
    check_plain(KIND_AVGPOOL, 3, 3, "avgpool");
    check_plain(KIND_FLATTEN, 2, 3, "flatten");
    check_plain(KIND_RESIDUAL, 2, 3, "residual");
    for (int bn = 0; bn <= 1; bn++) {
        check_paper_network(ARCH_FC, bn, 1);
        check_paper_network(ARCH_CNN, bn, 1);
    }
    check_paper_network(ARCH_FC, 1, 0);
    check_paper_network(ARCH_CNN, 1, 0);
    check_deep_network(ARCH_PREACT_RESNET, 20, 0.25, 8, 1);
    check_deep_network(ARCH_PREACT_RESNET, 20, 0.25, 8, 0);
    check_deep_network(ARCH_VGG16, 16, 1.0 / 64, 32, 1);
    check_pytorch_jvp();
    return check_summary("test_tangent");
}
