/* Parity with PyTorch: replays two SGD steps of small fc and cnn networks (BatchNorm on and off,
 * mse and cross-entropy, with and without weight decay, padded and unpadded convolutions) and
 * compares every tensor with the reference that tests/make_fixtures.py recorded from PyTorch in
 * tests/fixtures/: first train-mode logits, loss, every parameter gradient, the second loss, the
 * parameters and BatchNorm running statistics after two steps, and the eval-mode logits.
 *
 * Error measure, one number per tensor: max_i |c_i - ref_i| / max(max_i |ref_i|, floor), the
 * worst deviation relative to the tensor's own scale. A real bug (a wrong eps, a missing 1/N,
 * a transposed index, a dropped term) moves the large entries too and shows as 1e-3 or far
 * more; float32 accumulation-order differences stay near 1e-6. Elementwise relative errors
 * would instead be dominated by entries that happen to be near zero. The floor matters only for
 * the tensors whose exact value is zero (see GRAD_FLOOR).
 *
 * Parameters after two steps are compared through the update: the error of final parameters is
 * divided by max |final_ref - init|, not by max |final_ref|, so that a wrong learning rate,
 * momentum or weight-decay term cannot hide below the size of the weights themselves.
 *
 * Then single layers (tests/fixtures/layers.bin): max-pooling, global average pooling, a
 * residual block and four convolutions (1 x 1 stride 2 and 3 x 3 stride 1 padding 1, with and
 * without bias), outputs and gradients by the same measure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bntrain/data.h"
#include "bntrain/layers.h"
#include "bntrain/model.h"
#include "bntrain/optim.h"
#include "check.h"
#include "fixture.h"

/* The acceptance threshold for every tensor. */
#define PARITY_TOL 1e-4

/* The bias of a Linear or Conv2d that feeds a BatchNorm has an exactly zero gradient (the
 * batch mean removes it), so both engines return rounding noise there (~1e-7 of the largest
 * gradient), and its two-step update is tiny (weight decay only) next to the float32 spacing
 * of its value (one ulp of a 0.3 bias is 3e-8). Each tensor's scale is therefore floored at
 * this fraction of the largest gradient (or update) in the network; every other tensor's own
 * scale is above the floor and its error is measured against its own size. */
#define GRAD_FLOOR 1e-2

static const char *const case_names[] = {
    "fc_bn_mse",  "fc_bn_ce",  "fc_nobn_mse",  "fc_nobn_ce",
    "cnn_bn_mse", "cnn_bn_ce", "cnn_nobn_mse", "cnn_nobn_ce",
};

/* The deep networks at a small width on the first 8 CIFAR-10 test images, which the test
 * loads from the shared data (the fixtures do not hold them): three SGD steps with momentum
 * and weight decay. */
static const char *const deep_case_names[] = {"deep_vgg16", "deep_preact_resnet18",
                                              "deep_preact_resnet20"};

/* More parameter tensors than any fixture's network has. */
#define MAX_TENSORS 512

#define SPEC_FIELDS 10 /* arch, in c h w, kernel, stride, padding, n_classes, batchnorm, loss */

/* One parameter tensor of the model: where it lives in the flat arena and its reference name
 * (the PyTorch parameter name, taken from the fixture). */
typedef struct {
    size_t offset, count;
    const char *name;
    size_t in_dim, out_dim; /* a linear weight, stored in panels (linear.h); else 0 */
} param_tensor;

/* A tensor's values in PyTorch's layout, from a parameter-shaped arena: in place, or (a
 * linear weight) converted into rows, which holds count floats. */
static const float *tensor_values(const param_tensor *p, const float *arena, float *rows) {
    if (!p->in_dim) return arena + p->offset;
    linear_weight_to_rows(rows, arena + p->offset, p->in_dim, p->out_dim);
    return rows;
}

typedef struct {
    const char *case_name;
    const fixture *fx;
    bn_model model;
    bn_loss loss;
    float lr, momentum, weight_decay;
    size_t batch, n_tensors;
    param_tensor tensors[MAX_TENSORS];
    const float *input; /* the batch: the fixture's input record, or CIFAR-10 images */
    float *cifar_input; /* the CIFAR-10 images, normalised (owned; NULL for a record) */
    uint8_t *labels;
    float *dlogits, *init_params;
    float *rows; /* a linear weight in PyTorch's layout (tensor_values) */
} parity_case;

/* ---- comparison ---- */

static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > m) m = fabs((double)x[i]);
    return m;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - (double)b[i]) > m) m = fabs((double)a[i] - (double)b[i]);
    return m;
}

