/* The networks by name (src/engine/architectures.c): parameter counts against PyTorch's, the
 * shape of the layer lists (residual sums, projection shortcuts, which readers add their
 * gradient), the depths and widths refused, and the fc/cnn lists unchanged. Plans only: no
 * arena is allocated, so the full-width networks cost nothing here. */
#include <string.h>

#include "bntrain/model.h"
#include "check.h"

/* sum(p.numel() for p in model.parameters()) of tests/make_fixtures.py's PyTorch models
 * (VGG16 and PreActResNet as pytorch-cifar has them, the VGG's convolutions without bias). */
static const struct {
    bn_arch arch;
    size_t depth;
    double width_mult;
    size_t parameters;
} pytorch_counts[] = {
    {ARCH_VGG16, 16, 1.0, 14724042},         {ARCH_VGG16, 16, 0.125, 231746},
    {ARCH_PREACT_RESNET, 18, 1.0, 11171146}, {ARCH_PREACT_RESNET, 18, 0.125, 176050},
    {ARCH_PREACT_RESNET, 20, 1.0, 272282},   {ARCH_PREACT_RESNET, 56, 1.0, 855578},
    {ARCH_PREACT_RESNET, 110, 1.0, 1730522},
};

static int plan(bn_model *m, bn_arch arch, size_t depth, double width_mult, size_t side,
                bn_error *err) {
    bn_model_spec spec;
    model_spec_deep(&spec, arch, depth, 3, side, side);
    spec.width_mult = width_mult;
    return model_plan(m, &spec, 128, err);
}

static void test_parameter_counts(void) {
    for (size_t i = 0; i < sizeof pytorch_counts / sizeof pytorch_counts[0]; i++) {
        bn_model m;
        bn_error err;
        int ok = plan(&m, pytorch_counts[i].arch, pytorch_counts[i].depth,
                      pytorch_counts[i].width_mult, 32, &err) == 0;
        CHECK_MSG(ok, "plan %zu: %s", i, err.msg);
        if (!ok) continue;
        char label[32];
        arch_label(&m.spec, label, sizeof label);
        CHECK_MSG(model_parameter_count(&m) == pytorch_counts[i].parameters,
                  "%s x%g: %zu parameters, PyTorch %zu", label, pytorch_counts[i].width_mult,
                  model_parameter_count(&m), pytorch_counts[i].parameters);
        model_free(&m);
    }
}

static size_t count_kind(const bn_model *m, bn_layer_kind kind) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        n += m->layers[i].kind == kind;
    return n;
}

/* PreAct-ResNet18: 8 blocks, 3 of them with a 1x1 projection; in each block exactly one layer
 * adds its input gradient to one written before (bn1 of an identity block, where the sum
 * wrote x's gradient first; conv1 of a projection block, after the projection), and every
 * activation with two readers has one writer and one adder. */
static void test_resnet_layout(void) {
    bn_model m;
    bn_error err;
    CHECK(plan(&m, ARCH_PREACT_RESNET, 18, 1.0, 32, &err) == 0);
    size_t projections = 0, adders = 0, double_read = 0;
    for (size_t i = 0; i < m.n_layers; i++) {
        const bn_layer *l = &m.layers[i];
        projections += l->kind == LAYER_CONV && l->conv.kernel == 1;
        adders += l->add_input_grad + l->add_shortcut_grad;
        double_read += l->n_consumers == 2;
        CHECK_MSG(l->n_consumers <= 2, "layer %zu has %zu readers", i, l->n_consumers);
        if (l->kind == LAYER_RESIDUAL)
            CHECK_MSG(!l->add_input_grad && !l->add_shortcut_grad && l->shortcut < i,
                      "residual layer %zu: the walk meets it first", i);
        if (l->kind == LAYER_CONV) CHECK_MSG(l->bias == BN_NONE, "conv %zu has a bias", i);
    }
    CHECK(count_kind(&m, LAYER_RESIDUAL) == 8 && projections == 3);
    CHECK_MSG(adders == 8 && double_read == 8, "%zu adders, %zu activations read twice", adders,
              double_read);
    CHECK(m.layers[m.n_layers - 1].kind == LAYER_LINEAR &&
          m.layers[m.n_layers - 2].kind == LAYER_AVGPOOL &&
          m.layers[m.n_layers - 3].kind == LAYER_RESIDUAL); /* no final BN-ReLU in this one */
    CHECK(m.layers[m.n_layers - 2].in_h == 4 && m.layers[m.n_layers - 2].in_c == 512);
    model_free(&m);
    /* the 6n + 2 networks end with BatchNorm and ReLU, as He et al. 2016a's */
    CHECK(plan(&m, ARCH_PREACT_RESNET, 20, 1.0, 32, &err) == 0);
    CHECK(m.layers[m.n_layers - 3].kind == LAYER_RELU &&
          m.layers[m.n_layers - 4].kind == LAYER_BATCHNORM && count_kind(&m, LAYER_RESIDUAL) == 9 &&
          m.layers[m.n_layers - 2].in_h == 8);
    model_free(&m);
}

