/* The networks by name: the paper's fc and cnn (section 4) and the deep networks of its Fig. 4
 * (VGG16, PreAct-ResNet18) and of paper 001 (PreAct-ResNet-N, N = 6n + 2), as layer lists.
 *
 * Choices a PyTorch user would otherwise have to guess (docs/architecture.md repeats them):
 * - VGG16 is the common CIFAR-10 VGG16 (kuangliu/pytorch-cifar's cfg 'VGG16'): 13 blocks of
 *   conv 3x3 (stride 1, padding 1) -> BatchNorm -> ReLU with channels 64, 64, M, 128, 128, M,
 *   256 x 3, M, 512 x 3, M, 512 x 3, M (M: 2x2 max-pooling), then global average pooling (of
 *   a 1x1 plane on 32x32 inputs, so the same as the flatten there) and one linear layer
 *   512 -> classes. The convolutions have no bias: each is followed by BatchNorm, whose batch
 *   mean removes it (pytorch-cifar's have one, which gets an exactly zero gradient there).
 * - PreAct-ResNet18 is kuangliu/pytorch-cifar's PreActResNet18 (He et al. 2016a blocks): a
 *   3x3 stem convolution (no BatchNorm after it: each block starts with one), 4 stages of 2
 *   blocks with 64, 128, 256, 512 channels (stride 2 at the first block of stages 2-4), global
 *   average pooling, linear 512 -> classes. A block is out = conv2(relu(bn2(conv1(a)))) +
 *   shortcut with a = relu(bn1(x)); the shortcut is x, or a 1x1 convolution (stride as the
 *   block's, no bias) of a where the shape changes. As in pytorch-cifar, the last block's
 *   output is pooled directly, with no BatchNorm and ReLU after it.
 * - PreAct-ResNet-N (N = 6n + 2: 20, 56, 110, ...) is He et al. 2016a's CIFAR network: the
 *   same stem and blocks, 3 stages of n blocks with 16, 32, 64 channels, and, as that paper
 *   has it, a final BatchNorm and ReLU after the last block, before the pooling. Shortcuts
 *   where the shape changes are 1x1 projections (He et al.'s option B), as in PreAct-ResNet18.
 * - --width-mult scales every channel count (rounded, at least 1); the classes stay.
 * - Without BatchNorm (--batchnorm off) every convolution gets a bias and a block's BN -> ReLU
 *   becomes a ReLU.
 * - Initialisation: PyTorch's default for these models (model.h, INIT_PYTORCH), which is what
 *   the networks' reference code trains from; BatchNorm's gamma is --gamma everywhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/model.h"
#include "engine/model_build.h"

enum { PREACT_RESNET_MAX_DEPTH = 1202 };

void model_spec_paper(bn_model_spec *spec, bn_arch arch, size_t channels, size_t height,
                      size_t width, int batchnorm) {
    memset(spec, 0, sizeof *spec);
    spec->arch = arch;
    spec->in_channels = channels;
    spec->in_height = height;
    spec->in_width = width;
    spec->n_hidden = 3;
    static const size_t fc_units[3] = {1000, 1000, 1000}, cnn_channels[3] = {30, 60, 90};
    memcpy(spec->hidden, arch == ARCH_FC ? fc_units : cnn_channels, sizeof fc_units);
    spec->kernel = 3;
    spec->stride = 2;
    spec->padding = 0;
    spec->width_mult = 1.0;
    spec->n_classes = 10;
    spec->batchnorm = batchnorm;
    spec->init = INIT_GAUSSIAN;
}

void model_spec_deep(bn_model_spec *spec, bn_arch arch, size_t depth, size_t channels,
                     size_t height, size_t width) {
    memset(spec, 0, sizeof *spec);
    spec->arch = arch;
    spec->depth = arch == ARCH_VGG16 ? 16 : depth;
    spec->in_channels = channels;
    spec->in_height = height;
    spec->in_width = width;
    spec->width_mult = 1.0;
    spec->n_classes = 10;
    spec->batchnorm = 1;
    spec->init = INIT_PYTORCH;
}

const char *arch_name(bn_arch arch) {
    switch (arch) {
    case ARCH_FC:
        return "fc";
    case ARCH_CNN:
        return "cnn";
    case ARCH_VGG16:
        return "vgg16";
    case ARCH_PREACT_RESNET:
        return "preact-resnet";
    }
    return "?";
}

void arch_label(const bn_model_spec *spec, char *label, size_t size) {
    if (spec->arch == ARCH_PREACT_RESNET)
        snprintf(label, size, "preact-resnet%zu", spec->depth);
    else
        snprintf(label, size, "%s", arch_name(spec->arch));
}

static int preact_depth_valid(size_t depth) {
    return depth == 18 || (depth >= 8 && depth <= PREACT_RESNET_MAX_DEPTH && (depth - 2) % 6 == 0);
}

int arch_from_name(const char *name, bn_arch *arch, size_t *depth) {
    static const bn_arch fixed[] = {ARCH_FC, ARCH_CNN, ARCH_VGG16};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, arch_name(fixed[i])) == 0) {
            *arch = fixed[i];
            *depth = fixed[i] == ARCH_VGG16 ? 16 : 0;
            return 0;
        }
    const char *prefix = "preact-resnet";
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || name[n] < '1' || name[n] > '9') return -1;
    char *end;
    unsigned long value = strtoul(name + n, &end, 10);
    if (*end != '\0' || !preact_depth_valid(value)) return -1;
    *arch = ARCH_PREACT_RESNET;
    *depth = value;
    return 0;
}

int arch_is_deep(bn_arch arch) {
    return arch == ARCH_VGG16 || arch == ARCH_PREACT_RESNET;
}

/* ---- checks ---- */

