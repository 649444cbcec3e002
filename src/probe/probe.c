/* bntrain probe's measurements (bntrain/probe.h says what each is): one train-mode forward and
 * backward over the probe's images, then per weight layer its pre-activations' channel
 * moments, its weight gradient, and the spectra of its Fisher block's Kronecker factors. */
#include "bntrain/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/linear.h"
#include "probe/spectrum.h"

/* Examples gathered per pass over a moment matrix: large enough to amortise a pass over its
 * rows, small enough to stay in cache (256 x 2048 floats: 2 MB). */
enum { PROBE_CHUNK_EXAMPLES = 256 };

static int is_weight_layer(const bn_layer *l) {
    return l->kind == LAYER_LINEAR || l->kind == LAYER_CONV;
}

/* An activation tensor of a batch of n samples, NCHW or channel-major (CNHW). */
typedef struct {
    const float *data;
    size_t n, c, hw;
    int channel_major;
} tensor_view;

static float tensor_at(const tensor_view *t, size_t sample, size_t channel, size_t pixel) {
    size_t at = t->channel_major ? (channel * t->n + sample) * t->hw + pixel
                                 : (sample * t->c + channel) * t->hw + pixel;
    return t->data[at];
}

/* Layer i's input: the network input or an earlier layer's output. */
static tensor_view layer_input_view(const bn_model *m, const float *images, size_t i, size_t n) {
    const bn_layer *l = &m->layers[i];
    tensor_view v = {.n = n, .c = l->in_c, .hw = l->in_h * l->in_w};
    if (l->input == BN_NONE) {
        v.data = images;
    } else {
        v.data = m->acts + m->layers[l->input].output;
        v.channel_major = m->layers[l->input].channel_major;
    }
    return v;
}

static tensor_view layer_output_view(const bn_model *m, const float *base, size_t i, size_t n) {
    const bn_layer *l = &m->layers[i];
    return (tensor_view){.data = base + l->output,
                         .n = n,
                         .c = l->out_c,
                         .hw = l->out_h * l->out_w,
                         .channel_major = l->channel_major};
}

static double mean_of(const double *v, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s / (double)n;
}

/* Population standard deviation (ddof 0): the spread of the values themselves. */
static double std_of(const double *v, size_t n) {
    double mean = mean_of(v, n), s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (v[i] - mean) * (v[i] - mean);
    return sqrt(s / (double)n);
}

/* |channel mean| and channel variance (biased, as BatchNorm normalises with) of the
 * pre-activations, each summarised by its mean and spread over channels. */
static int channel_rows(bn_probe_report *r, size_t layer, const tensor_view *out, bn_error *err) {
    double *abs_mean = malloc(out->c * sizeof *abs_mean), *var = malloc(out->c * sizeof *var);
    if (!abs_mean || !var) {
        free(abs_mean);
        free(var);
        return bn_fail(err, "probe: out of memory for %zu channels", out->c);
    }
    double count = (double)(out->n * out->hw);
    for (size_t c = 0; c < out->c; c++) {
        double sum = 0.0, sq = 0.0;
        for (size_t b = 0; b < out->n; b++)
            for (size_t p = 0; p < out->hw; p++)
                sum += tensor_at(out, b, c, p);
        double mean = sum / count;
        for (size_t b = 0; b < out->n; b++)
            for (size_t p = 0; p < out->hw; p++) {
                double d = tensor_at(out, b, c, p) - mean;
                sq += d * d;
            }
        abs_mean[c] = fabs(mean);
        var[c] = sq / count;
    }
    int bad = probe_report_add(r, layer, "channel_mean_abs", mean_of(abs_mean, out->c),
                               std_of(abs_mean, out->c), err);
    bad = bad ||
          probe_report_add(r, layer, "channel_var", mean_of(var, out->c), std_of(var, out->c), err);
    free(abs_mean);
    free(var);
    return bad ? -1 : 0;
}

/* The Frobenius norm of a weight-shaped tensor of layer l: a linear layer's by its entries
 * (the panel layout's padding is not part of W, and its gradient there is not written). */
static double weight_norm(const float *w, const bn_layer *l) {
    double s = 0.0;
    if (l->kind == LAYER_LINEAR) {
        for (size_t o = 0; o < l->out_c; o++)
            for (size_t i = 0; i < l->fan_in; i++) {
                double v = w[linear_weight_at(l->fan_in, o, i)];
                s += v * v;
            }
    } else {
        for (size_t i = 0; i < l->n_weight; i++)
            s += (double)w[i] * w[i];
    }
    return sqrt(s);
}

static int gradient_rows(bn_probe_report *r, size_t layer, const bn_model *m, const bn_layer *l,
                         double *grad_sq_total, bn_error *err) {
    double grad = weight_norm(m->grads + l->weight, l);
    double weight = weight_norm(m->params + l->weight, l);
    *grad_sq_total += grad * grad;
    if (probe_report_add(r, layer, "grad_norm", grad, NAN, err) ||
        probe_report_add(r, layer, "weight_norm", weight, NAN, err) ||
        probe_report_add(r, layer, "grad_to_weight", grad / weight, NAN, err))
        return -1;
    return 0;
}