/* Prints one line per tensor and counts it as a check against PARITY_TOL. */
static void report(const parity_case *pc, const char *what, double diff, double scale) {
    double err = diff / (scale > 1e-30 ? scale : 1e-30);
    printf("%-13s %-26s max rel err %.3e  (max abs diff %.3e, scale %.3e)\n", pc->case_name, what,
           err, diff, scale);
    CHECK_MSG(err <= PARITY_TOL, "%s %s: relative error %.3e > %.0e", pc->case_name, what, err,
              PARITY_TOL);
}

/* Looks up a record that must exist with exactly count floats. */
static const float *expect(const parity_case *pc, const char *name, size_t count) {
    const fixture_tensor *t = fixture_get(pc->fx, name);
    CHECK_MSG(t != NULL, "%s: fixture has no record %s", pc->case_name, name);
    if (!t) return NULL;
    CHECK_MSG(t->count == count, "%s: %s has %zu floats, the C model %zu", pc->case_name, name,
              t->count, count);
    return t->count == count ? t->data : NULL;
}

static void compare_plain(const parity_case *pc, const char *name, const float *c, size_t n) {
    const float *ref = expect(pc, name, n);
    if (ref) report(pc, name, max_abs_diff(c, ref, n), max_abs(ref, n));
}

/* ---- building the case from the fixture ---- */

/* A spec field must be a small non-negative integer; floats hold those exactly. */
static int spec_field(const float *spec, size_t i, size_t limit, size_t *out) {
    float v = spec[i];
    if (!(v >= 0.0f && v <= (float)limit) || v != (float)(size_t)v) return -1;
    *out = (size_t)v;
    return 0;
}

/* The deep record: depth and width multiplier of a vgg16 or preact-resnet. */
static int read_deep_spec(const parity_case *pc, bn_model_spec *spec, size_t arch_code,
                          const size_t f[SPEC_FIELDS]) {
    const fixture_tensor *d = fixture_get(pc->fx, "deep");
    size_t depth;
    if (!d || d->count != 2 || spec_field(d->data, 0, 1202, &depth) || !(d->data[1] > 0.0f))
        return -1;
    model_spec_deep(spec, arch_code == 2 ? ARCH_VGG16 : ARCH_PREACT_RESNET, depth, f[1], f[2],
                    f[3]);
    spec->width_mult = d->data[1];
    spec->n_classes = f[7];
    return 0;
}

static int read_paper_spec(const parity_case *pc, bn_model_spec *spec,
                           const size_t f[SPEC_FIELDS]) {
    const fixture_tensor *h = fixture_get(pc->fx, "hidden");
    if (!h || h->count == 0 || h->count > BN_MAX_HIDDEN) return -1;
    model_spec_paper(spec, f[0] == 0 ? ARCH_FC : ARCH_CNN, f[1], f[2], f[3], (int)f[8]);
    spec->kernel = f[4];
    spec->stride = f[5];
    spec->padding = f[6];
    spec->n_classes = f[7];
    spec->n_hidden = h->count;
    for (size_t i = 0; i < h->count; i++)
        if (spec_field(h->data, i, 100000, &spec->hidden[i])) return -1;
    return 0;
}

/* The batch size: the input record's first dimension, or the deep fixtures' image count. */
static int read_batch(parity_case *pc, const size_t f[SPEC_FIELDS]) {
    const fixture_tensor *in = fixture_get(pc->fx, "input");
    const fixture_tensor *source = fixture_get(pc->fx, "input_source");
    if (in)
        pc->batch = in->ndim == 4 && in->dims[1] == f[1] && in->dims[2] == f[2] &&
                            in->dims[3] == f[3]
                        ? in->dims[0]
                        : 0;
    else if (source && source->count == 2 && spec_field(source->data, 1, 256, &pc->batch) == 0)
        ;
    else
        pc->batch = 0;
    return pc->batch ? 0 : -1;
}

static int read_spec(parity_case *pc, bn_model_spec *spec) {
    const fixture_tensor *s = fixture_get(pc->fx, "spec"), *o = fixture_get(pc->fx, "optim");
    if (!s || s->count != SPEC_FIELDS || !o || o->count != 3) return -1;
    size_t f[SPEC_FIELDS];
    for (size_t i = 0; i < SPEC_FIELDS; i++)
        if (spec_field(s->data, i, 100000, &f[i])) return -1;
    if (f[0] > 3 || f[8] > 1 || f[9] > 1 || f[7] == 0 || f[7] > 256) return -1;
    int status = f[0] >= 2 ? read_deep_spec(pc, spec, f[0], f) : read_paper_spec(pc, spec, f);
    pc->loss = f[9] == 0 ? LOSS_MSE : LOSS_CE;
    pc->lr = o->data[0];
    pc->momentum = o->data[1];
    pc->weight_decay = o->data[2];
    return status ? -1 : read_batch(pc, f);
}

