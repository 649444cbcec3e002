/* The one option parser of the commands. A command declares its options in a table (name,
 * value or flag, a setter and the field it sets, help text), may include the tables of the
 * options several commands share, and hands it to options_parse: the getopt_long loop, the
 * usage errors, --help and the help text are all here. Also the number parsers. */
#ifndef BNTRAIN_OPTIONS_H
#define BNTRAIN_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "bntrain/error.h"

/* Parses arg (NULL for a flag) into *field; on a bad value returns -1 with err naming the
 * option (--name) and what is wrong. */
typedef int (*option_setter)(void *field, const char *name, const char *arg, bn_error *err);

typedef enum {
    OPTION_KIND_END,     /* ends a table */
    OPTION_KIND_VALUE,   /* --name VALUE */
    OPTION_KIND_FLAG,    /* --name */
    OPTION_KIND_CHOICE,  /* --name one of choices: the field (an int or an enum) gets its index */
    OPTION_KIND_TITLE,   /* a heading in the help; help is its text */
    OPTION_KIND_INCLUDE, /* the options of another table, their fields at offset */
    OPTION_KIND_IGNORE   /* the options of another table, accepted and without effect */
} option_kind;

typedef struct cli_option {
    option_kind kind;
    const char *name;       /* without the leading "--" */
    const char *value_name; /* "N", "RANGE": the value in the help */
    option_setter set;
    size_t offset;    /* of the field set, from the start of the table's target */
    const char *help; /* one line, or several separated by "\n" */
    const struct cli_option *include;
    const char *const *choices; /* the names a choice takes, NULL-terminated */
} cli_option;

#define OPTION_VALUE(name, value_name, set, offset, help)                                          \
    { OPTION_KIND_VALUE, name, value_name, set, offset, help, NULL, NULL }
#define OPTION_FLAG(name, set, offset, help)                                                       \
    { OPTION_KIND_FLAG, name, NULL, set, offset, help, NULL, NULL }
#define OPTION_CHOICE(name, value_name, choices, offset, help)                                     \
    { OPTION_KIND_CHOICE, name, value_name, NULL, offset, help, NULL, choices }
#define OPTION_TITLE(text)                                                                         \
    { OPTION_KIND_TITLE, NULL, NULL, NULL, 0, text, NULL, NULL }
#define OPTION_INCLUDE(table, offset)                                                              \
    { OPTION_KIND_INCLUDE, NULL, NULL, NULL, offset, NULL, table, NULL }
#define OPTION_IGNORE(table)                                                                       \
    { OPTION_KIND_IGNORE, NULL, NULL, NULL, 0, NULL, table, NULL }
#define OPTION_END                                                                                 \
    { OPTION_KIND_END, NULL, NULL, NULL, 0, NULL, NULL, NULL }

typedef struct {
    const char *name;  /* the command, as in "bntrain NAME: message" */
    const char *about; /* the help before the options: usage line and description */
    const cli_option *options;
    size_t target_bytes; /* sizeof the struct the options' offsets point into (the fuzz
                            target of the parser allocates exactly that, for ASan) */
    int takes_operands;  /* 0: any argument that is not an option is a usage error */
} cli_command;

/* Parses argv[1..] into target (the struct the command's table describes). Returns -1 to go
 * on, or the exit status to return now: 0 after --help or -h (help on stdout), EXIT_USAGE
 * after a usage error (one line on stderr). *first_operand (may be NULL) is the index of the
 * first argument that is not an option (argc if none). */
int options_parse(const cli_command *command, void *target, int argc, char **argv,
                  int *first_operand);

/* The command's help: about, then a line per option. */
void options_print_help(const cli_command *command, FILE *out);

/* Applies option `name` of table (included tables searched too) to target. Returns 1 if
 * applied, 0 if the table has no such option, -1 on a bad value (err says why). For programs
 * with a parser of their own (bench). */
int options_apply(const cli_option *table, void *target, const char *name, const char *arg,
                  bn_error *err);

/* The options that describe an experiment (bntrain/experiment.h, target a bn_experiment):
 * the network (dataset, data-dir, arch, no-bn, hidden, kernel, stride, padding, sigma-w2,
 * sigma-b2, momentum), its training (loss, batch, epochs, seed, train-subset, weight-decay,
 * augment, lr-schedule),
 * and one point of the phase diagram (gamma, lr). */
extern const cli_option options_model[];
extern const cli_option options_training[];
extern const cli_option options_point[];
extern const cli_option options_lr[]; /* bn_experiment: --lr alone (options_point has it) */
/* Options several commands share, each on its own field. */
extern const cli_option options_verbose[];     /* int: say more on stderr */
extern const cli_option options_threads[];     /* size_t: cores, 0 = all */
extern const cli_option options_color_scale[]; /* int: 1 for a log colour scale */
extern const cli_option options_data_dir[];    /* const char *: the data root */

/* Setters for the commands' own options. */
int option_set_flag(void *field, const char *name, const char *arg, bn_error *err);
int option_set_text(void *field, const char *name, const char *arg, bn_error *err);
/* A positive whole number (size_t). */
int option_set_count(void *field, const char *name, const char *arg, bn_error *err);
/* A whole number >= 0 (uint64_t): a seed. */
int option_set_seed(void *field, const char *name, const char *arg, bn_error *err);

/* Number parsing that rejects trailing garbage, NaN and infinities; option names the option
 * in the message. */
int parse_double(const char *option, const char *text, double *out, bn_error *err);
int parse_size(const char *option, const char *text, size_t *out, bn_error *err);
/* "start:stop:step" (inclusive, step > 0, start <= stop) or "a,b,c"; at most 10000 values;
 * *values is malloc'd and owned by the caller. */
int parse_range(const char *option, const char *text, double **values, size_t *n, bn_error *err);

#endif
