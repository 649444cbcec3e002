/* A network built from a small spec: the paper's fc and cnn nets (hidden blocks of Linear|Conv
 * -> [BatchNorm] -> ReLU, then a linear output layer, after a flatten for conv nets, whose
 * activations are channel-major) and the deep networks of its Fig. 4 (VGG16, PreAct-ResNet).
 * One arena each for parameters, gradients, optimiser state, BN running statistics and
 * activations, allocated once by model_create; forward and backward allocate nothing. */
#ifndef BNTRAIN_MODEL_H
#define BNTRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/conv.h"
#include "bntrain/error.h"
#include "bntrain/rng.h"

/* The most hidden layers of an fc or cnn net: 64, room for the BN-ReLU fc nets of depth up
 * to 50 whose gradients paper 004 follows (issue 22). Only fixed-size arrays in specs, configs
 * and the theory's per-layer results depend on it (a few kB); nothing is allocated by it. */
#define BN_MAX_HIDDEN 64
/* The most layers a network may have (preact-resnet1202 has 4,207; the list is sized exactly
 * once built). */
#define BN_MAX_LAYERS 8192
/* An offset or layer index that is not there: a layer without bias, the network's input. */
#define BN_NONE ((size_t)-1)

/* fc and cnn: the paper's mean-field networks (section 4). vgg16 and preact-resnet: the deep
 * networks of its Fig. 4 and of paper 001; architectures.c says what each is, layer by
 * layer, and which PyTorch model it matches. */
typedef enum { ARCH_FC, ARCH_CNN, ARCH_VGG16, ARCH_PREACT_RESNET } bn_arch;

/* How model_init draws the weights: the paper's N(0, sigma_w^2 / fan_in) and N(0, sigma_b^2),
 * or PyTorch's default for Conv2d and Linear (kaiming_uniform_ with a = sqrt(5), that is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases), which the deep
 * networks' reference code uses. */
typedef enum { INIT_GAUSSIAN, INIT_PYTORCH } bn_init;

typedef struct {
    bn_arch arch;
    size_t in_channels, in_height, in_width;
    size_t n_hidden;                /* fc and cnn */
    size_t hidden[BN_MAX_HIDDEN];   /* units (fc) or channels (cnn) of each hidden layer */
    size_t kernel, stride, padding; /* cnn only */
    size_t depth;                   /* preact-resnet: 18, or 6n + 2 (20, 56, 110, ...) */
    double width_mult;              /* vgg16, preact-resnet: every channel count times this */
    size_t n_classes;
    int batchnorm;                  /* 1: Linear|Conv -> BN -> ReLU; 0: Linear|Conv -> ReLU */
    bn_init init;
} bn_model_spec;

/* The paper's architectures (section 4) for an input of the given shape:
 * fc: 1000-1000-1000, cnn: 30-60-90 channels, 3x3 kernels, stride 2, no padding. */
void model_spec_paper(bn_model_spec *spec, bn_arch arch, size_t channels, size_t height,
                      size_t width, int batchnorm);
/* A deep network (ARCH_VGG16 or ARCH_PREACT_RESNET of the given depth) for an input of the
 * given shape: BatchNorm on, PyTorch's initialisation, width_mult 1. */
void model_spec_deep(bn_model_spec *spec, bn_arch arch, size_t depth, size_t channels,
                     size_t height, size_t width);
/* Checks that the spec describes a network that fits its input; fills err otherwise. */
int model_spec_check(const bn_model_spec *spec, bn_error *err);
/* "fc", "cnn", "vgg16", "preact-resnet"; arch_label writes the full name ("preact-resnet18"). */
const char *arch_name(bn_arch arch);
void arch_label(const bn_model_spec *spec, char *label, size_t size);
/* The arch and depth an --arch name means ("fc", "cnn", "vgg16", "preact-resnet18",
 * "preact-resnet110"); -1 if it names none. */
int arch_from_name(const char *name, bn_arch *arch, size_t *depth);
/* vgg16 and preact-resnet: the networks of Fig. 4, with their own defaults (initialisation,
 * augmentation) and no mean-field theory. */
int arch_is_deep(bn_arch arch);