/* The model's parameter tensors in arena order, named after the fixture's init/ records in
 * file order (the script writes them in PyTorch parameters() order, which the arena follows). */
static int list_tensors(parity_case *pc) {
    size_t n = 0, next_init = 0;
    for (size_t i = 0; i < pc->model.n_layers; i++) {
        const bn_layer *l = &pc->model.layers[i];
        if (n + 2 > MAX_TENSORS) return -1;
        if (l->kind == LAYER_LINEAR) {
            pc->tensors[n++] =
                (param_tensor){l->weight, l->out_c * l->fan_in, NULL, l->fan_in, l->out_c};
            pc->tensors[n++] = (param_tensor){l->bias, l->out_c, NULL, 0, 0};
        } else if (l->kind == LAYER_CONV) {
            pc->tensors[n++] = (param_tensor){l->weight, l->n_weight, NULL, 0, 0};
            if (l->bias != BN_NONE)
                pc->tensors[n++] = (param_tensor){l->bias, l->out_c, NULL, 0, 0};
        } else if (l->kind == LAYER_BATCHNORM) {
            pc->tensors[n++] = (param_tensor){l->gamma, l->out_c, NULL, 0, 0};
            pc->tensors[n++] = (param_tensor){l->beta, l->out_c, NULL, 0, 0};
        }
    }
    pc->n_tensors = n;
    for (size_t k = 0; k < pc->fx->n_tensors; k++) {
        const fixture_tensor *t = &pc->fx->tensors[k];
        if (strncmp(t->name, "init/", 5) != 0) continue;
        if (next_init == n || t->count != pc->tensors[next_init].count) return -1;
        pc->tensors[next_init++].name = t->name + 5;
    }
    return next_init == n ? 0 : -1;
}

/* Initial parameters from the fixture; running statistics at PyTorch's 0 / 1, velocity 0. */
static void load_initial_state(parity_case *pc) {
    bn_model *m = &pc->model;
    char name[FIXTURE_MAX_NAME + 16];
    for (size_t i = 0; i < pc->n_tensors; i++) {
        const param_tensor *p = &pc->tensors[i];
        snprintf(name, sizeof name, "init/%s", p->name);
        const float *values = fixture_get(pc->fx, name)->data;
        if (p->in_dim)
            linear_weight_from_rows(m->params + p->offset, values, p->in_dim, p->out_dim);
        else
            memcpy(m->params + p->offset, values, p->count * sizeof(float));
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        if (l->kind != LAYER_BATCHNORM) continue;
        for (size_t c = 0; c < l->out_c; c++) {
            m->buffers[l->running_mean + c] = 0.0f;
            m->buffers[l->running_var + c] = 1.0f;
        }
    }
    memset(m->velocity, 0, m->n_params * sizeof(float));
    memcpy(pc->init_params, m->params, m->n_params * sizeof(float));
}

static int read_labels(parity_case *pc) {
    const float *labels = expect(pc, "labels", pc->batch);
    if (!labels) return -1;
    for (size_t i = 0; i < pc->batch; i++) {
        float v = labels[i];
        if (!(v >= 0.0f && v < (float)pc->model.spec.n_classes) || v != (float)(int)v) return -1;
        pc->labels[i] = (uint8_t)v;
    }
    return 0;
}

/* ---- the replayed steps ---- */

/* Train-mode forward, loss and backward into zeroed gradients; returns the loss. */
static double train_forward_backward(parity_case *pc, const float *input, const float **logits) {
    bn_model *m = &pc->model;
    *logits = model_forward(m, input, pc->batch, 1);
    double loss = loss_forward_backward(pc->loss, pc->dlogits, *logits, pc->labels, pc->batch,
                                        m->spec.n_classes);
    memset(m->grads, 0, m->n_params * sizeof(float));
    model_backward(m, input, pc->dlogits, pc->batch, 1);
    return loss;
}

static void sgd(parity_case *pc) {
    bn_model *m = &pc->model;
    size_t n_bad = sgd_step(m->params, m->grads, m->velocity, m->n_params, pc->lr, pc->momentum,
                            pc->weight_decay);
    CHECK_MSG(n_bad == 0, "%s: %zu non-finite parameters after a step", pc->case_name, n_bad);
}

static void compare_loss(const parity_case *pc, const char *name, double loss) {
    const float *ref = expect(pc, name, 1);
    if (ref) report(pc, name, fabs(loss - (double)ref[0]), fabs((double)ref[0]));
}

