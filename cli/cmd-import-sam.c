/* SPDX-License-Identifier: MIT */
/*
 * imgflow import-sam TEMPLATE: an AWS SAM / CloudFormation template's state
 * machines registered, its Lambda functions mapped (docs/lambda.md, "SAM
 * templates").
 *
 *   1. read the template (sam-template.c: YAML or JSON, short-form tags);
 *   2. collect its functions (AWS::Serverless::Function with the template's
 *      Globals.Function, AWS::Lambda::Function): name (FunctionName, else the
 *      logical id), Runtime, Handler, CodeUri, MemorySize, Timeout,
 *      Environment.Variables;
 *   3. each function is either mapped by the configuration's [resources]
 *      (by name or ARN: a built-in operation or a pool, left as it is) or
 *      goes to imgflow-lambda: it is written to the functions file and needs
 *      `Name = pool:<lambda.pool>` in [resources] (printed, and written to
 *      --resources-file);
 *   4. each AWS::Serverless::StateMachine / AWS::StepFunctions::StateMachine
 *      gets its definition (Definition, DefinitionUri, DefinitionString),
 *      intrinsic functions resolved (Ref, Fn::GetAtt, Fn::Sub, Fn::Join,
 *      Fn::Select, Fn::Split, Fn::FindInMap, the pseudo parameters) and
 *      DefinitionSubstitutions applied, and is created (or updated when it
 *      exists with another definition) in the store as create-state-machine
 *      does; every Lambda ARN of its Task states is checked against 3.
 *
 * What cannot be resolved or mapped is printed ("not mapped: ...") and makes
 * the exit code 1; everything else is still done.
 */

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "asl-util.h"
#include "cli.h"
#include "clock.h"
#include "cmd-remote.h"
#include "config.h"
#include "resources.h"
#include "sam-template.h"
#include "store.h"

#define SAM_EVAL_DEPTH_MAX 64
#define SAM_SUB_MAX (1024 * 1024) /* bytes of one substituted string */

typedef struct ImportArgs {
        const char *functions_file;
        const char *resources_file;
        const char *stack_name;
        unsigned concurrency;
} ImportArgs;

typedef struct Sam {
        json_t *template;  /* borrowed */
        json_t *resources; /* borrowed: template.Resources */
        json_t *functions; /* {logical id: {name, runtime, ...}} built in collect_functions */
        const Config *config;
        const char *region, *account, *stack, *dir, *pool;
        unsigned concurrency;
        size_t problems;
} Sam;