static int check_paper_spec(const bn_model_spec *spec, bn_error *err) {
    if (spec->n_hidden > BN_MAX_HIDDEN)
        return bn_fail(err, "too many hidden layers (%zu, at most %d)", spec->n_hidden,
                       BN_MAX_HIDDEN);
    for (size_t i = 0; i < spec->n_hidden; i++)
        if (spec->hidden[i] == 0 || spec->hidden[i] > 100000)
            return bn_fail(err, "hidden layer %zu has %zu units (1 to 100000 allowed)", i + 1,
                           spec->hidden[i]);
    if (spec->arch != ARCH_CNN) return 0;
    if (spec->kernel == 0 || spec->stride == 0)
        return bn_fail(err, "kernel and stride must be positive");
    size_t h = spec->in_height, w = spec->in_width;
    for (size_t i = 0; i < spec->n_hidden; i++) {
        h = conv_out_size(h, spec->kernel, spec->stride, spec->padding);
        w = conv_out_size(w, spec->kernel, spec->stride, spec->padding);
        if (h == 0 || w == 0)
            return bn_fail(err,
                           "conv layer %zu: the %zux%zu kernel (stride %zu, padding %zu) "
                           "does not fit the %zux%zu input",
                           i + 1, spec->kernel, spec->kernel, spec->stride, spec->padding,
                           spec->in_height, spec->in_width);
    }
    return 0;
}

/* The widest channel count times width_mult must stay a sane size. */
#define WIDTH_MULT_MAX 16.0

static int check_deep_spec(const bn_model_spec *spec, bn_error *err) {
    char label[32];
    arch_label(spec, label, sizeof label);
    if (!(spec->width_mult > 0.0 && spec->width_mult <= WIDTH_MULT_MAX))
        return bn_fail(err, "width multiplier %g is outside (0, %g]", spec->width_mult,
                       WIDTH_MULT_MAX);
    if (spec->arch == ARCH_PREACT_RESNET && !preact_depth_valid(spec->depth))
        return bn_fail(err, "preact-resnet depth %zu: 18, or 6n + 2 from 8 to %d (20, 56, 110)",
                       spec->depth, PREACT_RESNET_MAX_DEPTH);
    /* VGG16's five 2x2 poolings need 32 pixels a side; a ResNet's stride-2 convolutions
     * (padding 1) fit any side. */
    if (spec->arch == ARCH_VGG16 && (spec->in_height < 32 || spec->in_width < 32))
        return bn_fail(err,
                       "%s needs inputs of at least 32x32 pixels (five 2x2 poolings), not "
                       "%zux%zu",
                       label, spec->in_height, spec->in_width);
    if (spec->in_height == 0 || spec->in_width == 0 || spec->in_channels == 0)
        return bn_fail(err, "%s: empty input shape", label);
    return 0;
}