/* Gradients of the first step, each against max(its own scale, GRAD_FLOOR x the largest). */
static void compare_gradients(const parity_case *pc) {
    const bn_model *m = &pc->model;
    char name[FIXTURE_MAX_NAME + 16];
    const float *refs[MAX_TENSORS];
    double largest = 0.0;
    for (size_t i = 0; i < pc->n_tensors; i++) {
        snprintf(name, sizeof name, "grad/%s", pc->tensors[i].name);
        refs[i] = expect(pc, name, pc->tensors[i].count);
        if (refs[i]) largest = fmax(largest, max_abs(refs[i], pc->tensors[i].count));
    }
    for (size_t i = 0; i < pc->n_tensors; i++) {
        const param_tensor *p = &pc->tensors[i];
        if (!refs[i]) continue;
        snprintf(name, sizeof name, "grad/%s", p->name);
        double scale = fmax(max_abs(refs[i], p->count), GRAD_FLOOR * largest);
        report(pc, name, max_abs_diff(tensor_values(p, m->grads, pc->rows), refs[i], p->count),
               scale);
    }
}

/* Largest |ref - init| of one tensor: the size of its two-step update. */
static double update_size(const float *ref, const float *init, size_t n) {
    return max_abs_diff(ref, init, n);
}

/* Parameters after two steps, measured against the size of each tensor's update. */
static void compare_final_params(const parity_case *pc) {
    const bn_model *m = &pc->model;
    char name[FIXTURE_MAX_NAME + 16];
    const float *refs[MAX_TENSORS];
    double largest = 0.0;
    for (size_t i = 0; i < pc->n_tensors; i++) {
        const param_tensor *p = &pc->tensors[i];
        snprintf(name, sizeof name, "final/%s", p->name);
        refs[i] = expect(pc, name, p->count);
        if (refs[i])
            largest = fmax(largest, update_size(refs[i], tensor_values(p, pc->init_params, pc->rows),
                                                p->count));
    }
    for (size_t i = 0; i < pc->n_tensors; i++) {
        const param_tensor *p = &pc->tensors[i];
        if (!refs[i]) continue;
        snprintf(name, sizeof name, "final/%s", p->name);
        double scale = fmax(update_size(refs[i], tensor_values(p, pc->init_params, pc->rows),
                                        p->count),
                            GRAD_FLOOR * largest);
        report(pc, name, max_abs_diff(tensor_values(p, m->params, pc->rows), refs[i], p->count),
               scale);
    }
}

/* Running statistics, paired with the fixture's BatchNorm modules by the gamma's name "k.weight"
 * of the same module k. */
static void compare_running_stats(const parity_case *pc) {
    const bn_model *m = &pc->model;
    char name[FIXTURE_MAX_NAME + 32];
    size_t tensor = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        if (l->kind == LAYER_LINEAR) tensor += 2;
        if (l->kind == LAYER_CONV) tensor += l->bias == BN_NONE ? 1 : 2;
        if (l->kind != LAYER_BATCHNORM) continue;
        /* the module's path: the gamma's name without its last part ("layer1.0.bn1") */
        const char *gamma_name = pc->tensors[tensor].name;
        int module_len = (int)(strrchr(gamma_name, '.') ? strrchr(gamma_name, '.') - gamma_name
                                                        : (ptrdiff_t)strlen(gamma_name));
        snprintf(name, sizeof name, "running_mean/%.*s", module_len, gamma_name);
        compare_plain(pc, name, m->buffers + l->running_mean, l->out_c);
        snprintf(name, sizeof name, "running_var/%.*s", module_len, gamma_name);
        compare_plain(pc, name, m->buffers + l->running_var, l->out_c);
        tensor += 2;
    }
}

/* The first step's logits, loss and gradients, then as many further steps as the fixture has
 * losses for (loss2, loss3, ...), then the parameters, running statistics and eval logits. */
static void replay(parity_case *pc) {
    bn_model *m = &pc->model;
    const float *input = pc->input;
    size_t n_logits = pc->batch * m->spec.n_classes;
    const float *logits;
    double loss = train_forward_backward(pc, input, &logits);
    compare_plain(pc, "logits", logits, n_logits);
    compare_loss(pc, "loss", loss);
    compare_gradients(pc);
    sgd(pc);
    char name[16];
    for (int step = 2; snprintf(name, sizeof name, "loss%d", step), fixture_get(pc->fx, name);
         step++) {
        compare_loss(pc, name, train_forward_backward(pc, input, &logits));
        sgd(pc);
    }
    compare_final_params(pc);
    compare_running_stats(pc);
    compare_plain(pc, "eval_logits", model_forward(m, input, pc->batch, 0), n_logits);
}

/* ---- driver ---- */

/* dir/name.bin into path; a path too long for the buffer is an error, not a truncation. */
static int fixture_path(char *path, size_t size, const char *dir, const char *name) {
    int len = snprintf(path, size, "%s/%s.bin", dir, name);
    CHECK_MSG(len > 0 && (size_t)len < size, "fixture path too long: %s/%s.bin", dir, name);
    return len > 0 && (size_t)len < size ? 0 : -1;
}

