/* SPDX-License-Identifier: MIT */
/*
 * The functions AWS Step Functions adds to JSONata (see jsonata-aws.h), in
 * the engine's library because they use its limits (and lib/'s hashes).
 * Randomness only from the environment; a seeded $random uses SplitMix64
 * over the seed, so it needs no environment at all.
 */

#include <math.h>
#include <string.h>

#include "asl-util.h"
#include "format.h"
#include "hash.h"
#include "json-writer.h"
#include "jsonata-aws.h"
#include "jsonata-internal.h"

#define FN(name) static JnValue *name(JnEval *ev, JnValue **a, size_t n, JnValue *focus)
#define ARG(i) ((i) < n ? a[i] : NULL)
#define AWS_HASH_MAX_CHARS 10000

static bool is_int(double d) {
        return isfinite(d) && d == floor(d);
}

FN(aws_partition) {
        JnValue *arr = ARG(0), *size = ARG(1);
        if (!arr || !size)
                return NULL;
        if (!is_int(size->num) || size->num < 1)
                jn_throw(ev, "D3170", "partition", NULL,
                         "The chunk size of $partition() must be a positive integer");
        JnValue *result = jn_array(ev, 0);
        size_t chunk = size->num > (double) arr->arr.n ? arr->arr.n : (size_t) size->num;
        for (size_t i = 0; i < arr->arr.n; i += chunk) {
                size_t k = arr->arr.n - i < chunk ? arr->arr.n - i : chunk;
                JnValue *c = jn_array(ev, k);
                memcpy(c->arr.items, arr->arr.items + i, k * sizeof(JnValue *));
                c->arr.n = k;
                jn_array_push(ev, result, c);
        }
        return result;
}

FN(aws_range) {
        JnValue *start = ARG(0), *end = ARG(1), *step = ARG(2);
        if (!start || !end)
                return NULL;
        double s = start->num, e = end->num, st = step ? step->num : 1;
        if (!is_int(s) || !is_int(e) || !is_int(st) || st == 0)
                jn_throw(ev, "D3171", "range", NULL,
                         "The arguments of $range() must be integers and the step must not be 0");
        double count = floor((e - s) / st) + 1;
        if (count < 0)
                count = 0;
        if (count > ASL_MAX_ARRAY_RANGE_ITEMS)
                jn_throw(ev, "D3171", "range", NULL,
                         "$range() would make %.0f items, more than the limit of %d", count,
                         ASL_MAX_ARRAY_RANGE_ITEMS);
        JnValue *r = jn_array(ev, (size_t) count);
        for (size_t i = 0; i < (size_t) count; i++)
                r->arr.items[i] = jn_number(ev, s + st * (double) i);
        r->arr.n = (size_t) count;
        return r;
}

FN(aws_hash) {
        JnValue *data = ARG(0), *alg = ARG(1);
        HashAlgorithm h;
        char hex[HASH_HEX_MAX];
        if (!data || !alg)
                return NULL;
        char *name = jn_strndup(ev, alg->str.s, alg->str.len);
        if (hash_from_name(name, &h) < 0)
                jn_throw(ev, "D3172", "hash", NULL,
                         "The algorithm of $hash() must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512, "
                         "not %s",
                         name);
        if (jn_utf8_length(data->str.s, data->str.len) > AWS_HASH_MAX_CHARS)
                jn_throw(ev, "D3172", "hash", NULL, "The input of $hash() is longer than %d characters",
                         AWS_HASH_MAX_CHARS);
        hash_hex(h, data->str.s, data->str.len, hex);
        return jn_cstring(ev, hex);
}

static uint64_t splitmix64(uint64_t x) {
        x += 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
}

FN(aws_random) {
        JnValue *seed = ARG(0);
        if (!seed)
                return jn_number(ev, jn_random_double(ev));
        if (!is_int(seed->num))
                jn_throw(ev, "D3173", "random", NULL, "The seed of $random() must be an integer");
        uint64_t bits;
        memcpy(&bits, &seed->num, sizeof(bits)); /* any double: no cast out of range */
        uint64_t r = splitmix64(bits);
        return jn_number(ev, (double) (r >> 11) * (1.0 / 9007199254740992.0));
}

FN(aws_uuid) {
        uint8_t b[16];
        char text[FORMAT_UUID_MAX];
        uint64_t hi = jn_random_u64(ev), lo = jn_random_u64(ev);
        memcpy(b, &hi, 8);
        memcpy(b + 8, &lo, 8);
        uuid_set_version(b, 4);
        return jn_cstring(ev, format_uuid(b, text));
}

FN(aws_parse) {
        JnValue *s = ARG(0);
        json_error_t jerr;
        if (!s)
                return NULL;
        json_t *j = json_loadb(s->str.s, s->str.len, JSON_DECODE_ANY, &jerr);
        if (!j)
                jn_throw(ev, "D3174", "parse", NULL, "The argument of $parse() is not JSON: %s", jerr.text);
        if (json_depth(j, ASL_MAX_JSON_DEPTH) > ASL_MAX_JSON_DEPTH) {
                json_decref(j);
                jn_throw(ev, "D3174", "parse", NULL, "The argument of $parse() nests deeper than %d",
                         ASL_MAX_JSON_DEPTH);
        }
        JnValue *v = jn_from_json_copy(ev, j);
        json_decref(j);
        return v;
}

FN(aws_eval) {
        jn_throw(ev, "D3175", "eval", NULL, "The $eval() function is not supported in Step Functions");
}

static const JnNative aws_functions[] = {
        {"partition", "<an:a>", aws_partition, 2},
        {"range", "<nnn?:a>", aws_range, 3},
        {"hash", "<ss:s>", aws_hash, 2},
        {"random", "<n?:n>", aws_random, 1},
        {"uuid", "<:s>", aws_uuid, 0},
        {"parse", "<s:x>", aws_parse, 1},
        {"eval", NULL, aws_eval, 1},
};

const JsonataLibrary jsonata_aws_library = {aws_functions, sizeof(aws_functions) / sizeof(aws_functions[0])};