/* The examples of a weight layer's Kronecker factors: example e is sample e / positions at
 * output position e % positions (a conv layer's every spatial position is an example, as in
 * paper 003; a linear layer has one position). */
typedef struct {
    const bn_layer *layer;
    tensor_view in, dout;
    size_t positions;
    double gradient_scale; /* batch: sample b's own gradient from the batch-mean loss's */
} factor_source;

/* The layer input that example e multiplies: a row of a linear layer's input, or the
 * convolution's patch (Cin x K x K, the weight's order; zero padding). */
static void gather_input(const factor_source *s, size_t e, float *x) {
    const bn_layer *l = s->layer;
    size_t b = e / s->positions, pos = e % s->positions;
    if (l->kind == LAYER_LINEAR) {
        for (size_t k = 0; k < l->fan_in; k++)
            x[k] = tensor_at(&s->in, b, k / s->in.hw, k % s->in.hw);
        return;
    }
    const conv_shape *c = &l->conv;
    size_t oy = pos / c->out_width, ox = pos % c->out_width, k = 0;
    for (size_t ch = 0; ch < c->in_channels; ch++)
        for (size_t ky = 0; ky < c->kernel; ky++)
            for (size_t kx = 0; kx < c->kernel; kx++, k++) {
                /* unsigned wrap-around makes a position left of or above the image huge */
                size_t iy = oy * c->stride + ky - c->padding;
                size_t ix = ox * c->stride + kx - c->padding;
                x[k] = iy < c->in_height && ix < c->in_width
                           ? tensor_at(&s->in, b, ch, iy * c->in_width + ix)
                           : 0.0f;
            }
}

static void gather_gradient(const factor_source *s, size_t e, float *g) {
    size_t b = e / s->positions, pos = e % s->positions;
    for (size_t c = 0; c < s->layer->out_c; c++)
        g[c] = (float)(s->gradient_scale * tensor_at(&s->dout, b, c, pos));
}

typedef void (*gather_fn)(const factor_source *s, size_t e, float *out);

/* E[v v^T] over the layer's examples, and its spectrum into eigenvalues[d]. */
static int factor_spectrum(const factor_source *s, gather_fn gather, size_t d, size_t threads,
                           double *eigenvalues, bn_error *err) {
    size_t examples = s->in.n * s->positions;
    double *moment = calloc(d * d, sizeof *moment);
    float *chunk = malloc(PROBE_CHUNK_EXAMPLES * d * sizeof *chunk);
    if (!moment || !chunk) {
        free(moment);
        free(chunk);
        return bn_fail(err, "probe: out of memory for a %zu x %zu covariance", d, d);
    }
    for (size_t e0 = 0; e0 < examples; e0 += PROBE_CHUNK_EXAMPLES) {
        size_t rows = examples - e0 < PROBE_CHUNK_EXAMPLES ? examples - e0 : PROBE_CHUNK_EXAMPLES;
        for (size_t r = 0; r < rows; r++)
            gather(s, e0 + r, chunk + r * d);
        moment_accumulate(moment, chunk, rows, d, threads);
    }
    for (size_t i = 0; i < d * d; i++)
        moment[i] /= (double)examples;
    int status = probe_symmetric_eigenvalues(moment, d, eigenvalues, err);
    free(moment);
    free(chunk);
    return status;
}

/* The rows of one factor ("input_cov" or "outgrad_cov"): its dimension always, its spectrum's
 * summary unless it was skipped. */
static int factor_rows(bn_probe_report *r, size_t layer, const char *factor, size_t d,
                       const double *eigenvalues, spectrum_summary *s, bn_error *err) {
    char name[32];
    snprintf(name, sizeof name, "%s_dim", factor);
    if (probe_report_add(r, layer, name, (double)d, NAN, err)) return -1;
    if (!eigenvalues) return 0;
    spectrum_summarise(eigenvalues, d, s);
    const struct {
        const char *suffix;
        double value;
    } parts[] = {{"lambda_max", s->lambda_max},
                 {"lambda_min", s->lambda_min},
                 {"cond", s->condition},
                 {"rank", (double)s->rank}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        snprintf(name, sizeof name, "%s_%s", factor, parts[i].suffix);
        if (probe_report_add(r, layer, name, parts[i].value, NAN, err)) return -1;
    }
    return 0;
}

