/* SPDX-License-Identifier: MIT */
/*
 * Lambda handlers in runtime processes (see lambda-runtime.h).
 *
 * Why our own process supervisor and not a library: the job is small (start
 * an interpreter with a fixed environment and limits, talk length-prefixed
 * JSON over a socket, kill it on a deadline) and it runs on the worker's
 * pool threads, where a blocking wait is what is wanted; no Debian library
 * does this better than fork/exec and poll.
 *
 * Each runtime process gets one end of a socket pair as fds 3 and 4 (the
 * bootstraps read requests on IMGFLOW_LAMBDA_FD_IN and write answers on
 * IMGFLOW_LAMBDA_FD_OUT), /dev/null as stdin, a pipe as stdout and stderr,
 * its own process group (a timeout kills the handler's children too),
 * PR_SET_PDEATHSIG (it dies with the daemon) and no core files.
 *
 * The pipe: the thread that waits for an invocation's answer also reads the
 * runtime's output and logs it line by line (LAMBDA_FUNCTION= in the
 * journal), so print() and console.log() still reach the log. Between
 * invocations nobody reads it (1 MiB of pipe), as Lambda freezes an idle
 * execution environment; the next invocation, or the process's end, logs
 * what is left.
 *
 * MemorySize, as Lambda measures it (the memory the function uses, not what
 * it reserves): while a runtime runs an invocation (or starts), its resident
 * size is read every 50 ms from /proc; over MemorySize the process group is
 * SIGKILLed, which is what Lambda's memory limit does. A runtime that dies
 * while its peak resident size (wait4's ru_maxrss) reached MemorySize died
 * of memory too. Two limits act before that, so that a handler fails
 * quickly rather than between two samples: Python gets an address-space
 * limit of MemorySize + 128 MiB (headroom for the interpreter's own
 * mappings), so an allocation past it raises MemoryError (an uncaught one
 * ends the runtime as Lambda's would be ended), and Node.js gets Lambda's
 * own V8 limits, --max-old-space-size = 90 % and --max-semi-space-size = 5 %
 * of MemorySize (V8 reserves far more address space than it uses, so
 * RLIMIT_AS would stop it from starting); V8 past its heap limit prints
 * "JavaScript heap out of memory" and aborts, which the output pipe shows.
 * All of these are reported as Lambda reports its out-of-memory kill:
 * Runtime.OutOfMemory, "RequestId: ... Error: Runtime exited with error:
 * signal: killed"; the log says which limit it was.
 *
 * Between fork() and execve() the child only makes async-signal-safe calls:
 * argv and the environment are built once per function when the file is
 * read, the interpreter's path is resolved then too.
 *
 * The daemon's sockets use send(MSG_NOSIGNAL): a runtime that died never
 * raises SIGPIPE in the daemon.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imgflow-config.h"

#include "alloc-util.h"
#include "clock.h"
#include "format.h"
#include "lambda-runtime.h"
#include "log.h"
#include "macro.h"
#include "random.h"

#define LAMBDA_INIT_TIMEOUT_MS 30000 /* a runtime's start, unless the Timeout is longer */
#define LAMBDA_POLL_SLICE_MS 200     /* how often a wait looks at the cancel flag */
#define LAMBDA_EXIT_WAIT_MS 1000     /* an exiting process gets this long before SIGKILL */
#define LAMBDA_MEMORY_SAMPLE_MS 50   /* how often a running invocation's memory is read */
#define LAMBDA_LINE_MAX 4096         /* a longer line of output is logged in pieces */
#define LAMBDA_PIPE_BYTES (1 << 20)  /* output kept while nobody reads it */
#define V8_HEAP_OOM "JavaScript heap out of memory"

typedef struct LambdaSlot {
        pid_t pid;              /* 0 = no process */
        int fd;                 /* our end of the socket pair; -1 without a process */
        int out_fd;             /* the read end of the runtime's stdout/stderr pipe; -1 without */
        bool busy;              /* an invocation holds it (under rt->lock) */
        bool killed_for_memory; /* its resident size went over MemorySize */
        bool heap_oom;          /* V8 said "JavaScript heap out of memory" */
        unsigned index;
        uint64_t peak_rss_kb; /* the largest resident size sampled */
        size_t line_len;      /* the output's unfinished line */
        char line[LAMBDA_LINE_MAX];
} LambdaSlot;

typedef struct LambdaFunction {
        char *name, *runtime, *handler, *code_dir;
        unsigned memory_mb, timeout_s, concurrency;
        bool python;
        char **argv, **envp; /* for execve(), built at load */
        LambdaSlot *slots;
} LambdaFunction;

struct LambdaRuntime {
        LambdaFunction *functions;
        size_t n;
        Operation *ops;
        char *region, *account;
        pthread_mutex_t lock;
        pthread_cond_t freed; /* a slot became free */
};

/* ---- loading ------------------------------------------------------------ */

static const char *const reserved_env[] = {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "IMGFLOW_LAMBDA_FD_IN",
        "IMGFLOW_LAMBDA_FD_OUT",
        NULL,
};

static bool env_name_reserved(const char *k) {
        if (strncmp(k, "AWS_LAMBDA_", 11) == 0)
                return true;
        for (size_t i = 0; reserved_env[i]; i++)
                if (streq(reserved_env[i], k))
                        return true;
        return false;
}

/* Lambda's rule for variable names: a letter, then letters, digits, '_'. */
static bool env_name_valid(const char *k) {
        if (!k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z')))
                return false;
        for (const char *p = k; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_'))
                        return false;
        return strlen(k) <= 128;
}

/* Function names as Lambda allows them (and as [resources] names them). */
static bool function_name_valid(const char *s) {
        if (!s || !*s || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '-' || *s == '_'))
                        return false;
        return true;
}

static bool handler_valid(const char *h) {
        const char *s = h;
        if (!s || !*s || strlen(s) > 128 || !strchr(s, '.') || strstr(s, "..") || *s == '/')
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr("._-/$", *s)))
                        return false;
        return true;
}