typedef enum {
    LAYER_LINEAR,
    LAYER_CONV,
    LAYER_BATCHNORM,
    LAYER_RELU,
    LAYER_FLATTEN,
    LAYER_MAXPOOL,
    LAYER_AVGPOOL,
    LAYER_RESIDUAL
} bn_layer_kind;

/* The model is a plain list of layers run in order, as darknet's: each layer reads the
 * output of one earlier layer (`input`, usually the one before it), and a residual layer adds
 * a second one (`shortcut`). A list keeps one loop and one switch for every network, and a
 * ResNet needs nothing more than those two indices; a general graph would buy nothing the
 * paper's networks use. */
typedef struct {
    bn_layer_kind kind;
    size_t input;               /* the layer whose output this one reads; BN_NONE: the network
                                   input */
    size_t shortcut;            /* LAYER_RESIDUAL: the layer whose output is added */
    size_t in_c, in_h, in_w;    /* per-sample input shape */
    size_t out_c, out_h, out_w; /* per-sample output shape */
    int channel_major;          /* output stored C x N x H x W (conv blocks), else N x C x H x W */
    /* Whether the gradient this layer sends to its input (shortcut) must be added to what a
     * later layer of the list, which read the same activation, wrote there first: the backward
     * walk goes from the last layer to the first, and the first writer writes (layers.h). */
    int add_input_grad, add_shortcut_grad;
    conv_shape conv;            /* LAYER_CONV */
    size_t weight, bias;        /* offsets into params (LAYER_LINEAR, LAYER_CONV); bias BN_NONE:
                                   none (a convolution followed by BatchNorm) */
    size_t gamma, beta;         /* offsets into params (LAYER_BATCHNORM) */
    size_t running_mean, running_var; /* offsets into buffers (LAYER_BATCHNORM) */
    size_t save_mean, save_rstd, save_var; /* offsets into stats (LAYER_BATCHNORM) */
    size_t output;              /* offset of the output in acts / dacts (a BatchNorm read by
                                   the ReLU after it alone shares the ReLU's: model_build.c) */
    size_t n_weight;            /* weight floats (fan_in * out for linear/conv) */
    size_t fan_in;              /* in_dim (linear) or Cin * K * K (conv) */
    size_t n_consumers;         /* layers that read this one's output */
} bn_layer;

typedef struct {
    bn_model_spec spec;
    size_t max_batch;
    size_t n_layers;
    bn_layer *layers; /* n_layers, allocated by model_plan */
    size_t n_params;
    float *params, *grads, *velocity;
    size_t n_buffers;
    float *buffers;   /* BN running mean and variance */
    size_t n_stats;
    float *stats;     /* BN batch mean, rstd and variance of the last train forward */
    size_t n_acts;    /* floats per arena: every layer's output for max_batch samples */
    float *acts, *dacts;
    /* Where a layer whose add_input_grad is set writes its input gradient before it is added
     * (n_grad_scratch floats; NULL in networks without such a layer). */
    size_t n_grad_scratch;
    float *grad_scratch;
    /* NULL, or where train-mode passes add the seconds each layer took: [i] forward and
     * [BN_MAX_LAYERS + i] backward of layer i (a fused BatchNorm + ReLU under the BatchNorm's
     * index); for bench_throughput --layers */
    double *layer_seconds;
} bn_model;

/* Lays out the layers and sizes the arenas for batches of up to max_batch samples, allocating
 * only the layer list (model_create then allocates the arenas; a caller can check first that
 * they fit). model_free releases a plan too. */
int model_plan(bn_model *model, const bn_model_spec *spec, size_t max_batch, bn_error *err);
/* Allocates every arena for batches of up to max_batch samples. */
int model_create(bn_model *model, const bn_model_spec *spec, size_t max_batch, bn_error *err);
/* The bytes model_create allocates for its arenas, from a plan (or a created model). */
size_t model_bytes(const bn_model *model);
/* The same for a spec and batch, planned and released here: 0, or -1 with err. */
int model_plan_bytes(const bn_model_spec *spec, size_t max_batch, size_t *bytes, bn_error *err);
/* The scratch memory its passes keep besides the arenas (conv_scratch_floats, and the GEMM's
 * packing buffers), in bytes: what each run holds, and what each thread that works for a run
 * holds. Never freed before the thread ends, so the memory check adds them. */
