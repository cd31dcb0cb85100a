/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the SAM / CloudFormation template reader
 * (cli/sam-template.c): any bytes as a template file. Invariants: it
 * returns 0 with an object (the template is a mapping) or an error with a
 * message; nesting stays within SAM_TEMPLATE_DEPTH_MAX (each level may be
 * wrapped by a short-form tag, +2 for a !GetAtt scalar); the result writes
 * out as JSON and reads back equal (no NaN, no invalid UTF-8 and no NUL
 * kept); parsing twice gives the same.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sam-template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t depth(json_t *v) {
        size_t d = 0, i;
        const char *k;
        json_t *e;
        if (json_is_array(v))
                json_array_foreach (v, i, e) {
                        size_t x = depth(e);
                        d = x > d ? x : d;
                }
        else if (json_is_object(v))
                json_object_foreach (v, k, e) {
                        size_t x = depth(e);
                        d = x > d ? x : d;
                }
        else
                return 0;
        return d + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *a = NULL, *b = NULL;
        char *ea = NULL, *eb = NULL;

        int r = sam_template_parse((const char *) data, size, &a, &ea);
        int r2 = sam_template_parse((const char *) data, size, &b, &eb);
        if ((r < 0) != (r2 < 0))
                abort();
        if (r < 0) {
                if (!ea || !eb || a || b)
                        abort();
                free(ea);
                free(eb);
                return 0;
        }
        if (!json_is_object(a) || !json_equal(a, b))
                abort();
        /* JSON templates go to jansson (its own depth limit); YAML ones to
         * ours: each container may be wrapped in a short form's object, and a
         * !GetAtt scalar becomes an object holding an array */
        if (size > 0 && data[0] != '{' && depth(a) > 2 * SAM_TEMPLATE_DEPTH_MAX + 2)
                abort();
        char *text = json_dumps(a, JSON_COMPACT);
        if (!text)
                abort();
        json_t *c = json_loads(text, 0, NULL);
        if (!c || !json_equal(a, c))
                abort();
        json_decref(c);
        free(text);
        json_decref(a);
        json_decref(b);
        return 0;
}
