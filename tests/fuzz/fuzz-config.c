/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for daemon/config: the key-file parser, the IMGFLOW_*
 * environment overrides and the value parsers, on untrusted text (a
 * configuration file is operator input, but a daemon must refuse a bad one
 * with a message, never crash on it).
 *
 * The first byte picks the mode, the rest is the text:
 *   0  config_load_string()
 *   1  config_load_env() with one "NAME=value" per line
 *   2  each line through parse_bool/int/duration_ms/size
 * Invariants: a refusal (-EINVAL) always comes with a message naming
 * something; after a successful load every key of config_keys[] reads back
 * through its typed getter and the pass-through sections can be walked.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "parse.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define FUZZ_MAX_ENV 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_entry(const char *key, const char *value, void *userdata) {
        size_t *n = userdata;

        if (!key || !value)
                abort();
        (*n)++;
        return 0;
}

static void read_back(const Config *c) {
        size_t n = 0;

        for (const ConfigKey *k = config_keys; k->section; k++)
                switch (k->type) {
                case CONFIG_STRING:
                        if (!config_get_string(c, k->section, k->key))
                                abort();
                        break;
                case CONFIG_INT:
                        if (config_get_int(c, k->section, k->key) < 0 ||
                            config_get_int(c, k->section, k->key) > INT32_MAX)
                                abort(); /* int keys: 0 .. 2^31-1 */
                        break;
                case CONFIG_BOOL:
                        (void) config_get_bool(c, k->section, k->key);
                        break;
                case CONFIG_DURATION:
                        (void) config_get_duration_ms(c, k->section, k->key);
                        break;
                case CONFIG_SIZE:
                        (void) config_get_size(c, k->section, k->key);
                        break;
                }
        for (const char *const *s = config_passthrough_sections; *s; s++)
                if (config_foreach_in_section(c, *s, count_entry, &n) < 0)
                        abort();
        if (n > CONFIG_ENTRIES_MAX)
                abort();
}

static void check_refusal(int r, char *error) {
        if (r == -EINVAL && (!error || !*error))
                abort(); /* a syntax or value error always says what */
        if (r >= 0 && error)
                abort();
        free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config *c = NULL;
        char *text, *error = NULL;
        int r;

        if (size < 1 || size > FUZZ_MAX_INPUT)
                return 0;
        text = strndup((const char *) data + 1, size - 1); /* stops at a NUL byte */
        if (!text)
                return 0;
        if (config_new(&c) < 0)
                abort();

        switch (data[0] % 3) {
        case 0:
                r = config_load_string(c, text, "fuzz.conf", &error);
                check_refusal(r, error);
                if (r >= 0)
                        read_back(c);
                break;
        case 1: {
                char *env[FUZZ_MAX_ENV + 1];
                size_t n = 0;

                for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && n < FUZZ_MAX_ENV;
                     line = strtok_r(NULL, "\n", &save))
                        env[n++] = line;
                env[n] = NULL;
                r = config_load_env(c, env, &error);
                check_refusal(r, error);
                if (r >= 0)
                        read_back(c);
                break;
        }
        default:
                for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        bool b;
                        int64_t i;
                        uint64_t u;

                        r = parse_bool(line, &b);
                        if (r < 0 && r != -EINVAL && r != -ERANGE)
                                abort();
                        r = parse_int(line, &i);
                        if (r < 0 && r != -EINVAL && r != -ERANGE)
                                abort();
                        r = parse_duration_ms(line, &u);
                        if (r < 0 && r != -EINVAL && r != -ERANGE)
                                abort();
                        r = parse_size(line, &u);
                        if (r < 0 && r != -EINVAL && r != -ERANGE)
                                abort();
                }
                break;
        }

        config_free(c);
        free(text);
        return 0;
}