static void problem(Sam *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Sam *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("not mapped: ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
        s->problems++;
}

static const char *jstr_(json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

static const char *resource_type(Sam *s, const char *id) {
        return jstr_(json_object_get(s->resources, id), "Type");
}

static json_t *eval(Sam *s, json_t *v, const char *where, unsigned depth);

/* A resource's physical name: its name property when the template gives
 * one as a plain string, else the logical id. Borrowed. */
static const char *physical_name(Sam *s, const char *id) {
        json_t *props = json_object_get(json_object_get(s->resources, id), "Properties");
        static const char *const keys[] = {
                "FunctionName", "Name", "StateMachineName", "BucketName", "TopicName", "QueueName", NULL};
        json_t *fn = json_object_get(s->functions, id);
        if (fn)
                return jstr_(fn, "name");
        for (size_t i = 0; keys[i]; i++)
                if (jstr_(props, keys[i]))
                        return jstr_(props, keys[i]);
        return id;
}

/* Ref of a pseudo parameter, parameter or resource: new reference or NULL. */
static json_t *ref(Sam *s, const char *name) {
        if (streq(name, "AWS::Region"))
                return json_string(s->region);
        if (streq(name, "AWS::AccountId"))
                return json_string(s->account);
        if (streq(name, "AWS::Partition"))
                return json_string("aws");
        if (streq(name, "AWS::URLSuffix"))
                return json_string("amazonaws.com");
        if (streq(name, "AWS::StackName"))
                return json_string(s->stack);
        if (streq(name, "AWS::StackId"))
                return json_sprintf("arn:aws:cloudformation:%s:%s:stack/%s/imgflow", s->region, s->account,
                                    s->stack);
        json_t *p = json_object_get(json_object_get(s->template, "Parameters"), name);
        if (p) {
                json_t *d = json_object_get(p, "Default");
                return d ? json_incref(d) : NULL;
        }
        const char *type = resource_type(s, name);
        if (!type)
                return NULL;
        const char *phys = physical_name(s, name);
        if (streq(type, "AWS::Serverless::StateMachine") || streq(type, "AWS::StepFunctions::StateMachine"))
                return json_sprintf("arn:aws:states:%s:%s:stateMachine:%s", s->region, s->account, phys);
        if (streq(type, "AWS::SNS::Topic") || streq(type, "AWS::Serverless::Topic"))
                return json_sprintf("arn:aws:sns:%s:%s:%s", s->region, s->account, phys);
        if (streq(type, "AWS::SQS::Queue"))
                return json_sprintf("https://sqs.%s.amazonaws.com/%s/%s", s->region, s->account, phys);
        return json_string(phys); /* functions, buckets, tables, ...: the name */
}

static json_t *get_att(Sam *s, const char *id, const char *att) {
        const char *type = resource_type(s, id);
        if (!type)
                return NULL;
        const char *phys = physical_name(s, id);
        if (streq(att, "Arn")) {
                if (streq(type, "AWS::Serverless::Function") || streq(type, "AWS::Lambda::Function"))
                        return json_sprintf("arn:aws:lambda:%s:%s:function:%s", s->region, s->account, phys);
                if (strstr(type, "StateMachine"))
                        return json_sprintf("arn:aws:states:%s:%s:stateMachine:%s", s->region, s->account,
                                            phys);
                if (streq(type, "AWS::S3::Bucket"))
                        return json_sprintf("arn:aws:s3:::%s", phys);
                if (streq(type, "AWS::SQS::Queue"))
                        return json_sprintf("arn:aws:sqs:%s:%s:%s", s->region, s->account, phys);
                if (strstr(type, "Table"))
                        return json_sprintf("arn:aws:dynamodb:%s:%s:table/%s", s->region, s->account, phys);
        }
        if (streq(att, "Name") || streq(att, "TopicName") || streq(att, "QueueName"))
                return json_string(phys);
        if (streq(att, "TopicArn"))
                return json_sprintf("arn:aws:sns:%s:%s:%s", s->region, s->account, phys);
        return NULL;
}

/* Fn::Sub's ${Name}, ${Res.Att} and ${!Literal} in text; vars may be NULL.
 * New string or NULL (problem reported). */
static char *sub(Sam *s, const char *text, json_t *vars, const char *where, unsigned depth) {
        size_t cap = strlen(text) + 64, n = 0;
        char *out = xmalloc(cap);
        for (const char *p = text; *p;) {
                const char *piece = NULL;
                _cleanup_json_ json_t *val = NULL;
                size_t plen = 0;
                if (p[0] == '$' && p[1] == '{') {
                        const char *end = strchr(p + 2, '}');
                        if (!end) {
                                piece = p;
                                plen = strlen(p);
                                p += plen;
                        } else if (p[2] == '!') {
                                piece = p + 3; /* ${!Literal} -> ${Literal} */
                                plen = (size_t) (end - p - 3);
                                val = json_sprintf("${%.*s}", (int) plen, piece);
                                p = end + 1;
                        } else {
                                _cleanup_free_ char *name = xstrndup(p + 2, (size_t) (end - p - 2));
                                json_t *v = vars ? json_object_get(vars, name) : NULL;
                                if (v)
                                        val = eval(s, v, where, depth + 1);
                                else if (strchr(name, '.') && !strstr(name, "::")) {
                                        char *dot = strchr(name, '.');
                                        *dot = 0;
                                        val = get_att(s, name, dot + 1);
                                        *dot = '.';
                                } else
                                        val = ref(s, name);
                                if (!val || !(json_is_string(val) || json_is_number(val))) {
                                        problem(s, "%s: ${%s} cannot be resolved", where, name);
                                        free(out);
                                        return NULL;
                                }
                                p = end + 1;
                        }
                        if (val) {
                                char num[64];
                                if (json_is_string(val))
                                        piece = json_string_value(val), plen = json_string_length(val);
                                else {
                                        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                                                 json_integer_value(val));
                                        piece = num, plen = strlen(num);
                                }
                                if (n + plen + 1 > SAM_SUB_MAX) {
                                        problem(s, "%s: Fn::Sub result over %d bytes", where, SAM_SUB_MAX);
                                        free(out);
                                        return NULL;
                                }
                                if (n + plen + 1 > cap) {
                                        cap = (n + plen + 1) * 2;
                                        out = xrealloc(out, cap);
                                }
                                memcpy(out + n, piece, plen);
                                n += plen;
                                continue;
                        }
                } else {
                        piece = p;
                        plen = 1;
                        p++;
                }
                if (n + plen + 1 > cap) {
                        cap = (n + plen + 1) * 2;
                        out = xrealloc(out, cap);
                }
                memcpy(out + n, piece, plen);
                n += plen;
        }
        out[n] = 0;
        return out;
}

/* The template value v with its intrinsic functions resolved: a new
 * reference, or NULL after a problem() naming where. */
static json_t *eval(Sam *s, json_t *v, const char *where, unsigned depth) {
        if (depth > SAM_EVAL_DEPTH_MAX) {
                problem(s, "%s: nested too deeply", where);
                return NULL;
        }
        if (json_is_array(v)) {
                json_t *out = json_array();
                size_t i;
                json_t *e;
                json_array_foreach (v, i, e) {
                        json_t *r = eval(s, e, where, depth + 1);
                        if (!r) {
                                json_decref(out);
                                return NULL;
                        }
                        json_array_append_new(out, r);
                }
                return out;
        }
        if (!json_is_object(v))
                return json_incref(v);
        if (json_object_size(v) == 1) {
                const char *k = json_object_iter_key(json_object_iter(v));
                json_t *a = json_object_get(v, k);
                if (streq(k, "Ref")) {
                        json_t *r = json_is_string(a) ? ref(s, json_string_value(a)) : NULL;
                        if (!r)
                                problem(s,
                                        "%s: Ref %s cannot be resolved (a parameter without a Default, or "
                                        "nothing of that name)",
                                        where, json_is_string(a) ? json_string_value(a) : "?");
                        return r;
                }
                if (streq(k, "Fn::GetAtt")) {
                        const char *id = json_string_value(json_array_get(a, 0));
                        _cleanup_json_ json_t *att = eval(s, json_array_get(a, 1), where, depth + 1);
                        json_t *r =
                                id && json_is_string(att) ? get_att(s, id, json_string_value(att)) : NULL;
                        if (!r)
                                problem(s, "%s: Fn::GetAtt %s.%s cannot be resolved", where, id ? id : "?",
                                        json_is_string(att) ? json_string_value(att) : "?");
                        return r;
                }
                if (streq(k, "Fn::Sub")) {
                        json_t *text = json_is_array(a) ? json_array_get(a, 0) : a;
                        json_t *vars = json_is_array(a) ? json_array_get(a, 1) : NULL;
                        if (!json_is_string(text)) {
                                problem(s, "%s: Fn::Sub needs a string", where);
                                return NULL;
                        }
                        _cleanup_free_ char *r = sub(s, json_string_value(text),
                                                     json_is_object(vars) ? vars : NULL, where, depth);
                        return r ? json_string(r) : NULL;
                }
                if (streq(k, "Fn::Join")) {
                        const char *delim = json_string_value(json_array_get(a, 0));
                        _cleanup_json_ json_t *list = eval(s, json_array_get(a, 1), where, depth + 1);
                        if (!delim || !json_is_array(list)) {
                                if (list || !delim)
                                        problem(s, "%s: Fn::Join needs [delimiter, [values]]", where);
                                return NULL;
                        }
                        size_t total = 0, i;
                        json_t *e;
                        json_array_foreach (list, i, e) {
                                if (!json_is_string(e)) {
                                        problem(s, "%s: Fn::Join of a value that is not a string", where);
                                        return NULL;
                                }
                                total += json_string_length(e) + strlen(delim);
                        }
                        if (total > SAM_SUB_MAX) {
                                problem(s, "%s: Fn::Join result over %d bytes", where, SAM_SUB_MAX);
                                return NULL;
                        }
                        char *out = xmalloc(total + 1);
                        size_t n = 0;
                        json_array_foreach (list, i, e) {
                                if (i > 0) {
                                        memcpy(out + n, delim, strlen(delim));
                                        n += strlen(delim);
                                }
                                memcpy(out + n, json_string_value(e), json_string_length(e));
                                n += json_string_length(e);
                        }
                        json_t *r = json_stringn(out, n);
                        free(out);
                        return r;
                }
                if (streq(k, "Fn::Select")) {
                        _cleanup_json_ json_t *idx = eval(s, json_array_get(a, 0), where, depth + 1);
                        _cleanup_json_ json_t *list = eval(s, json_array_get(a, 1), where, depth + 1);
                        long long i = json_is_integer(idx)  ? json_integer_value(idx)
                                      : json_is_string(idx) ? atoll(json_string_value(idx))
                                                            : -1;
                        json_t *r = json_is_array(list) && i >= 0 ? json_array_get(list, (size_t) i) : NULL;
                        if (!r)
                                problem(s, "%s: Fn::Select out of range", where);
                        return json_incref(r);
                }
                if (streq(k, "Fn::Split")) {
                        const char *delim = json_string_value(json_array_get(a, 0));
                        _cleanup_json_ json_t *str = eval(s, json_array_get(a, 1), where, depth + 1);
                        if (!delim || !*delim || !json_is_string(str)) {
                                problem(s, "%s: Fn::Split needs [delimiter, string]", where);
                                return NULL;
                        }
                        json_t *out = json_array();
                        const char *p = json_string_value(str), *q;
                        while ((q = strstr(p, delim))) {
                                json_array_append_new(out, json_stringn(p, (size_t) (q - p)));
                                p = q + strlen(delim);
                        }
                        json_array_append_new(out, json_string(p));
                        return out;
                }
                if (streq(k, "Fn::FindInMap")) {
                        _cleanup_json_ json_t *args = eval(s, a, where, depth + 1);
                        json_t *m = json_object_get(s->template, "Mappings");
                        for (size_t i = 0; i < 3 && m; i++) {
                                const char *key = json_string_value(json_array_get(args, i));
                                m = key ? json_object_get(m, key) : NULL;
                        }
                        if (!m)
                                problem(s, "%s: Fn::FindInMap cannot be resolved", where);
                        return json_incref(m);
                }
                if (strncmp(k, "Fn::", 4) == 0 || streq(k, "Condition")) {
                        problem(s, "%s: %s is not supported", where, k);
                        return NULL;
                }
        }
        json_t *out = json_object();
        const char *k;
        json_t *e;
        json_object_foreach (v, k, e) {
                json_t *r = eval(s, e, where, depth + 1);
                if (!r) {
                        json_decref(out);
                        return NULL;
                }
                json_object_set_new(out, k, r);
        }
        return out;
}

/* ---- functions ------------------------------------------------------------ */

/* Globals.Function under props (props wins; Environment.Variables merged).
 * New reference. */
static json_t *with_globals(Sam *s, json_t *props) {
        json_t *g = json_object_get(json_object_get(s->template, "Globals"), "Function");
        json_t *out = json_is_object(g) ? json_deep_copy(g) : json_object();
        json_t *genv = json_object_get(json_object_get(out, "Environment"), "Variables");
        json_t *penv = json_object_get(json_object_get(props, "Environment"), "Variables");
        json_t *vars = json_is_object(genv) ? json_deep_copy(genv) : json_object();
        if (json_is_object(penv))
                json_object_update(vars, penv);
        if (json_is_object(props))
                json_object_update(out, props);
        json_object_set_new(out, "Environment", json_pack("{s:o}", "Variables", vars));
        return out;
}

/* The [resources] target of a function (by name or ARN), or NULL. */
static const char *configured_target(Sam *s, const char *name, const char *arn) {
        const char *t = config_get_raw(s->config, "resources", name);
        if (!t && arn)
                t = config_get_raw(s->config, "resources", arn);
        return t;
}

static bool lambda_pool_target(Sam *s, const char *target) {
        return target && strncmp(target, "pool:", 5) == 0 && streq(target + 5, s->pool);
}

/* Fills s->functions: {logical id: {"name", "arn", "target" (configured or
 * NULL), "lambda": the functions-file entry or absent}}. */
static void collect_functions(Sam *s) {
        const char *id;
        json_t *res;
        json_object_foreach (s->resources, id, res) {
                const char *type = jstr_(res, "Type");
                if (!type ||
                    !(streq(type, "AWS::Serverless::Function") || streq(type, "AWS::Lambda::Function")))
                        continue;
                bool serverless = streq(type, "AWS::Serverless::Function");
                _cleanup_json_ json_t *merged =
                        serverless ? with_globals(s, json_object_get(res, "Properties"))
                                   : json_incref(json_object_get(res, "Properties") ?: json_object());
                _cleanup_free_ char *where = xasprintf("function %s", id);
                json_t *fname = json_object_get(merged, "FunctionName");
                _cleanup_json_ json_t *namev = fname ? eval(s, fname, where, 0) : json_string(id);
                if (!json_is_string(namev)) {
                        if (namev)
                                problem(s, "%s: FunctionName is not a string", where);
                        continue;
                }
                const char *name = json_string_value(namev);
                json_t *entry = json_pack(
                        "{s:s, s:o}", "name", name, "arn",
                        json_sprintf("arn:aws:lambda:%s:%s:function:%s", s->region, s->account, name));
                json_object_set_new(s->functions, id, entry);
                const char *target = configured_target(s, name, jstr_(entry, "arn"));
                if (target && !lambda_pool_target(s, target)) {
                        json_object_set_new(entry, "target", json_string(target));
                        printf("function %s: %s, as [resources] maps it\n", name, target);
                        continue;
                }

                _cleanup_json_ json_t *props = eval(s, merged, where, 0);
                if (!props)
                        continue;
                const char *runtime = jstr_(props, "Runtime"), *handler = jstr_(props, "Handler");
                json_t *code = json_object_get(props, serverless ? "CodeUri" : "Code");
                if (jstr_(props, "PackageType") && !streq(jstr_(props, "PackageType"), "Zip")) {
                        problem(s, "%s: PackageType %s (container images) is not supported", where,
                                jstr_(props, "PackageType"));
                        continue;
                }
                if (!runtime || !handler) {
                        problem(s, "%s: Runtime and Handler are required", where);
                        continue;
                }
                if (!json_is_string(code)) {
                        problem(s,
                                "%s: %s must be a local directory (S3 locations and inline code are not "
                                "supported)",
                                where, serverless ? "CodeUri" : "Code");
                        continue;
                }
                const char *c = json_string_value(code);
                if (strncmp(c, "s3://", 5) == 0) {
                        problem(s, "%s: CodeUri %s is an S3 location; only local directories are supported",
                                where, c);
                        continue;
                }
                _cleanup_free_ char *dir = c[0] == '/' ? xstrdup(c) : xasprintf("%s/%s", s->dir, c);
                char real[PATH_MAX];
                if (!realpath(dir, real)) {
                        problem(s, "%s: CodeUri %s: %s", where, dir, strerror(errno));
                        continue;
                }
                json_t *f =
                        json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", name, "runtime", runtime, "handler",
                                  handler, "codeUri", real, "concurrency", (int) s->concurrency);
                json_t *mem = json_object_get(props, "MemorySize"), *to = json_object_get(props, "Timeout");
                if (json_is_string(mem))
                        json_object_set_new(f, "memorySize", json_integer(atoll(json_string_value(mem))));
                else if (json_is_integer(mem))
                        json_object_set(f, "memorySize", mem);
                if (json_is_string(to))
                        json_object_set_new(f, "timeout", json_integer(atoll(json_string_value(to))));
                else if (json_is_integer(to))
                        json_object_set(f, "timeout", to);
                json_t *rc = json_object_get(props, "ReservedConcurrentExecutions");
                if (json_is_integer(rc) && json_integer_value(rc) > 0)
                        json_object_set_new(f, "concurrency",
                                            json_integer(MIN_(json_integer_value(rc), 64)));
                json_t *vars = json_object_get(json_object_get(props, "Environment"), "Variables");
                json_t *env = json_object();
                const char *k;
                json_t *v;
                json_object_foreach (vars, k, v) {
                        if (json_is_string(v))
                                json_object_set(env, k, v);
                        else if (json_is_integer(v))
                                json_object_set_new(
                                        env, k,
                                        json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v)));
                        else if (json_is_boolean(v))
                                json_object_set_new(env, k, json_string(json_is_true(v) ? "true" : "false"));
                }
                json_object_set_new(f, "environment", env);
                json_object_set_new(entry, "lambda", f);
                json_object_set_new(entry, "target", json_sprintf("pool:%s", s->pool));
                printf("function %s: imgflow-lambda (%s, %s, %s)%s\n", name, runtime, handler, real,
                       target ? "" : "; needs [resources] mapping below");
                if (!target)
                        json_object_set_new(entry, "needs_mapping", json_true());
        }
}