int model_spec_check(const bn_model_spec *spec, bn_error *err) {
    if (spec->n_classes == 0) return bn_fail(err, "the network needs at least one class");
    return arch_is_deep(spec->arch) ? check_deep_spec(spec, err) : check_paper_spec(spec, err);
}

/* ---- layer lists ---- */

/* Linear|Conv -> [BatchNorm] -> ReLU per hidden layer, then the linear output layer. */
static void build_paper(bn_model *m) {
    const bn_model_spec *s = &m->spec;
    size_t x = BN_NONE;
    for (size_t i = 0; i < s->n_hidden; i++) {
        if (s->arch == ARCH_FC)
            x = build_linear(m, x, s->hidden[i]);
        else
            x = build_conv(m, x, s->hidden[i], s->kernel, s->stride, s->padding, 1);
        if (s->batchnorm) x = build_batchnorm(m, x);
        x = build_relu(m, x);
    }
    if (m->layers[x].channel_major) x = build_flatten(m, x);
    build_linear(m, x, s->n_classes);
}

static size_t scaled_channels(const bn_model_spec *spec, size_t channels) {
    double scaled = round((double)channels * spec->width_mult);
    return scaled < 1.0 ? 1 : (size_t)scaled;
}

/* BatchNorm (if the network has it) then ReLU. */
static size_t norm_relu(bn_model *m, size_t x) {
    if (m->spec.batchnorm) x = build_batchnorm(m, x);
    return build_relu(m, x);
}

static size_t conv3x3(bn_model *m, size_t x, size_t channels, size_t stride) {
    return build_conv(m, x, channels, 3, stride, 1, !m->spec.batchnorm);
}

static void build_vgg16(bn_model *m) {
    static const size_t config[] = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                    0,  512, 512, 512, 0,   512, 512, 512, 0}; /* 0: pool */
    size_t x = BN_NONE;
    for (size_t i = 0; i < sizeof config / sizeof config[0]; i++)
        x = config[i] ? norm_relu(m, conv3x3(m, x, scaled_channels(&m->spec, config[i]), 1))
                      : build_maxpool(m, x);
    build_linear(m, build_avgpool(m, x), m->spec.n_classes);
}

/* One pre-activation block on x (channels in, out `channels`); returns the sum's index. The
 * layer order, bn1, conv1, bn2, conv2, shortcut, is the block's parameters() order. */
static size_t preact_block(bn_model *m, size_t x, size_t channels, size_t stride) {
    size_t activated = norm_relu(m, x);
    size_t branch = conv3x3(m, activated, channels, stride);
    branch = conv3x3(m, norm_relu(m, branch), channels, 1);
    size_t shortcut = x;
    if (stride != 1 || m->layers[x].out_c != channels)
        shortcut = build_conv(m, activated, channels, 1, stride, 0, !m->spec.batchnorm);
    return build_residual(m, branch, shortcut);
}

static void build_preact_resnet(bn_model *m) {
    static const size_t wide[] = {64, 128, 256, 512}, narrow[] = {16, 32, 64};
    int resnet18 = m->spec.depth == 18;
    const size_t *stage_channels = resnet18 ? wide : narrow;
    size_t n_stages = resnet18 ? 4 : 3, blocks = resnet18 ? 2 : (m->spec.depth - 2) / 6;
    size_t x = conv3x3(m, BN_NONE, scaled_channels(&m->spec, stage_channels[0]), 1);
    for (size_t stage = 0; stage < n_stages; stage++)
        for (size_t b = 0; b < blocks; b++)
            x = preact_block(m, x, scaled_channels(&m->spec, stage_channels[stage]),
                             stage > 0 && b == 0 ? 2 : 1);
    if (!resnet18) x = norm_relu(m, x);
    build_linear(m, build_avgpool(m, x), m->spec.n_classes);
}

void build_architecture(bn_model *m) {
    switch (m->spec.arch) {
    case ARCH_FC:
    case ARCH_CNN:
        build_paper(m);
        break;
    case ARCH_VGG16:
        build_vgg16(m);
        break;
    case ARCH_PREACT_RESNET:
        build_preact_resnet(m);
        break;
    }
}