int model_plan_scratch_bytes(const bn_model_spec *spec, size_t max_batch, size_t *per_run,
                             size_t *per_thread, bn_error *err);
void model_free(bn_model *model);

/* The initial state: with spec.init = INIT_GAUSSIAN the paper's mean-field ensemble, W ~ N(0,
 * sigma_w2 / fan_in), b ~ N(0, sigma_b2); with INIT_PYTORCH, W and b ~ U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) (sigma_w2 and sigma_b2 unused). Either way BN scale = gamma, shift = 0,
 * running mean 0 and variance 1, velocity 0. Draws in layer order, weights then biases, from
 * rng (double-precision draws rounded to float). */
void model_init(bn_model *model, double gamma, double sigma_w2, double sigma_b2, bn_rng *rng);

/* Forward n <= max_batch samples (input n x in_c x in_h x in_w); returns the logits (n x
 * n_classes, inside acts). train = 1 uses batch statistics and updates running statistics. */
const float *model_forward(bn_model *model, const float *input, size_t n, int train);
/* Backward of the last forward: adds the parameter gradients to grads (so that gradients
 * of several chunks of samples can be summed). train must match the forward (0: BN statistics
 * held fixed, as in population mode). */
void model_backward(bn_model *model, const float *input, const float *dlogits, size_t n,
                    int train);
/* The same, but writes the parameter gradients instead of adding to them: what a training
 * step needs, without a pass to zero 11 MB of gradients first. */
void model_backward_overwrite(bn_model *model, const float *input, const float *dlogits,
                              size_t n, int train);

/* A training step's backward (train = 1) and its SGD step (optim.h) on every parameter, in
 * one pass where that saves memory traffic: each linear layer's weights are stepped tile by
 * tile as their gradient is computed, which is then never stored (grads keeps stale values
 * there). Bitwise the same parameters and velocities as model_backward_overwrite followed
 * by sgd_step. Returns 1 if a parameter is not finite after the step, else 0. */
int model_backward_sgd(bn_model *model, const float *input, const float *dlogits, size_t n,
                       float lr, float momentum, float weight_decay);

/* Forward-mode derivative of the last model_forward (model_tangent.c): the change of every
 * layer's output when the parameters move along dparams (laid out as params and grads), with
 * the same n and train as that forward, whose activations (and, train = 1, batch statistics)
 * it reads. train = 1 differentiates through BatchNorm's batch statistics, train = 0 holds
 * the running ones fixed. tangents has n_acts floats, laid out as acts; scratch has
 * model_tangent_scratch_floats(model, n). Returns the logits' tangent J v (n x n_classes,
 * inside tangents). Allocates nothing. */
const float *model_tangent(const bn_model *model, const float *input, const float *dparams,
                           float *tangents, float *scratch, size_t n, int train);
/* At least 1, so that it can be allocated as it is. */
size_t model_tangent_scratch_floats(const bn_model *model, size_t n);

/* Population-mode BatchNorm (the paper's eq. 13-15): sets every BN layer's running mean and
 * (biased) variance to the statistics of its input over the n given samples, layer by layer,
 * with the earlier layers already in population mode. */
int model_calibrate_batchnorm(bn_model *model, const float *input, size_t n, bn_error *err);
/* The same without allocating: sums has model_calibrate_scratch_doubles(model) doubles (what
 * a caller that calibrates repeatedly, the Fisher's population mode, allocates once). */
size_t model_calibrate_scratch_doubles(const bn_model *model);
void model_calibrate_batchnorm_with(bn_model *model, const float *input, size_t n, double *sums);

/* The number of trained parameters (weights, biases, BatchNorm scales and shifts), as PyTorch's
 * sum(p.numel() for p in model.parameters()) counts them. */
size_t model_parameter_count(const bn_model *model);
/* The same for the network a spec describes, without its arenas; 0 if the spec is refused. */
size_t model_spec_parameters(const bn_model_spec *spec);

/* The logits of the last forward, and the layer that produced them. */
const float *model_logits(const bn_model *model);
size_t model_input_size(const bn_model *model);

#endif