/* The entry of a function ARN or name used by a definition, or NULL. */
static json_t *function_of(Sam *s, const char *fn) {
        const char *p = strstr(fn, ":function:");
        _cleanup_free_ char *name = xstrdup(p ? p + 10 : fn);
        char *colon = strchr(name, ':');
        if (colon)
                *colon = 0; /* a version or alias */
        const char *id;
        json_t *e;
        json_object_foreach (s->functions, id, e)
                if (streq(jstr_(e, "name"), name))
                        return e;
        return NULL;
}

/* Every Lambda function a definition's Task states call, checked. */
static void check_tasks(Sam *s, json_t *states, const char *machine) {
        const char *name;
        json_t *st;
        json_object_foreach (states, name, st) {
                if (json_is_object(json_object_get(st, "Iterator")))
                        check_tasks(s, json_object_get(json_object_get(st, "Iterator"), "States"), machine);
                if (json_is_object(json_object_get(st, "ItemProcessor")))
                        check_tasks(s, json_object_get(json_object_get(st, "ItemProcessor"), "States"),
                                    machine);
                size_t i;
                json_t *b;
                json_array_foreach (json_object_get(st, "Branches"), i, b)
                        check_tasks(s, json_object_get(b, "States"), machine);
                const char *res = jstr_(st, "Resource");
                if (!res)
                        continue;
                const char *fn = NULL;
                if (strncmp(res, "arn:aws:states:::lambda:invoke", 30) == 0) {
                        json_t *params = json_object_get(st, "Parameters");
                        if (!params)
                                params = json_object_get(st, "Arguments");
                        fn = jstr_(params, "FunctionName");
                        if (!fn) {
                                problem(s,
                                        "state machine %s: Task %s: its FunctionName is not a fixed string",
                                        machine, name);
                                continue;
                        }
                } else if (strncmp(res, "arn:aws:lambda:", 15) == 0)
                        fn = res;
                else
                        continue;
                json_t *e = function_of(s, fn);
                const char *target = e ? jstr_(e, "target") : configured_target(s, fn, NULL);
                if (!target) {
                        const char *p = strstr(fn, ":function:");
                        target = configured_target(s, p ? p + 10 : fn, fn);
                }
                if (!target)
                        problem(s,
                                "state machine %s: Task %s: %s is neither a function of the template nor in "
                                "[resources]",
                                machine, name, fn);
                else
                        printf("  Task %s: %s -> %s\n", name, fn, target);
        }
}

