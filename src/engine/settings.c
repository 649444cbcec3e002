/* The engine's process-wide test settings (see settings.h for when they may change). */
#include "engine/settings.h"

static int scratch_refused;
static int conv_direct_forced;
static int winograd_f2_forced;

static int replace(int *setting, int on) {
    int before = *setting;
    *setting = on;
    return before;
}

int settings_refuse_scratch(int on) {
    return replace(&scratch_refused, on);
}

int settings_scratch_refused(void) {
    return scratch_refused;
}

int settings_force_conv_direct(int on) {
    return replace(&conv_direct_forced, on);
}

int settings_conv_direct_forced(void) {
    return conv_direct_forced;
}

int settings_force_winograd_f2(int on) {
    return replace(&winograd_f2_forced, on);
}

int settings_winograd_f2_forced(void) {
    return winograd_f2_forced;
}
