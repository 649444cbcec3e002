/* Tests of the learning-rate schedules (bntrain/schedule.h): the rate of every epoch against
 * PyTorch 1.13's schedulers, bit for bit, the parser's canonical text and its refusals. */
#include <string.h>

#include "bntrain/schedule.h"
#include "check.h"

/* The rates an optimiser has during epochs 1, 1 + stride, ..., printed with repr() by
 * PyTorch 1.13:
 *   def lrs(make, epochs, lr=0.1):
 *       opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr); s = make(opt); out = []
 *       for e in range(epochs): out.append(opt.param_groups[0]['lr']); opt.step(); s.step()
 *       return out
 *   lrs(lambda o: MultiStepLR(o, milestones=[2, 4], gamma=0.1), 6)
 *   lrs(lambda o: CosineAnnealingLR(o, T_max=6), 6)
 *   lrs(lambda o: CosineAnnealingLR(o, T_max=200), 200)[::37]
 * and the constant rate, and a milestone past the run's end, which never fires in PyTorch. */
static const struct {
    const char *schedule;
    size_t epochs, stride;
    double lr[6];
} pytorch_rates[] = {
    {"step:2,4",
     6,
     1,
     {0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002,
      0.0010000000000000002}},
    {"cosine",
     6,
     1,
     {0.1, 0.09330127018922195, 0.07500000000000001, 0.05, 0.025000000000000012,
      0.006698729810778065}},
    {"cosine",
     200,
     37,
     {0.1, 0.09179036806841355, 0.06985739453173906, 0.04140354498602954, 0.01577264470356557,
      0.0013815039801161732}},
    {"constant", 6, 1, {0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
    {"step:7", 6, 1, {0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
};

static void check_against_pytorch(void) {
    for (size_t k = 0; k < sizeof pytorch_rates / sizeof *pytorch_rates; k++) {
        bn_lr_schedule s;
        bn_error err;
        const char *text = pytorch_rates[k].schedule;
        size_t epochs = pytorch_rates[k].epochs;
        CHECK_MSG(lr_schedule_parse(text, &s, &err) == 0, "%s", text);
        for (size_t i = 0; i < 6; i++) {
            size_t epoch = 1 + i * pytorch_rates[k].stride;
            double got = lr_schedule_at(&s, 0.1, epoch, epochs), want = pytorch_rates[k].lr[i];
            CHECK_MSG(got == want, "%s epoch %zu of %zu: %.17g, PyTorch %.17g", text, epoch, epochs,
                      got, want);
        }
    }
}

static void check_format(const char *text, const char *canonical) {
    bn_lr_schedule s;
    bn_error err;
    char buf[BN_LR_SCHEDULE_TEXT];
    CHECK_MSG(lr_schedule_parse(text, &s, &err) == 0, "%s: %s", text, err.msg);
    CHECK_MSG(lr_schedule_format(&s, buf, sizeof buf) == (int)strlen(canonical) &&
                  strcmp(buf, canonical) == 0,
              "%s formats as '%s', not '%s'", text, buf, canonical);
}

static void check_parse(void) {
    check_format("constant", "constant");
    check_format("cosine", "cosine");
    check_format("step:30", "step:30");
    check_format("step:030,60,90", "step:30,60,90");
    char buf[8];
    bn_lr_schedule s;
    lr_schedule_parse("step:100,200", &s, NULL);
    CHECK(lr_schedule_format(&s, buf, sizeof buf) == -1);
    /* The longest schedule fits in BN_LR_SCHEDULE_TEXT. */
    check_format("step:999999985,999999986,999999987,999999988,999999989,999999990,999999991,"
                 "999999992,999999993,999999994,999999995,999999996,999999997,999999998,"
                 "999999999,1000000000",
                 "step:999999985,999999986,999999987,999999988,999999989,999999990,999999991,"
                 "999999992,999999993,999999994,999999995,999999996,999999997,999999998,"
                 "999999999,1000000000");

    const char *bad[] = {"",
                         "Constant",
                         "cos",
                         "step",
                         "step:",
                         "step:0",
                         "step:5,5",
                         "step:6,5",
                         "step:5,",
                         "step:,5",
                         "step:-5",
                         "step:+5",
                         "step: 5",
                         "step:5.5",
                         "step:5x",
                         "cosine:10",
                         "step:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
                         "step:99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bn_error err = {""};
        s = (bn_lr_schedule){.kind = LR_COSINE};
        CHECK_MSG(lr_schedule_parse(bad[i], &s, &err) == -1 && s.kind == LR_COSINE &&
                      strchr(err.msg, '\n') == NULL && strstr(err.msg, bad[i]) != NULL,
                  "'%s': %s", bad[i], err.msg);
    }
}

int main(void) {
    check_against_pytorch();
    check_parse();
    return check_summary("test_schedule");
}