/* ---- state machines --------------------------------------------------------- */

/* DefinitionSubstitutions: ${key} -> value in every string of def (in place). */
static void substitute(Sam *s, json_t *def, json_t *subs, const char *where) {
        if (json_is_string(def))
                return;
        size_t i;
        json_t *e;
        if (json_is_array(def)) {
                json_array_foreach (def, i, e) {
                        if (json_is_string(e)) {
                                char *r = sub(s, json_string_value(e), subs, where, 0);
                                if (r)
                                        json_array_set_new(def, i, json_string(r));
                                free(r);
                        } else
                                substitute(s, e, subs, where);
                }
                return;
        }
        const char *k;
        json_object_foreach (def, k, e) {
                if (json_is_string(e) && strstr(json_string_value(e), "${")) {
                        char *r = sub(s, json_string_value(e), subs, where, 0);
                        if (r)
                                json_object_set_new(def, k, json_string(r));
                        free(r);
                } else
                        substitute(s, e, subs, where);
        }
}

/* The definition of a state machine resource as JSON: new reference or NULL. */
static json_t *machine_definition(Sam *s, const char *id, json_t *props, bool serverless,
                                  const char *where) {
        json_t *def = NULL;
        json_t *inline_def = json_object_get(props, "Definition");
        json_t *uri = json_object_get(props, "DefinitionUri");
        json_t *str = json_object_get(props, "DefinitionString");
        if (inline_def)
                def = eval(s, inline_def, where, 0);
        else if (str) {
                _cleanup_json_ json_t *text = eval(s, str, where, 0);
                if (!json_is_string(text)) {
                        if (text)
                                problem(s, "%s: DefinitionString is not a string", where);
                        return NULL;
                }
                json_error_t e;
                def = json_loadb(json_string_value(text), json_string_length(text), 0, &e);
                if (!def)
                        problem(s, "%s: DefinitionString is not JSON: line %d: %s", where, e.line, e.text);
        } else if (json_is_string(uri)) {
                const char *u = json_string_value(uri);
                _cleanup_free_ char *path = u[0] == '/' ? xstrdup(u) : xasprintf("%s/%s", s->dir, u);
                _cleanup_free_ char *text = NULL, *error = NULL;
                size_t len = 0;
                if (cli_read_file(path, SAM_TEMPLATE_MAX, &text, &len) < 0) {
                        problem(s, "%s: DefinitionUri %s cannot be read: %s", where, path, strerror(errno));
                        return NULL;
                }
                _cleanup_json_ json_t *raw = NULL;
                if (sam_template_parse(text, len, &raw, &error) < 0) {
                        problem(s, "%s: DefinitionUri %s: %s", where, path, error);
                        return NULL;
                }
                def = eval(s, raw, where, 0);
        } else {
                problem(s, "%s: no Definition, DefinitionUri (a local file) or DefinitionString", where);
                return NULL;
        }
        if (!def)
                return NULL;
        json_t *subs = json_object_get(props, "DefinitionSubstitutions");
        if (json_is_object(subs)) {
                size_t before = s->problems;
                substitute(s, def, subs, where);
                if (s->problems != before) {
                        json_decref(def);
                        return NULL;
                }
        }
        return def;
}

