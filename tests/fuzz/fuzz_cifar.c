/* Fuzz target of the CIFAR-10 archive reader (src/data/data.c): the input is the official
 * cifar-10-binary.tar.gz, read by dataset_load from a data root of its own, so the fuzzer walks
 * the gzip stream, the tar headers (checksums, octal sizes, names, prefixes, types, padding) and
 * the batches. The fuzz build reads batches of CIFAR_BATCH_RECORDS records (8, not 10000; see
 * CMakeLists.txt), so that whole archives fit in an input and the fuzzer reaches the end of the
 * reader. Checked: a failure leaves the dataset empty and says one line naming the data root; a
 * success holds 5 + 1 batches of images with labels below 10. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "bntrain/data.h"
#include "fuzz_common.h"

#ifndef CIFAR_BATCH_RECORDS
#error "the fuzz build defines CIFAR_BATCH_RECORDS (CMakeLists.txt, BNTRAIN_FUZZ)"
#endif

static void check_split(const bn_dataset *ds, const bn_split *split, size_t n,
                        size_t values_per_image) {
    FUZZ_CHECK(split->n == n && split->pixels && split->labels);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(split->labels[i] < 10);
    /* the last value, normalised: ASan catches a buffer smaller than n images */
    size_t last = n * values_per_image - 1, plane = values_per_image / 3;
    FUZZ_CHECK(isfinite(ds->normalised[last % values_per_image / plane][split->pixels[last]]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char root[FUZZ_PATH_BYTES], folder[FUZZ_PATH_BYTES], archive[FUZZ_PATH_BYTES];
    fuzz_dir_create(root);
    fuzz_join(folder, root, "cifar10");
    FUZZ_CHECK(mkdir(folder, 0700) == 0);
    fuzz_join(archive, folder, "cifar-10-binary.tar.gz");
    fuzz_write(archive, data, size);

    bn_dataset ds;
    bn_error err;
    if (dataset_load(&ds, "cifar10", root, &err) != 0) {
        bn_dataset empty;
        memset(&empty, 0, sizeof empty);
        FUZZ_CHECK(memcmp(&ds, &empty, sizeof ds) == 0);
        fuzz_check_message(&err, root);
    } else {
        FUZZ_CHECK(ds.channels == 3 && ds.height == 32 && ds.width == 32);
        check_split(&ds, &ds.train, 5 * CIFAR_BATCH_RECORDS, 3 * 32 * 32);
        check_split(&ds, &ds.test, CIFAR_BATCH_RECORDS, 3 * 32 * 32);
        dataset_free(&ds);
    }
    fuzz_dir_remove(root);
    return 0;
}