/* A deep fixture's batch: the CIFAR-10 test images it names, which must be the ones it was
 * made from (the sum of the normalised input, and the labels). */
static int deep_input(parity_case *pc, const bn_dataset *cifar) {
    const fixture_tensor *source = fixture_get(pc->fx, "input_source");
    const float *sum_ref = expect(pc, "input_sum", 1), *labels = expect(pc, "labels", pc->batch);
    size_t first, size = model_input_size(&pc->model);
    if (!source || spec_field(source->data, 0, 10000, &first) || !sum_ref || !labels ||
        first + pc->batch > cifar->test.n || size != cifar->channels * cifar->height * cifar->width)
        return -1;
    bn_error err;
    pc->cifar_input = dataset_float_copy(cifar, &cifar->test, first, pc->batch, &err);
    if (!pc->cifar_input) return -1;
    pc->input = pc->cifar_input;
    double sum = 0.0;
    for (size_t i = 0; i < pc->batch * size; i++) sum += pc->input[i];
    int same = fabs(sum - sum_ref[0]) <= 1e-5 * fmax(1.0, fabs((double)sum_ref[0]));
    for (size_t i = 0; i < pc->batch; i++)
        same &= labels[i] == (float)cifar->test.labels[first + i];
    CHECK_MSG(same, "%s: the CIFAR-10 images differ from the fixture's (input sum %.6g, "
              "fixture %.6g): another copy of the data?", pc->case_name, sum, sum_ref[0]);
    return same ? 0 : -1;
}

/* The deep fixtures also record PyTorch's parameter count. */
static void compare_parameter_count(const parity_case *pc) {
    const fixture_tensor *count = fixture_get(pc->fx, "parameters");
    if (!count) return;
    size_t ours = model_parameter_count(&pc->model);
    CHECK_MSG(count->count == 1 && (double)count->data[0] == (double)ours,
              "%s: %zu parameters, PyTorch %.0f", pc->case_name, ours, count->data[0]);
    printf("%-13s parameters %zu\n", pc->case_name, ours);
}

/* cifar: the loaded CIFAR-10 for a deep case, NULL for the others (input in the fixture). */
static void run_case(const char *dir, const char *case_name, const bn_dataset *cifar) {
    char path[4096];
    if (fixture_path(path, sizeof path, dir, case_name)) return;
    fixture fx;
    bn_error err = {{0}};
    int loaded = fixture_load(&fx, path, &err) == 0;
    CHECK_MSG(loaded, "%s", err.msg);
    if (!loaded) return;
    parity_case pc = {.case_name = case_name, .fx = &fx};
    bn_model_spec spec;
    int ok = read_spec(&pc, &spec) == 0;
    CHECK_MSG(ok, "%s: bad spec, hidden, optim or input record", path);
    if (ok) {
        ok = model_create(&pc.model, &spec, pc.batch, &err) == 0;
        CHECK_MSG(ok, "%s: %s", path, err.msg);
    }
    if (ok) {
        ok = list_tensors(&pc) == 0;
        CHECK_MSG(ok, "%s: init/ records do not match the model's parameter tensors", path);
    }
    if (ok) {
        pc.labels = malloc(pc.batch);
        pc.dlogits = malloc(pc.batch * spec.n_classes * sizeof(float));
        pc.init_params = malloc(pc.model.n_params * sizeof(float));
        pc.rows = malloc(pc.model.n_params * sizeof(float));
        ok = pc.labels && pc.dlogits && pc.init_params && pc.rows && read_labels(&pc) == 0;
        CHECK_MSG(ok, "%s: out of memory or bad labels", path);
    }
    if (ok) {
        pc.input = cifar ? NULL : expect(&pc, "input", pc.batch * model_input_size(&pc.model));
        ok = cifar ? deep_input(&pc, cifar) == 0 : pc.input != NULL;
        CHECK_MSG(ok, "%s: no usable input", path);
    }
    if (ok) {
        compare_parameter_count(&pc);
        load_initial_state(&pc);
        replay(&pc);
    }
    free(pc.labels);
    free(pc.dlogits);
    free(pc.init_params);
    free(pc.rows);
    free(pc.cifar_input);
    if (pc.model.params) model_free(&pc.model);
    fixture_free(&fx);
}

/* ---- single layers (tests/fixtures/layers.bin) ----
 * The deep networks' layers one at a time: the output and every gradient against PyTorch's,
 * with the same error measure and PARITY_TOL. PyTorch's tensors are N x C x H x W; the
 * engine's conv blocks are channel-major (C x N x H x W), so each layer runs on that layout,
 * and also on PyTorch's where the engine takes it (max-pooling's planes, a convolution's
 * input), through flatten's reorderings. */