static int add_resource(const char *key, const char *value, void *userdata) {
        (void) resources_add(userdata, key, value);
        return 0;
}

/* As create-state-machine refuses a Task whose Resource maps to nothing:
 * with [resources] and the lines this import adds for imgflow-lambda.
 * false (reported) when the definition would be refused. */
static bool resources_ok(Sam *s, json_t *def, const char *where) {
        _cleanup_(resources_freep) Resources *res = NULL;
        AslDiag d = {};
        const char *id;
        json_t *e;

        if (asl_definition_validate_type(def, ASL_MACHINE_STANDARD, &d) < 0) {
                asl_diag_clear(&d); /* the store refuses it, saying why */
                return true;
        }
        asl_diag_clear(&d);
        (void) resources_new(&res);
        (void) config_foreach_in_section(s->config, "resources", add_resource, res);
        json_object_foreach (s->functions, id, e)
                if (json_is_true(json_object_get(e, "needs_mapping")))
                        (void) resources_add(res, jstr_(e, "name"), jstr_(e, "target"));
        if (resources_check_definition(res, def, &d) >= 0)
                return true;
        for (size_t i = 0; i < d.n; i++)
                problem(s, "%s: %s: %s", where, d.entries[i].pointer, d.entries[i].message);
        asl_diag_clear(&d);
        return false;
}