static void test_vgg_layout(void) {
    bn_model m;
    bn_error err;
    CHECK(plan(&m, ARCH_VGG16, 16, 0.5, 32, &err) == 0);
    CHECK(count_kind(&m, LAYER_CONV) == 13 && count_kind(&m, LAYER_BATCHNORM) == 13 &&
          count_kind(&m, LAYER_MAXPOOL) == 5 && count_kind(&m, LAYER_LINEAR) == 1);
    const bn_layer *pool = &m.layers[m.n_layers - 2];
    CHECK(pool->kind == LAYER_AVGPOOL && pool->in_c == 256 && pool->in_h == 1);
    model_free(&m);
}

/* The deepest network allowed fits the layer list; the limits are refused with a message. */
static void test_limits(void) {
    bn_model m;
    bn_error err;
    CHECK(plan(&m, ARCH_PREACT_RESNET, 1202, 0.125, 32, &err) == 0);
    CHECK_MSG(m.n_layers == 4207 && m.n_layers <= BN_MAX_LAYERS, "%zu layers", m.n_layers);
    model_free(&m);
    const struct {
        bn_arch arch;
        size_t depth;
        double width_mult;
        size_t side;
        const char *message;
    } refused[] = {
        {ARCH_PREACT_RESNET, 1208, 1.0, 32, "depth 1208"},
        {ARCH_PREACT_RESNET, 19, 1.0, 32, "depth 19"},
        {ARCH_VGG16, 16, 1.0, 28, "at least 32x32"},
        {ARCH_VGG16, 16, 0.0, 32, "width multiplier 0"},
        {ARCH_VGG16, 16, 17.0, 32, "width multiplier 17"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int status = plan(&m, refused[i].arch, refused[i].depth, refused[i].width_mult,
                          refused[i].side, &err);
        CHECK_MSG(status == -1 && strstr(err.msg, refused[i].message), "case %zu: %s", i,
                  status ? err.msg : "accepted");
    }
}

/* Names: every arch and depth the option takes, and nothing else. */
static void test_names(void) {
    bn_arch arch;
    size_t depth;
    CHECK(arch_from_name("preact-resnet56", &arch, &depth) == 0 && arch == ARCH_PREACT_RESNET &&
          depth == 56);
    CHECK(arch_from_name("cnn", &arch, &depth) == 0 && arch == ARCH_CNN && depth == 0);
    const char *bad[] = {"preact-resnet",
                         "preact-resnet18x",
                         "preact-resnet-20",
                         "VGG16",
                         "preact-resnet2",
                         "resnet18",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(arch_from_name(bad[i], &arch, &depth) == -1, "'%s' accepted", bad[i]);
    bn_model_spec spec;
    model_spec_deep(&spec, ARCH_PREACT_RESNET, 110, 3, 32, 32);
    char label[32];
    arch_label(&spec, label, sizeof label);
    CHECK(strcmp(label, "preact-resnet110") == 0);
}

/* The paper's networks keep their lists: Linear|Conv -> BN -> ReLU, flatten, linear. */
static void test_paper_layout(void) {
    bn_model_spec spec;
    model_spec_paper(&spec, ARCH_CNN, 1, 28, 28, 1);
    bn_model m;
    bn_error err;
    CHECK(model_plan(&m, &spec, 16, &err) == 0);
    CHECK(m.n_layers == 11 && m.layers[9].kind == LAYER_FLATTEN && count_kind(&m, LAYER_CONV) == 3);
    for (size_t i = 0; i < m.n_layers; i++)
        CHECK(m.layers[i].input == (i ? i - 1 : BN_NONE) && !m.layers[i].add_input_grad &&
              (m.layers[i].kind != LAYER_CONV || m.layers[i].bias != BN_NONE));
    CHECK(m.n_grad_scratch == 0);
    model_free(&m);
}

int main(void) {
    test_parameter_counts();
    test_resnet_layout();
    test_vgg_layout();
    test_limits();
    test_names();
    test_paper_layout();
    return check_summary("test_model");
}