static const char *const conv_layer_names[] = {"conv_k1s2p0_bias", "conv_k1s2p0_nobias",
                                               "conv_k3s1p1_bias", "conv_k3s1p1_nobias"};

/* An N x C x H x W tensor into the given layout (flatten_backward turns N x (C P) rows into
 * C x N x P), and back. */
static void to_layout(float *dst, const float *src, const size_t dims[4], int channel_major) {
    if (channel_major)
        flatten_backward(dst, src, dims[0], dims[1], dims[2] * dims[3]);
    else
        memcpy(dst, src, dims[0] * dims[1] * dims[2] * dims[3] * sizeof(float));
}

static void from_layout(float *dst, const float *src, const size_t dims[4], int channel_major) {
    if (channel_major)
        flatten_forward(dst, src, dims[0], dims[1], dims[2] * dims[3]);
    else
        memcpy(dst, src, dims[0] * dims[1] * dims[2] * dims[3] * sizeof(float));
}

/* The record layer/what, or NULL; a missing record is a failed check unless optional. */
static const fixture_tensor *layer_tensor(const parity_case *pc, const char *layer,
                                          const char *what, int optional) {
    char name[FIXTURE_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s/%s", layer, what);
    const fixture_tensor *t = fixture_get(pc->fx, name);
    CHECK_MSG(t || optional, "%s: fixture has no record %s", pc->case_name, name);
    return t;
}

/* The record layer/what, which must hold count floats, or NULL (a failed check). */
static const float *layer_record(const parity_case *pc, const char *layer, const char *what,
                                 size_t count) {
    char name[FIXTURE_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s/%s", layer, what);
    return expect(pc, name, count);
}

static void compare_layer(const parity_case *pc, const char *layer, const char *what,
                          const float *values, size_t count) {
    char name[FIXTURE_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s/%s", layer, what);
    compare_plain(pc, name, values, count);
}

/* The dims of a 4-dimensional record layer/what into dims; its data, or NULL. */
static const float *layer_tensor4(const parity_case *pc, const char *layer, const char *what,
                                  size_t dims[4]) {
    const fixture_tensor *t = layer_tensor(pc, layer, what, 0);
    CHECK_MSG(!t || t->ndim == 4, "%s: %s/%s is not 4-dimensional", pc->case_name, layer, what);
    if (!t || t->ndim != 4) return NULL;
    for (size_t i = 0; i < 4; i++)
        dims[i] = t->dims[i];
    return t->data;
}

static size_t dims_count(const size_t dims[4]) {
    return dims[0] * dims[1] * dims[2] * dims[3];
}

/* Max-pooling on both layouts: the fixture's input has many ties and an odd side. */
static void parity_maxpool(const fixture *fx, int channel_major) {
    parity_case pc = {.case_name = channel_major ? "layer cnhw" : "layer nchw", .fx = fx};
    size_t dims[4];
    const float *x = layer_tensor4(&pc, "maxpool", "input", dims);
    if (!x) return;
    size_t pooled[4] = {dims[0], dims[1], maxpool_out_size(dims[2]), maxpool_out_size(dims[3])};
    size_t ni = dims_count(dims), no = dims_count(pooled);
    const float *dout_ref = layer_record(&pc, "maxpool", "dout", no);
    if (!dout_ref) return;
    float *in = malloc(ni * 4), *din = malloc(ni * 4), *din_ref_layout = malloc(ni * 4);
    float *out = malloc(no * 4), *dout = malloc(no * 4), *out_ref_layout = malloc(no * 4);
    to_layout(in, x, dims, channel_major);
    to_layout(dout, dout_ref, pooled, channel_major);
    maxpool_forward(out, in, dims[0] * dims[1], dims[2], dims[3]);
    maxpool_backward(din, dout, in, dims[0] * dims[1], dims[2], dims[3]);
    from_layout(out_ref_layout, out, pooled, channel_major);
    from_layout(din_ref_layout, din, dims, channel_major);
    compare_layer(&pc, "maxpool", "output", out_ref_layout, no);
    compare_layer(&pc, "maxpool", "din", din_ref_layout, ni);
    free(in), free(din), free(din_ref_layout), free(out), free(dout), free(out_ref_layout);
}

/* Global average pooling: channel-major in, N x C rows out. */
static void parity_avgpool(const fixture *fx) {
    parity_case pc = {.case_name = "layer cnhw", .fx = fx};
    size_t dims[4];
    const float *x = layer_tensor4(&pc, "avgpool", "input", dims);
    size_t n = dims[0], channels = dims[1], pixels = dims[2] * dims[3], ni = dims_count(dims);
    const float *dout = x ? layer_record(&pc, "avgpool", "dout", n * channels) : NULL;
    if (!dout) return;
    float *in = malloc(ni * 4), *din = malloc(ni * 4), *din_nchw = malloc(ni * 4);
    float *out = malloc(n * channels * 4);
    to_layout(in, x, dims, 1);
    global_avgpool_forward(out, in, n, channels, pixels);
    global_avgpool_backward(din, dout, n, channels, pixels);
    from_layout(din_nchw, din, dims, 1);
    compare_layer(&pc, "avgpool", "output", out, n * channels);
    compare_layer(&pc, "avgpool", "din", din_nchw, ni);
    free(in), free(din), free(din_nchw), free(out);
}

/* The block out = relu(x) + x, backward as residual.h prescribes: the ReLU writes dx, then
 * residual_backward adds the shortcut's dout. Elementwise, so the layout does not matter. */
static void parity_residual(const fixture *fx) {
    parity_case pc = {.case_name = "layer", .fx = fx};
    size_t dims[4];
    const float *x = layer_tensor4(&pc, "residual", "input", dims);
    size_t n = dims_count(dims);
    const float *dout = x ? layer_record(&pc, "residual", "dout", n) : NULL;
    if (!dout) return;
    float *y = malloc(n * 4), *out = malloc(n * 4), *dx = malloc(n * 4);
    relu_forward(y, x, n);
    residual_forward(out, y, x, n);
    relu_backward(dx, dout, y, n);
    residual_backward(dx, dout, n);
    compare_layer(&pc, "residual", "output", out, n);
    compare_layer(&pc, "residual", "din", dx, n);
    free(y), free(out), free(dx);
}

/* One convolution from either input layout (its output is always channel-major); bias and
 * dbias NULL where the fixture's layer has no bias. */
static void parity_conv(const fixture *fx, const char *layer, int channel_major) {
    parity_case pc = {.case_name = channel_major ? "layer cnhw" : "layer nchw", .fx = fx};
    size_t dims[4], wdims[4];
    const float *x = layer_tensor4(&pc, layer, "input", dims);
    const float *weight = x ? layer_tensor4(&pc, layer, "weight", wdims) : NULL;
    const float *geometry = weight ? layer_record(&pc, layer, "geometry", 3) : NULL;
    if (!geometry) return;
    size_t k = (size_t)geometry[0], stride = (size_t)geometry[1], pad = (size_t)geometry[2];
    size_t batch = dims[0], out_h = conv_out_size(dims[2], k, stride, pad);
    size_t out_w = conv_out_size(dims[3], k, stride, pad);
    conv_shape shape = {dims[1], dims[2], dims[3], wdims[0], out_h, out_w, k, stride, pad};
    size_t out_dims[4] = {batch, wdims[0], out_h, out_w};
    size_t ni = dims_count(dims), nw = dims_count(wdims), no = dims_count(out_dims);
    CHECK_MSG(wdims[1] == dims[1] && wdims[2] == k && wdims[3] == k && out_h && out_w,
              "%s: weight, input and geometry disagree", layer);
    const fixture_tensor *bias = layer_tensor(&pc, layer, "bias", 1);
    const float *dout_ref = layer_record(&pc, layer, "dout", no);
    if (!dout_ref || wdims[1] != dims[1] || wdims[2] != k || (bias && bias->count != wdims[0]))
        return;
    float *in = malloc(ni * 4), *din = malloc(ni * 4), *din_ref_layout = malloc(ni * 4);
    float *out = malloc(no * 4), *out_nchw = malloc(no * 4), *dout = malloc(no * 4);
    float *dweight = malloc(nw * 4), *dbias = malloc(wdims[0] * 4);
    to_layout(in, x, dims, channel_major);
    conv_forward(out, in, channel_major, weight, bias ? bias->data : NULL, &shape, batch);
    from_layout(out_nchw, out, out_dims, 1);
    compare_layer(&pc, layer, "output", out_nchw, no);
    to_layout(dout, dout_ref, out_dims, 1);
    conv_backward(din, dweight, bias ? dbias : NULL, dout, in, channel_major, weight, &shape, batch,
                  0);
    from_layout(din_ref_layout, din, dims, channel_major);
    compare_layer(&pc, layer, "din", din_ref_layout, ni);
    compare_layer(&pc, layer, "dweight", dweight, nw);
    if (bias) compare_layer(&pc, layer, "dbias", dbias, wdims[0]);
    free(in), free(din), free(din_ref_layout), free(out), free(out_nchw), free(dout);
    free(dweight), free(dbias);
}

static void run_layer_cases(const char *dir) {
    char path[4096];
    if (fixture_path(path, sizeof path, dir, "layers")) return;
    fixture fx;
    bn_error err = {{0}};
    int loaded = fixture_load(&fx, path, &err) == 0;
    CHECK_MSG(loaded, "%s", err.msg);
    if (!loaded) return;
    for (int channel_major = 0; channel_major < 2; channel_major++) {
        parity_maxpool(&fx, channel_major);
        for (size_t i = 0; i < sizeof conv_layer_names / sizeof *conv_layer_names; i++)
            parity_conv(&fx, conv_layer_names[i], channel_major);
    }
    parity_avgpool(&fx);
    parity_residual(&fx);
    fixture_free(&fx);
}

/* Parses a byte buffer as a fixture and releases it; returns the parse status. */
static int parse_bytes(const unsigned char *bytes, size_t size, bn_error *err) {
    fixture fx = {0, NULL};
    int status = fixture_parse(&fx, bytes, size, "corrupt", err);
    fixture_free(&fx);
    return status;
}

/* A corrupt fixture must be refused with a message, never read past its end (run under the
 * sanitizers, an over-read here is an error): every short prefix of a real fixture, a sample
 * of longer ones, a trailing byte, a wrong magic and an absurd name length. */
static void test_corrupt_fixtures(const char *dir) {
    char path[4096];
    bn_error err = {{0}};
    fixture fx;
    CHECK(fixture_load(&fx, "/nonexistent/fixture.bin", &err) != 0 && err.msg[0]);
    if (fixture_path(path, sizeof path, dir, case_names[0])) return;
    FILE *f = fopen(path, "rb");
    long size = f ? fixture_file_size(f) : -1;
    unsigned char *bytes = size > 0 ? malloc((size_t)size + 1) : NULL;
    int ok = bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size;
    if (f) fclose(f);
    CHECK_MSG(ok, "%s: cannot read", path);
    if (ok) {
        size_t n = (size_t)size;
        CHECK(parse_bytes(bytes, n, &err) == 0);
        for (size_t len = 0; len < n; len += len < 64 ? 1 : 509)
            CHECK_MSG(parse_bytes(bytes, len, &err) != 0, "prefix of %zu bytes accepted", len);
        CHECK(parse_bytes(bytes, n - 1, &err) != 0);
        bytes[n] = 0;
        CHECK(parse_bytes(bytes, n + 1, &err) != 0);
        printf("trailing byte refused: %s\n", err.msg);
        bytes[12] = 0xff; /* first record's name length: 255 + bytes that are not a name */
        CHECK(parse_bytes(bytes, n, &err) != 0);
        bytes[0] = 'X';
        CHECK(parse_bytes(bytes, n, &err) != 0);
        printf("bad magic refused: %s\n", err.msg);
    }
    free(bytes);
}

static void fixture_dir(char *dir, size_t size) {
    int length = snprintf(dir, size, "%s/tests/fixtures", check_source_dir());
    CHECK_MSG(length > 0 && (size_t)length < size, "fixture folder path too long");
}

/* Run by hand, from build/ or any folder and without ctest's environment, the test must still
 * find its fixtures (it once looked only under the current folder). */
static void test_fixtures_found_from_anywhere(void) {
    char dir[4096], path[4200];
    unsetenv("BNTRAIN_SOURCE_DIR");
    CHECK(chdir("/") == 0);
    fixture_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s.bin", dir, case_names[0]);
    fixture fx;
    bn_error err = {""};
    CHECK_MSG(fixture_load(&fx, path, &err) == 0, "from /, without BNTRAIN_SOURCE_DIR: %s",
              err.msg);
    fixture_free(&fx);
}

static void run_deep_cases(const char *dir) {
    const char *data = check_shared_data_with("cifar10");
    if (!data) {
        check_skip("PyTorch parity of vgg16 and the preact-resnets: they run on CIFAR-10 test "
                   "images, and there is no cifar10/ in the shared data");
        return;
    }
    bn_dataset cifar;
    bn_error err = {{0}};
    int loaded = dataset_load(&cifar, "cifar10", data, &err) == 0;
    CHECK_MSG(loaded, "loading CIFAR-10: %s", err.msg);
    if (!loaded) return;
    for (size_t i = 0; i < sizeof deep_case_names / sizeof deep_case_names[0]; i++)
        run_case(dir, deep_case_names[i], &cifar);
    dataset_free(&cifar);
}

int main(void) {
    char dir[4096];
    fixture_dir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof case_names / sizeof case_names[0]; i++)
        run_case(dir, case_names[i], NULL);
    run_deep_cases(dir);
    run_layer_cases(dir);
    test_corrupt_fixtures(dir);
    test_fixtures_found_from_anywhere();
    return check_summary("test_parity");
}