static void import_machines(Sam *s, CliRemote *remote) {
        const char *id;
        json_t *res;
        json_object_foreach (s->resources, id, res) {
                const char *type = jstr_(res, "Type");
                if (!type || !(streq(type, "AWS::Serverless::StateMachine") ||
                               streq(type, "AWS::StepFunctions::StateMachine")))
                        continue;
                bool serverless = streq(type, "AWS::Serverless::StateMachine");
                json_t *props = json_object_get(res, "Properties");
                _cleanup_free_ char *where = xasprintf("state machine %s", id);
                json_t *namep = json_object_get(props, serverless ? "Name" : "StateMachineName");
                _cleanup_json_ json_t *namev = namep ? eval(s, namep, where, 0) : json_string(id);
                if (!json_is_string(namev)) {
                        if (namev)
                                problem(s, "%s: its name is not a string", where);
                        continue;
                }
                const char *name = json_string_value(namev);
                const char *mtype = jstr_(props, serverless ? "Type" : "StateMachineType");
                if (mtype && streq(mtype, "EXPRESS")) {
                        problem(s, "%s: EXPRESS state machines are not supported", where);
                        continue;
                }
                _cleanup_json_ json_t *def = machine_definition(s, id, props, serverless, where);
                if (!def)
                        continue;
                if (!resources_ok(s, def, where))
                        continue;
                _cleanup_free_ char *text = json_dumps(def, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                AslDiag d = {};
                unsigned version = 0;
                int64_t now = now_ms(CLOCK_REALTIME);
                int r = store_sm_create(cli_remote_redis(remote), name, text, now, &d, &version);
                const char *did = "created";
                if (r == -EEXIST) {
                        asl_diag_clear(&d);
                        r = store_sm_update(cli_remote_redis(remote), name, text, now, &d, &version);
                        did = "updated";
                }
                if (r == -EINVAL) {
                        problem(s, "%s: the definition is not valid:", where);
                        cli_print_diag(stdout, &d);
                        asl_diag_clear(&d);
                        continue;
                }
                asl_diag_clear(&d);
                if (r < 0) {
                        cli_store_error("CreateStateMachine", r, remote);
                        s->problems++;
                        continue;
                }
                if (cli_remote_wait(remote) < 0) {
                        s->problems++;
                        continue;
                }
                printf("state machine %s: %s (version %u) from %s\n", name, did, version, id);
                check_tasks(s, json_object_get(def, "States"), name);
        }
}

/* ---- output files ------------------------------------------------------------- */

static int write_atomic(const char *path, const char *text) {
        _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int) getpid());
        FILE *f = fopen(tmp, "we");
        if (!f)
                return -errno;
        bool ok = fputs(text, f) >= 0;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r ? r : -EIO;
        }
        return 0;
}

