/* A program that embeds bntrain through its installed public interface only (include/bntrain,
 * libbntrain.a): trains the paper's FC net for one epoch on the bundled MNIST sample and
 * prints its test loss beside the theory's eta_bar. tests/test_install.sh builds it against a
 * `cmake --install` prefix, so a public header that needs a private one fails the build. */
#include <math.h>
#include <stdio.h>

#include "bntrain/theory.h"
#include "bntrain/train.h"

int main(int argc, char **argv) {
    const char *data_dir = argc > 1 ? argv[1] : "data";
    bn_error err;
    bn_dataset ds;
    if (dataset_load(&ds, "mnist-sample", data_dir, &err)) {
        fprintf(stderr, "embed: %s\n", err.msg);
        return 1;
    }
    bn_model_spec spec;
    model_spec_paper(&spec, ARCH_FC, ds.channels, ds.height, ds.width, 1);
    bn_theory_result theory;
    if (theory_evaluate(&spec, 0.5, 2.0, 0.5, 0.9, &theory, &err)) {
        fprintf(stderr, "embed: %s\n", err.msg);
        dataset_free(&ds);
        return 1;
    }
    bn_trainer trainer;
    if (trainer_create(&trainer, &spec, 128, ds.train.n, &err)) {
        fprintf(stderr, "embed: %s\n", err.msg);
        dataset_free(&ds);
        return 1;
    }
    bn_train_config cfg = {.loss = LOSS_CE, .gamma = 0.5, .lr = 0.1, .momentum = 0.9,
                           .sigma_w2 = 2.0, .sigma_b2 = 0.5, .batch = 128, .epochs = 1,
                           .seed = 1};
    bn_run_result result;
    trainer_run(&trainer, &ds, &cfg, NULL, NULL, NULL, &result);
    printf("test_loss %.6f test_acc %.4f eta_bar %.6g\n", result.last.test_loss,
           result.last.test_acc, theory.eta_bar);
    int healthy = !result.exploded && isfinite(result.last.test_loss) && theory.eta_bar > 0.0;
    trainer_free(&trainer);
    dataset_free(&ds);
    return healthy ? 0 : 1;
}