static int kronecker_rows(bn_probe_report *r, size_t layer, bn_probe_layer *pl,
                          const factor_source *s, const bn_probe_config *cfg, bn_error *err) {
    size_t max_dim = cfg->eig_max_dim ? cfg->eig_max_dim : BN_PROBE_EIG_MAX_DIM;
    pl->x_dim = s->layer->fan_in;
    pl->g_dim = s->layer->out_c;
    if (pl->x_dim <= max_dim) {
        pl->x_eigenvalues = malloc(pl->x_dim * sizeof(double));
        if (!pl->x_eigenvalues) return bn_fail(err, "probe: out of memory");
        if (factor_spectrum(s, gather_input, pl->x_dim, cfg->threads, pl->x_eigenvalues, err))
            return -1;
    }
    if (pl->g_dim <= max_dim) {
        pl->g_eigenvalues = malloc(pl->g_dim * sizeof(double));
        if (!pl->g_eigenvalues) return bn_fail(err, "probe: out of memory");
        if (factor_spectrum(s, gather_gradient, pl->g_dim, cfg->threads, pl->g_eigenvalues, err))
            return -1;
    }
    spectrum_summary x = {0}, g = {0};
    if (factor_rows(r, layer, "input_cov", pl->x_dim, pl->x_eigenvalues, &x, err) ||
        factor_rows(r, layer, "outgrad_cov", pl->g_dim, pl->g_eigenvalues, &g, err))
        return -1;
    if (!pl->x_eigenvalues || !pl->g_eigenvalues) return 0;
    /* Paper 003, Proposition 1: the spectrum of A (x) B is the products of the factors'. */
    if (probe_report_add(r, layer, "fisher_block_lambda_max", x.lambda_max * g.lambda_max, NAN,
                         err) ||
        probe_report_add(r, layer, "fisher_block_cond", x.condition * g.condition, NAN, err))
        return -1;
    return 0;
}

/* Per class j, |mean over the batch of dL_b/dz_j| (value) and its standard deviation over
 * the batch (spread), at the output layer; their mean ratio at `all`. */
static int output_gradient_rows(bn_probe_report *r, size_t layer, const float *dlogits, size_t n,
                                size_t n_classes, bn_error *err) {
    double ratio_sum = 0.0;
    size_t ratios = 0;
    for (size_t j = 0; j < n_classes; j++) {
        double sum = 0.0, sq = 0.0;
        for (size_t b = 0; b < n; b++)
            sum += (double)n * dlogits[b * n_classes + j];
        double mean = sum / (double)n;
        for (size_t b = 0; b < n; b++) {
            double d = (double)n * dlogits[b * n_classes + j] - mean;
            sq += d * d;
        }
        double std = sqrt(sq / (double)n);
        char name[64];
        snprintf(name, sizeof name, "dlogit_class_%zu", j);
        if (probe_report_add(r, layer, name, fabs(mean), std, err)) return -1;
        if (std > 0.0) {
            ratio_sum += fabs(mean) / std;
            ratios++;
        }
    }
    return probe_report_add(r, BN_PROBE_ALL, "dlogit_mean_to_std",
                            ratios ? ratio_sum / (double)ratios : NAN, NAN, err);
}

static int probe_layers(bn_model *m, const float *images, size_t n, const bn_probe_config *cfg,
                        bn_probe_report *r, bn_error *err) {
    double grad_sq = 0.0;
    for (size_t i = 0, k = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        if (!is_weight_layer(l)) continue;
        bn_probe_layer *pl = &r->layers[k++];
        pl->model_layer = i;
        factor_source s = {.layer = l,
                           .in = layer_input_view(m, images, i, n),
                           .dout = layer_output_view(m, m->dacts, i, n),
                           .positions = l->out_h * l->out_w,
                           .gradient_scale = (double)n};
        tensor_view out = layer_output_view(m, m->acts, i, n);
        if (channel_rows(r, k, &out, err) || gradient_rows(r, k, m, l, &grad_sq, err) ||
            kronecker_rows(r, k, pl, &s, cfg, err))
            return -1;
    }
    return probe_report_add(r, BN_PROBE_ALL, "grad_norm", sqrt(grad_sq), NAN, err);
}

int probe_run(bn_model *m, const float *images, const uint8_t *labels, size_t n, bn_loss loss,
              const bn_probe_config *cfg, bn_probe_report *r, bn_error *err) {
    memset(r, 0, sizeof *r);
    if (n == 0 || n > m->max_batch)
        return bn_fail(err, "probe: %zu samples, the model takes 1 to %zu", n, m->max_batch);
    for (size_t i = 0; i < m->n_layers; i++)
        r->n_layers += is_weight_layer(&m->layers[i]);
    size_t n_classes = m->spec.n_classes;
    r->layers = calloc(r->n_layers, sizeof *r->layers);
    float *dlogits = malloc(n * n_classes * sizeof *dlogits);
    if (!r->layers || !dlogits) {
        free(dlogits);
        return bn_fail(err, "probe: out of memory");
    }
    const float *logits = model_forward(m, images, n, 1);
    double batch_loss = loss_forward_backward(loss, dlogits, logits, labels, n, n_classes);
    model_backward_overwrite(m, images, dlogits, n, 1);
    int status = probe_report_add(r, BN_PROBE_ALL, "loss", batch_loss, NAN, err);
    if (!status) status = probe_layers(m, images, n, cfg, r, err);
    if (!status) status = output_gradient_rows(r, r->n_layers, dlogits, n, n_classes, err);
    free(dlogits);
    return status;
}