/* The functions file: its other functions kept, the template's replaced. */
static int write_functions(Sam *s, const char *path) {
        _cleanup_free_ char *old = NULL;
        size_t len = 0;
        _cleanup_json_ json_t *root = NULL;
        if (cli_read_file(path, 1024 * 1024, &old, &len) == 0) {
                root = json_loadb(old, len, 0, NULL);
                if (!json_is_array(json_object_get(root, "functions"))) {
                        fprintf(stderr, "imgflow import-sam: %s is not a functions file; not changed\n",
                                path);
                        return -EINVAL;
                }
        } else
                root = json_pack("{s:[]}", "functions");
        json_t *list = json_object_get(root, "functions");
        const char *id;
        json_t *e;
        size_t added = 0;
        json_object_foreach (s->functions, id, e) {
                json_t *f = json_object_get(e, "lambda");
                if (!f)
                        continue;
                for (size_t i = json_array_size(list); i-- > 0;)
                        if (streq(jstr_(json_array_get(list, i), "name") ?: "", jstr_(f, "name")))
                                json_array_remove(list, i);
                json_array_append(list, f);
                added++;
        }
        if (added == 0)
                return 0;
        _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        int r = text ? write_atomic(path, text) : -ENOMEM;
        if (r < 0) {
                fprintf(stderr, "imgflow import-sam: cannot write %s: %s\n", path, strerror(-r));
                return r;
        }
        printf("functions file %s: %zu function(s) of the template for imgflow-lambda\n", path, added);
        return 0;
}

