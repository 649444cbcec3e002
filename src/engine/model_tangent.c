/* The model's forward-mode derivative, J v for a parameter direction v: one pass over the
 * layer list, each layer's tangent (layers.h) from its input's tangent and its parameters'
 * directions. Used for the Fisher's F v = J^T (J v) (fisher.c). Unfused and unthreaded
 * except inside the products: it runs a few dozen times per measurement, never per step. */
#include "bntrain/model.h"

#include "bntrain/layers.h"
#include "engine/model_access.h"

size_t model_tangent_scratch_floats(const bn_model *m, size_t n) {
    size_t floats = 1;
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_CONV && out_floats(&m->layers[i], n) > floats)
            floats = out_floats(&m->layers[i], n);
    return floats;
}

/* The tangent of layer `layer`'s output; NULL for the network input, which no parameter
 * moves. */
static const float *tangent_of(const bn_model *m, const float *tangents, size_t layer) {
    return layer == BN_NONE ? NULL : tangents + m->layers[layer].output;
}

static void batchnorm_layer_tangent(const bn_model *m, const bn_layer *l, float *dout,
                                    const float *in, const float *din, const float *dparams,
                                    size_t n, int train) {
    const float *p = m->params, *s = m->stats, *b = m->buffers;
    size_t bn_batch, bn_spatial;
    batchnorm_view(l, n, &bn_batch, &bn_spatial);
    if (train)
        batchnorm_tangent(dout, in, din, s + l->save_mean, s + l->save_rstd, p + l->gamma,
                          dparams + l->gamma, dparams + l->beta, bn_batch, l->out_c, bn_spatial);
    else
        batchnorm_tangent_eval(dout, in, din, p + l->gamma, dparams + l->gamma, dparams + l->beta,
                               b + l->running_mean, b + l->running_var, bn_batch, l->out_c,
                               bn_spatial);
}

static void layer_tangent(const bn_model *m, size_t i, const float *input, const float *dparams,
                          float *tangents, float *scratch, size_t n, int train) {
    const bn_layer *l = &m->layers[i];
    const float *in = layer_input(m, input, i), *p = m->params;
    const float *din = tangent_of(m, tangents, l->input);
    float *dout = tangents + l->output;
    switch (l->kind) {
    case LAYER_LINEAR:
        linear_tangent(dout, in, din, p + l->weight, dparams + l->weight, dparams + l->bias, n,
                       l->fan_in, l->out_c);
        break;
    case LAYER_CONV:
        conv_tangent(dout, scratch, in, din, input_channel_major(m, i), p + l->weight,
                     dparams + l->weight, l->bias == BN_NONE ? NULL : dparams + l->bias, &l->conv,
                     n);
        break;
    case LAYER_BATCHNORM:
        batchnorm_layer_tangent(m, l, dout, in, din, dparams, n, train);
        break;
    case LAYER_RELU:
        relu_tangent(dout, din, m->acts + l->output, out_floats(l, n));
        break;
    case LAYER_FLATTEN:
        flatten_tangent(dout, din, n, l->in_c, l->in_h * l->in_w);
        break;
    case LAYER_MAXPOOL:
        maxpool_tangent(dout, din, in, n * l->in_c, l->in_h, l->in_w);
        break;
    case LAYER_AVGPOOL:
        global_avgpool_tangent(dout, din, n, l->in_c, l->in_h * l->in_w);
        break;
    case LAYER_RESIDUAL:
        residual_tangent(dout, din, tangent_of(m, tangents, l->shortcut), out_floats(l, n));
        break;
    }
}

const float *model_tangent(const bn_model *m, const float *input, const float *dparams,
                           float *tangents, float *scratch, size_t n, int train) {
    for (size_t i = 0; i < m->n_layers; i++)
        layer_tangent(m, i, input, dparams, tangents, scratch, n, train);
    return tangents + m->layers[m->n_layers - 1].output;
}