/* An executable path for prog: itself when it has a '/', else the first
 * match on PATH. New string or NULL. */
static char *find_program(const char *prog) {
        if (strchr(prog, '/'))
                return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
        const char *path = getenv("PATH");
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *p = xasprintf("%s/%s", dir, prog);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

typedef struct Strv {
        char **v;
        size_t n, allocated;
} Strv;

static void strv_push(Strv *s, char *str) {
        if (s->n + 2 > s->allocated) {
                s->allocated = MAX_(s->allocated * 2, (size_t) 16);
                s->v = xrealloc(s->v, s->allocated * sizeof(char *));
        }
        s->v[s->n++] = str;
        s->v[s->n] = NULL;
}

static void strv_free_(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static void function_done(LambdaFunction *fn) {
        free(fn->name);
        free(fn->runtime);
        free(fn->handler);
        free(fn->code_dir);
        strv_free_(fn->argv);
        strv_free_(fn->envp);
        free(fn->slots);
}

typedef struct LoadEnv {
        const char *python, *node, *runtime_dir, *s3_endpoint, *sfn_endpoint, *access_key, *secret_key,
                *session_token, *region;
} LoadEnv;

static int fail(char **ret_error, const char *file, const char *fn, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(char **ret_error, const char *file, const char *fn, const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *msg = NULL;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (ret_error)
                *ret_error = fn ? xasprintf("%s: function %s: %s", file, fn, msg ? msg : "invalid")
                                : xasprintf("%s: %s", file, msg ? msg : "invalid");
        return -EINVAL;
}

static int function_load(LambdaFunction *fn, json_t *obj, const char *file, const char *base_dir,
                         const LoadEnv *le, char **ret_error) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        const char *runtime = json_string_value(json_object_get(obj, "runtime"));
        const char *handler = json_string_value(json_object_get(obj, "handler"));
        const char *code = json_string_value(json_object_get(obj, "codeUri"));
        json_t *mem = json_object_get(obj, "memorySize"), *timeout = json_object_get(obj, "timeout"),
               *conc = json_object_get(obj, "concurrency"), *env = json_object_get(obj, "environment");

        if (!function_name_valid(name))
                return fail(ret_error, file, NULL, "\"name\" must be 1-64 letters, digits, '-' or '_'");
        if (!runtime || !(strncmp(runtime, "python3", 7) == 0 || strncmp(runtime, "nodejs", 6) == 0))
                return fail(ret_error, file, name, "\"runtime\" must be python3.x or nodejsN.x, not \"%s\"",
                            runtime ? runtime : "(missing)");
        if (!handler_valid(handler))
                return fail(ret_error, file, name,
                            "\"handler\" must be module.function (at most 128 bytes)");
        if (!code || !*code || strlen(code) > PATH_MAX / 2)
                return fail(ret_error, file, name, "\"codeUri\" (the code's directory) is missing");
        if (mem && (!json_is_integer(mem) || json_integer_value(mem) < LAMBDA_MEMORY_MIN_MB ||
                    json_integer_value(mem) > LAMBDA_MEMORY_MAX_MB))
                return fail(ret_error, file, name, "\"memorySize\" must be an integer from %d to %d (MB)",
                            LAMBDA_MEMORY_MIN_MB, LAMBDA_MEMORY_MAX_MB);
        if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
                        json_integer_value(timeout) > LAMBDA_TIMEOUT_MAX_S))
                return fail(ret_error, file, name, "\"timeout\" must be an integer from 1 to %d (seconds)",
                            LAMBDA_TIMEOUT_MAX_S);
        if (conc && (!json_is_integer(conc) || json_integer_value(conc) < 1 ||
                     json_integer_value(conc) > LAMBDA_CONCURRENCY_MAX))
                return fail(ret_error, file, name, "\"concurrency\" must be an integer from 1 to %d",
                            LAMBDA_CONCURRENCY_MAX);
        if (env && !json_is_object(env))
                return fail(ret_error, file, name, "\"environment\" must be an object of strings");

        fn->name = xstrdup(name);
        fn->runtime = xstrdup(runtime);
        fn->handler = xstrdup(handler);
        fn->python = strncmp(runtime, "python", 6) == 0;
        fn->memory_mb = mem ? (unsigned) json_integer_value(mem) : 128;
        fn->timeout_s = timeout ? (unsigned) json_integer_value(timeout) : 3;
        fn->concurrency = conc ? (unsigned) json_integer_value(conc) : 1;
        fn->code_dir = code[0] == '/' ? xstrdup(code) : xasprintf("%s/%s", base_dir, code);

        struct stat st;
        if (stat(fn->code_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return fail(ret_error, file, name, "\"codeUri\" %s is not a directory", fn->code_dir);

        /* argv */
        Strv argv = {};
        const char *interp = fn->python ? le->python : le->node;
        char *path = find_program(interp);
        if (!path)
                return fail(ret_error, file, name, "the %s interpreter \"%s\" is not found",
                            fn->python ? "lambda.python" : "lambda.node", interp);
        strv_push(&argv, path);
        if (fn->python) {
                strv_push(&argv, xstrdup("-u"));
                strv_push(&argv, xasprintf("%s/bootstrap.py", le->runtime_dir));
        } else {
                /* Lambda's Node.js runtime: 5 % new space, 90 % old space */
                strv_push(&argv, xasprintf("--max-semi-space-size=%u", MAX_(fn->memory_mb * 5 / 100, 1u)));
                strv_push(&argv, xasprintf("--max-old-space-size=%u", fn->memory_mb * 90 / 100));
                strv_push(&argv, xasprintf("%s/bootstrap.js", le->runtime_dir));
        }
        fn->argv = argv.v;
        if (access(fn->argv[argv.n - 1], R_OK) < 0)
                return fail(ret_error, file, name,
                            "the runtime bootstrap %s cannot be read (lambda.runtime_dir)",
                            fn->argv[argv.n - 1]);

        /* environment: Lambda's reserved variables, the endpoints and
         * credentials, then the function's own */
        Strv e = {};
        const char *p = getenv("PATH");
        strv_push(&e, xasprintf("PATH=%s", p ? p : "/usr/local/bin:/usr/bin:/bin"));
        strv_push(&e, xstrdup("LANG=C.UTF-8"));
        strv_push(&e, xstrdup("TZ=:UTC"));
        strv_push(&e, xasprintf("LAMBDA_TASK_ROOT=%s", fn->code_dir));
        strv_push(&e, xasprintf("LAMBDA_RUNTIME_DIR=%s", le->runtime_dir));
        strv_push(&e, xasprintf("_HANDLER=%s", fn->handler));
        strv_push(&e, xasprintf("AWS_EXECUTION_ENV=AWS_Lambda_%s", fn->runtime));
        strv_push(&e, xasprintf("AWS_LAMBDA_FUNCTION_NAME=%s", fn->name));
        strv_push(&e, xasprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%u", fn->memory_mb));
        strv_push(&e, xstrdup("AWS_LAMBDA_FUNCTION_VERSION=$LATEST"));
        strv_push(&e, xasprintf("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", fn->name));
        strv_push(&e, xasprintf("AWS_REGION=%s", le->region));
        strv_push(&e, xasprintf("AWS_DEFAULT_REGION=%s", le->region));
        strv_push(&e, xstrdup("IMGFLOW_LAMBDA_FD_IN=3"));
        strv_push(&e, xstrdup("IMGFLOW_LAMBDA_FD_OUT=4"));
        if (!isempty(le->access_key))
                strv_push(&e, xasprintf("AWS_ACCESS_KEY_ID=%s", le->access_key));
        if (!isempty(le->secret_key))
                strv_push(&e, xasprintf("AWS_SECRET_ACCESS_KEY=%s", le->secret_key));
        if (!isempty(le->session_token))
                strv_push(&e, xasprintf("AWS_SESSION_TOKEN=%s", le->session_token));
        bool own_s3 = false, own_sfn = false;
        size_t env_bytes = 0;
        const char *k;
        json_t *v;
        json_object_foreach (env, k, v) {
                if (!env_name_valid(k) || !json_is_string(v)) {
                        fn->envp = e.v;
                        return fail(
                                ret_error, file, name,
                                "environment variable \"%.64s\": names are a letter then letters, digits "
                                "or '_', values strings",
                                k);
                }
                if (env_name_reserved(k)) {
                        fn->envp = e.v;
                        return fail(ret_error, file, name, "environment variable %s is reserved by Lambda",
                                    k);
                }
                env_bytes += strlen(k) + json_string_length(v);
                if (env_bytes > LAMBDA_ENV_BYTES_MAX) {
                        fn->envp = e.v;
                        return fail(ret_error, file, name, "the environment is over Lambda's %d bytes",
                                    LAMBDA_ENV_BYTES_MAX);
                }
                own_s3 |= streq(k, "AWS_ENDPOINT_URL_S3");
                own_sfn |= streq(k, "AWS_ENDPOINT_URL_SFN");
                strv_push(&e, xasprintf("%s=%s", k, json_string_value(v)));
        }
        if (!own_s3 && !isempty(le->s3_endpoint))
                strv_push(&e, xasprintf("AWS_ENDPOINT_URL_S3=%s", le->s3_endpoint));
        if (!own_sfn && !isempty(le->sfn_endpoint))
                strv_push(&e, xasprintf("AWS_ENDPOINT_URL_SFN=%s", le->sfn_endpoint));
        if (fn->python)
                strv_push(&e, xstrdup("PYTHONDONTWRITEBYTECODE=1"));
        fn->envp = e.v;

        fn->slots = xmalloc(fn->concurrency * sizeof(LambdaSlot));
        for (unsigned i = 0; i < fn->concurrency; i++)
                fn->slots[i] = (LambdaSlot){.pid = 0, .fd = -1, .out_fd = -1, .busy = false, .index = i};
        return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *buf = xmalloc(LAMBDA_FUNCTIONS_FILE_MAX + 1);
        size_t n = fread(buf, 1, LAMBDA_FUNCTIONS_FILE_MAX + 1, f);
        bool bad = ferror(f);
        fclose(f);
        if (bad || n > LAMBDA_FUNCTIONS_FILE_MAX) {
                free(buf);
                return bad ? -EIO : -EFBIG;
        }
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return 0;
}

int lambda_runtime_new(const Config *c, LambdaRuntime **ret, char **ret_error) {
        const char *file = config_get_string(c, "lambda", "functions");
        _cleanup_free_ char *buf = NULL, *base = NULL, *sfn = NULL;
        size_t len = 0;
        json_error_t jerr;
        int r;

        r = read_file(file, &buf, &len);
        if (r < 0) {
                if (r == -ENOENT)
                        *ret_error = xasprintf("lambda.functions %s does not exist: there are no functions "
                                               "to run (imgflow import-sam writes it from a SAM template)",
                                               file);
                else
                        *ret_error = xasprintf("Failed to read lambda.functions %s: %s", file,
                                               r == -EFBIG ? "over 1 MiB" : strerror(-r));
                return r == -ENOENT ? -ENOENT : -EINVAL;
        }
        _cleanup_(json_decrefp) json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return fail(ret_error, file, NULL, "line %d: %s", jerr.line, jerr.text);
        json_t *list = json_object_get(root, "functions");
        if (!json_is_array(list))
                return fail(ret_error, file, NULL, "\"functions\" must be an array");
        if (json_array_size(list) > LAMBDA_FUNCTIONS_MAX)
                return fail(ret_error, file, NULL, "more than %d functions", LAMBDA_FUNCTIONS_MAX);

        const char *slash = strrchr(file, '/');
        base = slash ? xstrndup(file, (size_t) (slash - file)) : xstrdup(".");
        if (!*base) {
                free(base);
                base = xstrdup("/");
        }

        const char *api_listen = config_get_string(c, "api", "listen");
        const char *sfn_conf = config_get_string(c, "lambda", "sfn_endpoint");
        if (!isempty(sfn_conf))
                sfn = xstrdup(sfn_conf);
        else if (!isempty(api_listen))
                sfn = xasprintf("http://%s", api_listen);
        const char *region = config_get_string(c, "lambda", "region");
        if (isempty(region))
                region = config_get_string(c, "api", "region");
        const char *s3_endpoint = config_get_string(c, "lambda", "s3_endpoint");
        if (isempty(s3_endpoint))
                s3_endpoint = config_get_string(c, "s3", "endpoint");
        if (isempty(s3_endpoint))
                s3_endpoint = getenv("AWS_ENDPOINT_URL_S3");
        const char *ak = config_get_string(c, "lambda", "access_key_id");
        const char *sk = config_get_string(c, "lambda", "secret_access_key");
        const char *st = NULL;
        if (isempty(ak) && isempty(sk)) {
                ak = config_get_string(c, "s3", "access_key_id");
                sk = config_get_string(c, "s3", "secret_access_key");
                st = config_get_string(c, "s3", "session_token");
        }
        if (isempty(ak) && isempty(sk)) {
                ak = getenv("AWS_ACCESS_KEY_ID");
                sk = getenv("AWS_SECRET_ACCESS_KEY");
                st = getenv("AWS_SESSION_TOKEN");
        }
        const char *rdir = config_get_string(c, "lambda", "runtime_dir");
        LoadEnv le = {
                .python = config_get_string(c, "lambda", "python"),
                .node = config_get_string(c, "lambda", "node"),
                .runtime_dir = isempty(rdir) ? IMGFLOW_LAMBDA_RUNTIME_DIR : rdir,
                .s3_endpoint = s3_endpoint,
                .sfn_endpoint = sfn,
                .access_key = ak,
                .secret_key = sk,
                .session_token = st,
                .region = region,
        };

        LambdaRuntime *rt = xmalloc(sizeof(*rt));
        *rt = (LambdaRuntime){};
        pthread_mutex_init(&rt->lock, NULL);
        pthread_cond_init(&rt->freed, NULL);
        rt->region = xstrdup(region);
        rt->account = xstrdup(config_get_string(c, "api", "account"));
        rt->functions = xmalloc(MAX_(json_array_size(list), (size_t) 1) * sizeof(LambdaFunction));
        size_t total = 0;
        for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *obj = json_array_get(list, i);
                LambdaFunction *fn = &rt->functions[rt->n];
                *fn = (LambdaFunction){};
                rt->n++;
                r = json_is_object(obj) ? function_load(fn, obj, file, base, &le, ret_error)
                                        : fail(ret_error, file, NULL, "functions[%zu] is not an object", i);
                if (r < 0) {
                        lambda_runtime_free(rt);
                        return r;
                }
                for (size_t j = 0; j + 1 < rt->n; j++)
                        if (streq(rt->functions[j].name, fn->name)) {
                                r = fail(ret_error, file, fn->name, "defined twice");
                                lambda_runtime_free(rt);
                                return r;
                        }
                total += fn->concurrency;
        }
        if (total > 256) {
                r = fail(ret_error, file, NULL, "the functions' concurrency adds up to %zu, over 256",
                         total);
                lambda_runtime_free(rt);
                return r;
        }
        rt->ops = xmalloc(MAX_(rt->n, (size_t) 1) * sizeof(Operation));
        for (size_t i = 0; i < rt->n; i++)
                rt->ops[i] = (Operation){
                        .name = rt->functions[i].name,
                        .params = NULL,
                        .fn = lambda_runtime_op,
                        .summary = "a Lambda handler run by imgflow-lambda",
                };
        *ret = rt;
        return 0;
}

static void slot_kill(const LambdaFunction *fn, LambdaSlot *s);

LambdaRuntime *lambda_runtime_free(LambdaRuntime *rt) {
        if (!rt)
                return NULL;
        for (size_t i = 0; i < rt->n; i++) {
                LambdaFunction *fn = &rt->functions[i];
                for (unsigned j = 0; fn->slots && j < fn->concurrency; j++)
                        slot_kill(fn, &fn->slots[j]);
                function_done(fn);
        }
        free(rt->functions);
        free(rt->ops);
        free(rt->region);
        free(rt->account);
        pthread_mutex_destroy(&rt->lock);
        pthread_cond_destroy(&rt->freed);
        free(rt);
        return NULL;
}

const Operation *lambda_runtime_operations(const LambdaRuntime *rt, size_t *ret_n) {
        *ret_n = rt->n;
        return rt->ops;
}

unsigned lambda_runtime_concurrency(const LambdaRuntime *rt) {
        unsigned n = 0;
        for (size_t i = 0; i < rt->n; i++)
                n += rt->functions[i].concurrency;
        return n;
}

/* ---- processes ------------------------------------------------------------ */

static uint64_t mono_ms(void) {
        return now_usec(CLOCK_MONOTONIC) / 1000;
}

/* Logs the runtime's output that is complete lines (all of it with
 * flush), one journal entry per line with the function's name. */
static void output_log(const LambdaFunction *fn, LambdaSlot *s, bool flush) {
        char field[128];
        snprintf(field, sizeof(field), "LAMBDA_FUNCTION=%s", fn->name);
        const char *fields[] = {field, NULL};
        size_t start = 0;
        for (size_t i = 0; i < s->line_len; i++) {
                if (s->line[i] != '\n')
                        continue;
                log_fields(LOG_INFO, fields, "%.*s", (int) (i - start), s->line + start);
                start = i + 1;
        }
        if (start == 0 && (flush || s->line_len == sizeof(s->line)) && s->line_len > 0)
                start = s->line_len, log_fields(LOG_INFO, fields, "%.*s", (int) s->line_len, s->line);
        memmove(s->line, s->line + start, s->line_len - start);
        s->line_len -= start;
}

/* Reads what the runtime wrote to stdout/stderr so far (without blocking),
 * logs it and looks for V8's out-of-memory line. At the end of the output
 * (the process and its children are gone) the pipe is closed. */
static void output_drain(const LambdaFunction *fn, LambdaSlot *s) {
        while (s->out_fd >= 0) {
                ssize_t k = read(s->out_fd, s->line + s->line_len, sizeof(s->line) - s->line_len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        if (k == 0 || errno != EAGAIN) {
                                output_log(fn, s, /* flush= */ true);
                                close(s->out_fd);
                                s->out_fd = -1;
                        }
                        return;
                }
                /* the needle may straddle two reads: search from before the new bytes */
                size_t from = s->line_len > strlen(V8_HEAP_OOM) ? s->line_len - strlen(V8_HEAP_OOM) : 0;
                s->line_len += (size_t) k;
                if (!fn->python &&
                    memmem(s->line + from, s->line_len - from, V8_HEAP_OOM, strlen(V8_HEAP_OOM)))
                        s->heap_oom = true;
                output_log(fn, s, /* flush= */ false);
        }
}

/* The resident size of pid in KiB from /proc/PID/statm; 0 when unknown. */
static uint64_t resident_kb(pid_t pid) {
        char path[64], buf[128];
        snprintf(path, sizeof(path), "/proc/%d/statm", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        unsigned long long size = 0, resident = 0;
        if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
                return 0;
        return (uint64_t) resident * ((uint64_t) sysconf(_SC_PAGESIZE) / 1024);
}

/* Lambda's memory limit: the runtime's resident size over MemorySize ends
 * it (SIGKILL to its group, as the kernel's memory limit would). */
static void memory_check(const LambdaFunction *fn, LambdaSlot *s) {
        if (s->pid <= 0 || s->killed_for_memory)
                return;
        uint64_t kb = resident_kb(s->pid);
        s->peak_rss_kb = MAX_(s->peak_rss_kb, kb);
        if (kb <= (uint64_t) fn->memory_mb * 1024)
                return;
        s->killed_for_memory = true;
        (void) kill(-s->pid, SIGKILL);
        (void) kill(s->pid, SIGKILL);
}

/* Waits for the process to end within wait_ms, then SIGKILLs its group and
 * reaps it, and logs the rest of its output. *ret_status: its wait status;
 * *ret_maxrss_kb: its peak resident size (KiB). */
static int slot_reap(const LambdaFunction *fn, LambdaSlot *s, uint64_t wait_ms, int *ret_status,
                     uint64_t *ret_maxrss_kb) {
        int status = 0;
        pid_t r = 0;
        struct rusage ru = {};
        uint64_t until = mono_ms() + wait_ms;

        if (s->pid <= 0)
                return -ESRCH;
        for (;;) {
                r = wait4(s->pid, &status, WNOHANG, &ru);
                if (r != 0 || mono_ms() >= until)
                        break;
                (void) poll(NULL, 0, 10);
        }
        if (r == 0) {
                (void) kill(-s->pid, SIGKILL);
                (void) kill(s->pid, SIGKILL);
                do
                        r = wait4(s->pid, &status, 0, &ru);
                while (r < 0 && errno == EINTR);
        }
        (void) kill(-s->pid, SIGKILL); /* what the handler left behind */
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        s->pid = 0;
        /* what is left of the output; a child that escaped the group and
         * still holds the pipe leaves it open: close it anyway */
        output_drain(fn, s);
        output_log(fn, s, /* flush= */ true);
        if (s->out_fd >= 0)
                close(s->out_fd);
        s->out_fd = -1;
        if (ret_status)
                *ret_status = status;
        if (ret_maxrss_kb)
                *ret_maxrss_kb = MAX_((uint64_t) ru.ru_maxrss, s->peak_rss_kb);
        return 0;
}

static void slot_kill(const LambdaFunction *fn, LambdaSlot *s) {
        if (s->pid <= 0)
                return;
        (void) shutdown(s->fd, SHUT_RDWR); /* end of input: the bootstrap exits */
        (void) slot_reap(fn, s, LAMBDA_EXIT_WAIT_MS / 4, NULL, NULL);
}

static int slot_spawn(const LambdaFunction *fn, LambdaSlot *s) {
        int sv[2], out[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        if (pipe2(out, O_CLOEXEC) < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        (void) fcntl(out[0], F_SETPIPE_SZ, LAMBDA_PIPE_BYTES); /* the default 64 KiB if refused */
        (void) fcntl(out[0], F_SETFL, O_NONBLOCK);
        sigset_t all;
        sigfillset(&all);
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                close(out[0]);
                close(out[1]);
                return r;
        }
        if (pid == 0) {
                /* the child: async-signal-safe calls only */
                struct sigaction dfl = {.sa_handler = SIG_DFL};
                for (int sig = 1; sig < NSIG; sig++)
                        (void) sigaction(sig, &dfl, NULL);
                (void) sigprocmask(SIG_UNBLOCK, &all, NULL);
                (void) setpgid(0, 0);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                int fd = fcntl(sv[1], F_DUPFD, 10);
                int o = fcntl(out[1], F_DUPFD, 10);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd < 0 || o < 0 || null < 0 || dup2(null, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0 ||
                    dup2(fd, 3) < 0 || dup2(fd, 4) < 0)
                        _exit(127);
                (void) close_range(5, ~0U, 0);
                struct rlimit no_core = {0, 0};
                (void) setrlimit(RLIMIT_CORE, &no_core);
                if (fn->python) {
                        rlim_t lim = ((rlim_t) fn->memory_mb + LAMBDA_AS_HEADROOM_MB) << 20;
                        struct rlimit rl = {lim, lim};
                        (void) setrlimit(RLIMIT_AS, &rl);
                }
                if (chdir(fn->code_dir) < 0)
                        _exit(126);
                execve(fn->argv[0], fn->argv, fn->envp);
                _exit(127);
        }
        close(sv[1]);
        close(out[1]);
        s->pid = pid;
        s->fd = sv[0];
        s->out_fd = out[0];
        s->killed_for_memory = s->heap_oom = false;
        s->peak_rss_kb = 0;
        s->line_len = 0;
        return 0;
}

/* Reads (out = false) or writes (out = true) exactly n bytes on the slot's
 * socket until deadline (CLOCK_MONOTONIC ms), logging the runtime's output,
 * reading its memory and looking at the cancel flag meanwhile. 0,
 * -ETIMEDOUT, -ECANCELED, -EPIPE (the runtime closed its end), -errno. */
static int transfer(const LambdaFunction *fn, LambdaSlot *s, void *buf, size_t n, bool out,
                    uint64_t deadline, const OpContext *ctx) {
        size_t off = 0;
        while (off < n) {
                uint64_t now = mono_ms();
                if (now >= deadline)
                        return -ETIMEDOUT;
                if (op_context_cancelled(ctx))
                        return -ECANCELED;
                struct pollfd p[2] = {
                        {.fd = s->fd, .events = out ? POLLOUT : POLLIN},
                        {.fd = s->out_fd, .events = POLLIN},
                };
                int k = poll(p, 2, (int) MIN_(deadline - now, (uint64_t) LAMBDA_MEMORY_SAMPLE_MS));
                if (k < 0 && errno != EINTR)
                        return -errno;
                memory_check(fn, s);
                if (k > 0 && p[1].revents)
                        output_drain(fn, s);
                if (k <= 0 || !p[0].revents)
                        continue;
                ssize_t done = out ? send(s->fd, (char *) buf + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL)
                                   : recv(s->fd, (char *) buf + off, n - off, MSG_DONTWAIT);
                if (done == 0 && !out)
                        return -EPIPE;
                if (done < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return errno == ECONNRESET ? -EPIPE : -errno;
                }
                off += (size_t) done;
        }
        return 0;
}

/* One frame: *ret a new JSON value. -EBADMSG when it is not JSON or too large. */
static int read_frame(const LambdaFunction *fn, LambdaSlot *s, uint64_t deadline, const OpContext *ctx,
                      json_t **ret) {
        uint8_t head[4];
        int r = transfer(fn, s, head, 4, false, deadline, ctx);
        if (r < 0)
                return r;
        uint32_t n = (uint32_t) head[0] << 24 | (uint32_t) head[1] << 16 | (uint32_t) head[2] << 8 | head[3];
        if (n > LAMBDA_PAYLOAD_MAX + 65536)
                return -EBADMSG;
        _cleanup_free_ char *buf = xmalloc(n + 1);
        r = transfer(fn, s, buf, n, false, deadline, ctx);
        if (r < 0)
                return r;
        json_t *v = json_loadb(buf, n, JSON_DECODE_ANY, NULL);
        if (!v)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int write_frame(const LambdaFunction *fn, LambdaSlot *s, json_t *v, uint64_t deadline,
                       const OpContext *ctx) {
        _cleanup_free_ char *body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!body)
                return -ENOMEM;
        size_t n = strlen(body);
        if (n > LAMBDA_PAYLOAD_MAX)
                return -E2BIG;
        uint8_t head[4] = {(uint8_t) (n >> 24), (uint8_t) (n >> 16), (uint8_t) (n >> 8), (uint8_t) n};
        int r = transfer(fn, s, head, 4, true, deadline, ctx);
        return r < 0 ? r : transfer(fn, s, body, n, true, deadline, ctx);
}

/* ---- failures ------------------------------------------------------------- */

/* error = the document's errorType (Lambda.Unknown without one), cause =
 * the document itself, its stack trimmed from the end to fit the cause
 * limit. doc borrowed. */
static int fail_with_document(TaskFailure *f, json_t *doc) {
        const char *type = json_string_value(json_object_get(doc, "errorType"));
        _cleanup_(json_decrefp) json_t *copy = json_deep_copy(doc);
        char *cause = NULL;

        if (!copy)
                return -ENOMEM;
        for (;;) {
                free(cause);
                cause = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (!cause)
                        return -ENOMEM;
                if (strlen(cause) <= LAMBDA_CAUSE_MAX)
                        break;
                json_t *st = json_object_get(copy, "stackTrace");
                if (!json_is_array(st) || json_array_size(st) == 0)
                        st = json_object_get(copy, "trace");
                if (json_is_array(st) && json_array_size(st) > 0)
                        json_array_remove(st, json_array_size(st) - 1);
                else {
                        const char *msg = json_string_value(json_object_get(copy, "errorMessage"));
                        size_t keep = msg ? strlen(msg) / 2 : 0;
                        if (keep == 0) {
                                free(cause);
                                cause = xstrdup("{\"errorMessage\":\"(too long)\"}");
                                break;
                        }
                        json_object_set_new(copy, "errorMessage", json_stringn(msg, keep));
                }
        }
        task_failure_clear(f);
        f->error = xstrndup(type && *type ? type : "Lambda.Unknown", 256);
        f->cause = cause;
        return -EIO;
}

static int fail_with(TaskFailure *f, const char *type, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail_with(TaskFailure *f, const char *type, const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *msg = NULL;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        _cleanup_(json_decrefp) json_t *doc =
                json_pack("{s:s, s:s}", "errorType", type, "errorMessage", msg ? msg : "");
        if (!doc)
                return task_failure_set(f, -ENOMEM, type, "out of memory");
        return fail_with_document(f, doc);
}

/* "exit status 1", "signal: killed": the words Lambda's Runtime.ExitError uses. */
static void describe_status(int status, char *buf, size_t size) {
        if (WIFSIGNALED(status)) {
                const char *name = strsignal(WTERMSIG(status));
                snprintf(buf, size, "signal: %s", name ? name : "unknown");
                char *p = buf + strlen("signal: ");
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        } else
                snprintf(buf, size, "exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Whether a runtime that ended during an invocation (or its start) died of
 * memory, and which limit saw it (for the log); NULL when not. */
static const char *died_of_memory(const LambdaFunction *fn, const LambdaSlot *s, uint64_t maxrss_kb) {
        if (s->killed_for_memory)
                return "its resident size went over MemorySize";
        if (s->heap_oom)
                return "V8: JavaScript heap out of memory";
        if (maxrss_kb >= (uint64_t) fn->memory_mb * 1024)
                return "its peak resident size reached MemorySize";
        return NULL;
}

/* Lambda's error document for a function over its memory: the runtime is
 * killed, and its message is that of the kill. */
static int fail_out_of_memory(const LambdaFunction *fn, const LambdaSlot *s, const char *why, int status,
                              uint64_t maxrss_kb, const char *request_id, TaskFailure *f) {
        char how[64];
        describe_status(status, how, sizeof(how));
        log_warning("Function %s went over its MemorySize of %u MB in slot %u (%s; %s, peak resident size "
                    "%" PRIu64 " MB); it is started again for the next invocation.",
                    fn->name, fn->memory_mb, s->index, why, how, maxrss_kb / 1024);
        return fail_with(f, "Runtime.OutOfMemory",
                         "RequestId: %s Error: Runtime exited with error: signal: killed", request_id);
}

/* ---- invocation ------------------------------------------------------------ */

static LambdaSlot *slot_acquire(LambdaRuntime *rt, LambdaFunction *fn, const OpContext *ctx) {
        LambdaSlot *got = NULL;
        pthread_mutex_lock(&rt->lock);
        while (!got) {
                for (unsigned i = 0; i < fn->concurrency && !got; i++)
                        if (!fn->slots[i].busy)
                                got = &fn->slots[i];
                if (got) {
                        got->busy = true;
                        break;
                }
                if (op_context_cancelled(ctx))
                        break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += LAMBDA_POLL_SLICE_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                (void) pthread_cond_timedwait(&rt->freed, &rt->lock, &ts);
        }
        pthread_mutex_unlock(&rt->lock);
        return got;
}

static void slot_release(LambdaRuntime *rt, LambdaSlot *s) {
        pthread_mutex_lock(&rt->lock);
        s->busy = false;
        pthread_cond_broadcast(&rt->freed);
        pthread_mutex_unlock(&rt->lock);
}

/* Starts the slot's process and waits for "ready" (or its initError). */
static int slot_start(LambdaFunction *fn, LambdaSlot *s, const char *request_id, const OpContext *ctx,
                      TaskFailure *f) {
        int r = slot_spawn(fn, s);
        if (r < 0)
                return fail_with(f, "Lambda.ServiceException", "Failed to start the %s runtime of %s: %s",
                                 fn->runtime, fn->name, strerror(-r));
        _cleanup_(json_decrefp) json_t *msg = NULL;
        uint64_t init_ms = MAX_((uint64_t) LAMBDA_INIT_TIMEOUT_MS, (uint64_t) fn->timeout_s * 1000);
        r = read_frame(fn, s, mono_ms() + init_ms, ctx, &msg);
        const char *type = msg ? json_string_value(json_object_get(msg, "type")) : NULL;
        if (r == 0 && type && streq(type, "ready")) {
                log_debug("Started the %s runtime of %s (pid %d, slot %u).", fn->runtime, fn->name,
                          (int) s->pid, s->index);
                return 0;
        }
        int status = 0;
        char how[64];
        uint64_t maxrss_kb = 0;
        (void) slot_reap(fn, s, LAMBDA_EXIT_WAIT_MS, &status, &maxrss_kb);
        describe_status(status, how, sizeof(how));
        const char *oom = died_of_memory(fn, s, maxrss_kb);
        if (r == -ECANCELED)
                return task_failure_set(f, r, "Task.Cancelled", "The worker is stopping");
        if (r == 0 && type && streq(type, "initError") && json_is_object(json_object_get(msg, "error"))) {
                log_warning(
                        "Function %s failed to initialise: %s", fn->name,
                        json_string_value(json_object_get(json_object_get(msg, "error"), "errorMessage")));
                return fail_with_document(f, json_object_get(msg, "error"));
        }
        if (oom)
                return fail_out_of_memory(fn, s, oom, status, maxrss_kb, request_id, f);
        if (r == -ETIMEDOUT)
                return fail_with(f, "Sandbox.Timedout",
                                 "RequestId: %s Error: Init phase did not finish within %" PRIu64 " seconds",
                                 request_id, init_ms / 1000);
        return fail_with(f, "Runtime.ExitError", "RequestId: %s Error: Runtime exited with error: %s",
                         request_id, how);
}

static int invoke(LambdaRuntime *rt, LambdaFunction *fn, LambdaSlot *s, json_t *event, const OpContext *ctx,
                  json_t **ret, TaskFailure *f) {
        uint8_t b[16];
        char request_id[FORMAT_UUID_MAX], arn[512], stream[128];
        int r;

        if (random_bytes(b, sizeof(b)) < 0)
                return fail_with(f, "Lambda.ServiceException", "no random bytes for a request id");
        uuid_set_version(b, 4);
        format_uuid(b, request_id);

        if (s->pid == 0) {
                r = slot_start(fn, s, request_id, ctx, f);
                if (r < 0)
                        return r;
        }

        if (ctx->resource && strncmp(ctx->resource, "arn:aws:lambda:", 15) == 0)
                snprintf(arn, sizeof(arn), "%s", ctx->resource);
        else
                snprintf(arn, sizeof(arn), "arn:aws:lambda:%s:%s:function:%s", rt->region, rt->account,
                         fn->name);
        snprintf(stream, sizeof(stream), "imgflow/[$LATEST]%d-%u", (int) s->pid, s->index);

        int64_t now_epoch = (int64_t) (now_usec(CLOCK_REALTIME) / 1000);
        uint64_t timeout_ms = (uint64_t) fn->timeout_s * 1000;
        bool task_deadline_first = false;
        if (ctx->deadline_ms > 0 && ctx->deadline_ms - now_epoch < (int64_t) timeout_ms) {
                timeout_ms = ctx->deadline_ms > now_epoch ? (uint64_t) (ctx->deadline_ms - now_epoch) : 0;
                task_deadline_first = true;
        }
        uint64_t deadline = mono_ms() + timeout_ms;
        uint64_t started = mono_ms();

        _cleanup_(json_decrefp) json_t *req =
                json_pack("{s:s, s:O, s:I, s:s, s:s, s:I, s:s, s:s, s:s}", "requestId", request_id, "event",
                          event ? event : json_null(), "deadlineMs",
                          (json_int_t) (now_epoch + (int64_t) timeout_ms), "functionName", fn->name,
                          "functionVersion", "$LATEST", "memoryLimitInMB", (json_int_t) fn->memory_mb,
                          "invokedFunctionArn", arn, "logGroupName", "", "logStreamName", stream);
        if (!req)
                return task_failure_set(f, -ENOMEM, "Lambda.ServiceException", "out of memory");
        json_object_set_new(req, "logGroupName", json_sprintf("/aws/lambda/%s", fn->name));

        _cleanup_(json_decrefp) json_t *answer = NULL;
        r = write_frame(fn, s, req, deadline, ctx);
        if (r == -E2BIG)
                return fail_with(f, "Lambda.RequestTooLargeException",
                                 "Request must be smaller than %u bytes for the InvokeFunction operation",
                                 LAMBDA_PAYLOAD_MAX);
        if (r == 0)
                r = read_frame(fn, s, deadline, ctx, &answer);

        if (r == -ETIMEDOUT) {
                (void) slot_reap(fn, s, 0, NULL, NULL);
                double secs = (double) (mono_ms() - started) / 1000.0;
                log_info("Function %s timed out after %.2f s (%s); its runtime was killed.", fn->name, secs,
                         task_deadline_first ? "the task's deadline" : "its Timeout");
                r = fail_with(f, "Sandbox.Timedout",
                              "RequestId: %s Error: Task timed out after %.2f seconds", request_id,
                              task_deadline_first ? secs : (double) fn->timeout_s);
                /* The state's TimeoutSeconds came first: Step Functions
                 * reports States.Timeout (the coordinator's timer), not the
                 * function's error, so the task is not answered. */
                return task_deadline_first ? -ETIME : r;
        }
        if (r == -ECANCELED) {
                (void) slot_reap(fn, s, 0, NULL, NULL);
                return task_failure_set(f, r, "Task.Cancelled", "The worker is stopping");
        }
        if (r < 0) {
                int status = 0;
                char how[64];
                uint64_t maxrss_kb = 0;
                (void) slot_reap(fn, s, LAMBDA_EXIT_WAIT_MS, &status, &maxrss_kb);
                const char *oom = died_of_memory(fn, s, maxrss_kb);
                if (oom)
                        return fail_out_of_memory(fn, s, oom, status, maxrss_kb, request_id, f);
                describe_status(status, how, sizeof(how));
                log_warning(
                        "The %s runtime of %s exited during an invocation (%s); it is started again for the "
                        "next one.",
                        fn->runtime, fn->name, how);
                return fail_with(f, "Runtime.ExitError",
                                 "RequestId: %s Error: Runtime exited with error: %s", request_id, how);
        }

        const char *type = json_string_value(json_object_get(answer, "type"));
        if (type && streq(type, "result")) {
                json_t *payload = json_object_get(answer, "payload");
                *ret = json_incref(payload ? payload : json_null());
                return 0;
        }
        if (type && streq(type, "error") && json_is_object(json_object_get(answer, "error"))) {
                if (json_is_true(json_object_get(answer, "fatal")))
                        (void) slot_reap(fn, s, LAMBDA_EXIT_WAIT_MS, NULL, NULL);
                return fail_with_document(f, json_object_get(answer, "error"));
        }
        (void) slot_reap(fn, s, 0, NULL, NULL);
        return fail_with(f, "Runtime.InvalidResponse",
                         "RequestId: %s Error: the runtime answered a malformed frame", request_id);
}

int lambda_runtime_op(Storage *storage, json_t *event, const OpContext *ctx, json_t **ret_result,
                      TaskFailure *f) {
        LambdaRuntime *rt = ctx ? ctx->userdata : NULL;
        if (!rt || !ctx->op || ctx->op < rt->ops || ctx->op >= rt->ops + rt->n)
                return task_failure_set(f, -EINVAL, "Worker.UnknownOperation", "not a Lambda function");
        LambdaFunction *fn = &rt->functions[ctx->op - rt->ops];

        LambdaSlot *s = slot_acquire(rt, fn, ctx);
        if (!s)
                return task_failure_set(f, -ECANCELED, "Task.Cancelled", "The worker is stopping");
        int r = invoke(rt, fn, s, event, ctx, ret_result, f);
        slot_release(rt, s);
        return r;
}