static int write_resources(Sam *s, const char *path) {
        _cleanup_free_ char *text = xstrdup("[resources]\n");
        size_t n = 0;
        const char *id;
        json_t *e;
        json_object_foreach (s->functions, id, e) {
                if (!json_is_true(json_object_get(e, "needs_mapping")))
                        continue;
                char *t = xasprintf("%s%s = pool:%s\n", text, jstr_(e, "name"), s->pool);
                free(text);
                text = t;
                n++;
        }
        if (n == 0)
                return 0;
        printf("add to the coordinators' configuration (then reload them):\n%s", text);
        if (!path)
                return 0;
        int r = write_atomic(path, text);
        if (r < 0)
                fprintf(stderr, "imgflow import-sam: cannot write %s: %s\n", path, strerror(-r));
        return r;
}

int verb_import_sam(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                {"functions-file", CLI_OPTION_STRING, offsetof(ImportArgs, functions_file)},
                {"resources-file", CLI_OPTION_STRING, offsetof(ImportArgs, resources_file)},
                {"stack-name", CLI_OPTION_STRING, offsetof(ImportArgs, stack_name)},
                {"concurrency", CLI_OPTION_UINT, offsetof(ImportArgs, concurrency), .min = 1, .max = 64},
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL, *dircopy = NULL, *stack = NULL;
        _cleanup_json_ json_t *tpl = NULL;
        CliRemoteArgs ra = {};
        ImportArgs a = {};
        size_t len = 0;
        int r;

        if (argc < 2 || argv[1][0] == '-') {
                if (argc >= 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                        cli_verb_help(verb, stdout);
                        return CLI_EXIT_OK;
                }
                return cli_missing_option(verb, "TEMPLATE");
        }
        const char *path = argv[1];
        argv[1] = argv[0];
        r = cli_parse_options(verb, argc - 1, argv + 1, options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (cli_read_file_or_warn(path, SAM_TEMPLATE_MAX, "over 1 MiB", &text, &len) < 0)
                return CLI_EXIT_USAGE;
        r = sam_template_parse(text, len, &tpl, &error);
        if (r < 0) {
                fprintf(stderr, "imgflow import-sam: %s: %s\n", path, error);
                return CLI_EXIT_USAGE;
        }
        if (!json_is_object(json_object_get(tpl, "Resources"))) {
                fprintf(stderr, "imgflow import-sam: %s: no Resources\n", path);
                return CLI_EXIT_USAGE;
        }
        if (cli_remote_open(&ra, /* need_kafka= */ false, &remote) < 0)
                return CLI_EXIT_FAILED;

        const Config *c = cli_remote_config(remote);
        dircopy = xstrdup(path);
        const char *dir = dirname(dircopy);
        char real[PATH_MAX];
        if (realpath(dir, real))
                dir = real;
        stack = xstrdup(a.stack_name ? a.stack_name : strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir);
        const char *region = config_get_string(c, "lambda", "region");
        Sam s = {
                .template = tpl,
                .resources = json_object_get(tpl, "Resources"),
                .functions = json_object(),
                .config = c,
                .region = isempty(region) ? config_get_string(c, "api", "region") : region,
                .account = config_get_string(c, "api", "account"),
                .stack = stack,
                .dir = dir,
                .pool = config_get_string(c, "lambda", "pool"),
                .concurrency = a.concurrency ? a.concurrency : 1,
        };

        collect_functions(&s);
        import_machines(&s, remote);
        r = write_functions(&s, a.functions_file ? a.functions_file
                                                 : config_get_string(c, "lambda", "functions"));
        if (r >= 0)
                r = write_resources(&s, a.resources_file);
        json_decref(s.functions);
        if (r < 0)
                return CLI_EXIT_FAILED;
        if (s.problems > 0) {
                printf("%zu thing(s) could not be imported or mapped (above).\n", s.problems);
                return CLI_EXIT_FAILED;
        }
        return CLI_EXIT_OK;
}
