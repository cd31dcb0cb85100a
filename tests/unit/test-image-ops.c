/* SPDX-License-Identifier: MIT */

/*
 * Tests for worker/image-ops.c and worker/image-vips.c. Images are made with
 * libvips at test time in a temporary directory (removed at the end);
 * hostile inputs (truncated, corrupt, empty, decompression bomb, SVG, path
 * traversal) are built byte by byte.
 */

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>
#include <zlib.h>

#include "image-ops.h"
#include "proto.h"
#include "items-manifest.h"
#include "storage-items.h"
#include "storage.h"
#include "test.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct Fixture {
        char tmp[64];
        char root[128];
        char outside[128];
        Storage *s;
        OpLimits limits;
        OpContext ctx;
} Fixture;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void fixture_setup(Fixture *fx) {
        ASSERT_INT_EQ(image_ops_init(1), 0);
        snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/imgflow-imgops-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(fx->tmp));
        snprintf(fx->root, sizeof(fx->root), "%s/photos", fx->tmp);
        snprintf(fx->outside, sizeof(fx->outside), "%s/outside", fx->tmp);
        ASSERT_INT_EQ(mkdir(fx->root, 0755), 0);
        ASSERT_INT_EQ(mkdir(fx->outside, 0755), 0);
        ASSERT_INT_EQ(storage_new(&fx->s), 0);
        ASSERT_INT_EQ(storage_add_bucket(fx->s, "photos", fx->root), 0);
        op_limits_init_default(&fx->limits);
        fx->ctx = (OpContext){
                .execution_id = "exec-id-1",
                .execution_name = "exec-1",
                .state_name = "Resize",
                .task_id = "task-1",
                .attempt = 1,
                .limits = &fx->limits,
        };
}

static void fixture_teardown(Fixture *fx) {
        storage_free(fx->s);
        nftw(fx->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *fx_path(Fixture *fx, const char *key) {
        char *p = NULL;
        ASSERT_TRUE(asprintf(&p, "%s/%s", fx->root, key) > 0);
        return p;
}

static void mkdirs_for(const char *path) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        mkdir(buf, 0755);
                        *p = '/';
                }
}

/* ---- image makers ------------------------------------------------------- */

/* w x h sRGB: R = noise, G = x gradient, B = y gradient. */
static VipsImage *make_image(int w, int h, bool noise) {
        VipsImage *xy = NULL, *x = NULL, *y = NULL, *gx = NULL, *gy = NULL, *r = NULL, *bands[3],
                  *joined = NULL, *u = NULL, *out = NULL;

        ASSERT_INT_EQ(vips_xyz(&xy, w, h, NULL), 0);
        ASSERT_INT_EQ(vips_extract_band(xy, &x, 0, NULL), 0);
        ASSERT_INT_EQ(vips_extract_band(xy, &y, 1, NULL), 0);
        ASSERT_INT_EQ(vips_linear1(x, &gx, 255.0 / w, 0, NULL), 0);
        ASSERT_INT_EQ(vips_linear1(y, &gy, 255.0 / h, 0, NULL), 0);
        if (noise)
                ASSERT_INT_EQ(vips_gaussnoise(&r, w, h, "mean", 128.0, "sigma", 60.0, NULL), 0);
        else
                ASSERT_INT_EQ(vips_linear1(x, &r, 0.0, 200.0, NULL), 0);
        bands[0] = r;
        bands[1] = gx;
        bands[2] = gy;
        ASSERT_INT_EQ(vips_bandjoin(bands, &joined, 3, NULL), 0);
        ASSERT_INT_EQ(vips_cast_uchar(joined, &u, NULL), 0);
        ASSERT_INT_EQ(vips_copy(u, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
        g_object_unref(xy);
        g_object_unref(x);
        g_object_unref(y);
        g_object_unref(gx);
        g_object_unref(gy);
        g_object_unref(r);
        g_object_unref(joined);
        g_object_unref(u);
        return out;
}

/* Save an image under key (format from the suffix, or `suffix` if given). */
static void save_image(Fixture *fx, VipsImage *img, const char *key, const char *suffix) {
        char *path = fx_path(fx, key);
        void *buf = NULL;
        size_t len = 0;
        FILE *fp;

        mkdirs_for(path);
        ASSERT_INT_EQ(vips_image_write_to_buffer(img, suffix ? suffix : strrchr(key, '.'), &buf, &len, NULL),
                      0);
        fp = fopen(path, "wb");
        ASSERT_NOT_NULL(fp);
        ASSERT_INT_EQ(fwrite(buf, 1, len, fp), len);
        fclose(fp);
        g_free(buf);
        free(path);
}

static void make_file(Fixture *fx, const char *key, int w, int h, bool noise) {
        VipsImage *img = make_image(w, h, noise);
        save_image(fx, img, key, NULL);
        g_object_unref(img);
}

static void write_bytes(Fixture *fx, const char *key, const void *data, size_t len) {
        char *path = fx_path(fx, key);
        FILE *fp;
        mkdirs_for(path);
        fp = fopen(path, "wb");
        ASSERT_NOT_NULL(fp);
        ASSERT_INT_EQ(fwrite(data, 1, len, fp), len);
        fclose(fp);
        free(path);
}

static void truncate_file(Fixture *fx, const char *key, double keep) {
        char *path = fx_path(fx, key);
        struct stat st;
        ASSERT_INT_EQ(stat(path, &st), 0);
        ASSERT_INT_EQ(truncate(path, (off_t) (st.st_size * keep)), 0);
        free(path);
}

/* ---- running ops -------------------------------------------------------- */

static int run(Fixture *fx, const char *op, const char *params_json, json_t **ret, TaskFailure *f) {
        json_error_t err;
        json_t *params = json_loads(params_json, 0, &err);
        int r;

        if (!params)
                fprintf(stderr, "bad params JSON %s: %s\n", params_json, err.text);
        ASSERT_NOT_NULL(params);
        *ret = NULL;
        task_failure_clear(f);
        r = image_ops_run(image_ops_find(op, NULL, 0), fx->s, params, &fx->ctx, ret, f);
        if (r < 0 && getenv("TEST_VERBOSE"))
                fprintf(stderr, "  %s -> %d %s: %s\n", op, r, f->error, f->cause);
        json_decref(params);
        return r;
}

/* Run, expect success, return the result (caller decrefs). */
static json_t *run_ok(Fixture *fx, const char *op, const char *params_json) {
        TaskFailure f = TASK_FAILURE_NULL;
        json_t *res = NULL;
        int r = run(fx, op, params_json, &res, &f);
        if (r < 0)
                fprintf(stderr, "  %s %s failed: %s: %s\n", op, params_json, f.error, f.cause);
        ASSERT_INT_EQ(r, 0);
        ASSERT_NOT_NULL(res);
        task_failure_clear(&f);
        return res;
}

/* Run, expect the named failure; the cause must mention `cause_has` if given. */
static void run_fail(Fixture *fx, const char *op, const char *params_json, const char *error,
                     const char *cause_has) {
        TaskFailure f = TASK_FAILURE_NULL;
        json_t *res = NULL;
        int r = run(fx, op, params_json, &res, &f);
        if (r >= 0 || !f.error || strcmp(f.error, error) != 0 ||
            (cause_has && (!f.cause || !strstr(f.cause, cause_has))))
                fprintf(stderr, "  %s %s: r=%d error=%s cause=%s\n", op, params_json, r,
                        f.error ? f.error : "-", f.cause ? f.cause : "-");
        ASSERT_TRUE(r < 0);
        ASSERT_NULL(res);
        ASSERT_STR_EQ(f.error, error);
        if (cause_has) {
                ASSERT_NOT_NULL(f.cause);
                ASSERT_TRUE(strstr(f.cause, cause_has) != NULL);
        }
        task_failure_clear(&f);
}

/* Open an output (from a result's bucket/key) with libvips. */
static VipsImage *open_result(Fixture *fx, json_t *res) {
        const char *key = json_string_value(json_object_get(res, "key"));
        char *path;
        VipsImage *img;

        ASSERT_NOT_NULL(key);
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "bucket")), "photos");
        path = fx_path(fx, key);
        img = vips_image_new_from_file(path, "access", VIPS_ACCESS_RANDOM, NULL);
        if (!img)
                fprintf(stderr, "  cannot open %s: %s\n", path, vips_error_buffer());
        free(path);
        ASSERT_NOT_NULL(img);
        return img;
}

/* Open an input image by key. */
static VipsImage *open_key(Fixture *fx, const char *key) {
        char *path = fx_path(fx, key);
        VipsImage *img = vips_image_new_from_file(path, NULL);
        free(path);
        ASSERT_NOT_NULL(img);
        return img;
}

static const char *loader_of(VipsImage *img) {
        const char *l = NULL;
        if (vips_image_get_string(img, VIPS_META_LOADER, &l) < 0)
                return "";
        return l;
}

static double band_avg(VipsImage *img, int band) {
        VipsImage *b = NULL;
        double avg = -1;
        ASSERT_INT_EQ(vips_extract_band(img, &b, band, NULL), 0);
        ASSERT_INT_EQ(vips_avg(b, &avg, NULL), 0);
        g_object_unref(b);
        return avg;
}

static double deviation(VipsImage *img) {
        double d = -1;
        ASSERT_INT_EQ(vips_deviate(img, &d, NULL), 0);
        return d;
}

static void assert_dims(Fixture *fx, json_t *res, int w, int h) {
        VipsImage *img = open_result(fx, res);
        if (vips_image_get_width(img) != w || vips_image_get_height(img) != h)
                fprintf(stderr, "  got %dx%d, want %dx%d\n", vips_image_get_width(img),
                        vips_image_get_height(img), w, h);
        ASSERT_INT_EQ(vips_image_get_width(img), w);
        ASSERT_INT_EQ(vips_image_get_height(img), h);
        ASSERT_INT_EQ(json_integer_value(json_object_get(res, "width")), w);
        ASSERT_INT_EQ(json_integer_value(json_object_get(res, "height")), h);
        g_object_unref(img);
}

/* A derived output key: want_stem + "." + 8 hex digits + "." + ext. */
static void assert_derived_key(const char *key, const char *want_stem, const char *ext) {
        size_t n = strlen(want_stem);

        if (!key || strncmp(key, want_stem, n) != 0 || strlen(key) != n + 1 + 8 + 1 + strlen(ext) ||
            key[n] != '.' || strspn(key + n + 1, "0123456789abcdef") != 8 || key[n + 9] != '.' ||
            strcmp(key + n + 10, ext) != 0)
                fprintf(stderr, "  key %s is not %s.<tag>.%s\n", key ? key : "(null)", want_stem, ext);
        ASSERT_NOT_NULL(key);
        ASSERT_TRUE(strncmp(key, want_stem, n) == 0);
        ASSERT_INT_EQ(strlen(key), n + 1 + 8 + 1 + strlen(ext));
        ASSERT_TRUE(key[n] == '.' && strspn(key + n + 1, "0123456789abcdef") == 8 && key[n + 9] == '.');
        ASSERT_STR_EQ(key + n + 10, ext);
}

static const char *res_key(json_t *res) {
        return json_string_value(json_object_get(res, "key"));
}

/* ---- validate ----------------------------------------------------------- */

/* The coordinator checks [resources] targets against proto's list of the
 * default pool's operations: it must be the table (plus the daemon's notify). */
TEST(operation_table_is_protos_list) {
        size_t n = 0, m = 0;
        const Operation *t = image_ops_table(&n);

        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(proto_worker_operation_is_known(t[i].name));
        for (; proto_worker_operations[m]; m++)
                ASSERT_TRUE(strcmp(proto_worker_operations[m], "notify") == 0 ||
                            image_ops_find(proto_worker_operations[m], NULL, 0));
        ASSERT_INT_EQ(m, n + 1);
        ASSERT_TRUE(!proto_worker_operation_is_known("image.resise"));
}

TEST(validate_good_image) {
        Fixture fx;
        json_t *res;

        fixture_setup(&fx);
        make_file(&fx, "raw/a.png", 64, 48, false);
        res = run_ok(&fx, "image.validate", "{\"bucket\":\"photos\",\"key\":\"raw/a.png\"}");
        ASSERT_TRUE(json_is_true(json_object_get(res, "isValid")));
        json_object_del(json_object_get(res, "metadata"), "size");
        ASSERT_JSON_EQ(json_object_get(res, "metadata"),
                       "{\"format\":\"png\",\"width\":64,\"height\":48,\"bands\":3,\"hasAlpha\":false,"
                       "\"orientation\":1,\"space\":\"srgb\",\"pages\":1}");
        json_decref(res);

        /* The S3-event shape under "input" works too, and "formats" narrows. */
        make_file(&fx, "raw/b.jpg", 32, 32, true);
        res = run_ok(&fx, "image.validate", "{\"input\":{\"bucket\":\"photos\",\"key\":\"raw/b.jpg\"}}");
        ASSERT_TRUE(json_is_true(json_object_get(res, "isValid")));
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(res, "metadata"), "format")),
                      "jpeg");
        json_decref(res);
        res = run_ok(&fx, "image.validate",
                     "{\"bucket\":\"photos\",\"key\":\"raw/b.jpg\",\"formats\":[\"png\"]}");
        ASSERT_TRUE(json_is_false(json_object_get(res, "isValid")));
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "error")), "Image.Unsupported");
        json_decref(res);
        res = run_ok(&fx, "image.validate",
                     "{\"bucket\":\"photos\",\"key\":\"raw/b.jpg\",\"minWidth\":100}");
        ASSERT_TRUE(json_is_false(json_object_get(res, "isValid")));
        json_decref(res);
        fixture_teardown(&fx);
}

static void expect_invalid(Fixture *fx, const char *key, const char *error) {
        char params[256];
        json_t *res;

        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\"}", key);
        res = run_ok(fx, "image.validate", params);
        if (!json_is_false(json_object_get(res, "isValid")) ||
            !json_is_string(json_object_get(res, "reason")) ||
            strcmp(json_string_value(json_object_get(res, "error")) ?: "", error) != 0) {
                char *s = json_dumps(res, 0);
                fprintf(stderr, "  %s: %s\n", key, s);
                free(s);
        }
        ASSERT_TRUE(json_is_false(json_object_get(res, "isValid")));
        ASSERT_TRUE(json_is_string(json_object_get(res, "reason")));
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "error")), error);
        json_decref(res);

        /* With failOnInvalid, the same is a task failure. */
        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\",\"failOnInvalid\":true}",
                 key);
        run_fail(fx, "image.validate", params, error, NULL);
}

TEST(validate_truncated_jpeg_and_png) {
        Fixture fx;

        fixture_setup(&fx);
        make_file(&fx, "t/cut.jpg", 256, 256, true);
        truncate_file(&fx, "t/cut.jpg", 0.5);
        expect_invalid(&fx, "t/cut.jpg", "Image.Invalid");
        make_file(&fx, "t/cut.png", 256, 256, true);
        truncate_file(&fx, "t/cut.png", 0.5);
        expect_invalid(&fx, "t/cut.png", "Image.Invalid");
        /* And an operation on a truncated image fails as Image.Invalid. */
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"t/cut.png\",\"width\":50}",
                 "Image.Invalid", NULL);
        run_fail(&fx, "image.convert", "{\"bucket\":\"photos\",\"key\":\"t/cut.jpg\",\"format\":\"png\"}",
                 "Image.Invalid", NULL);
        fixture_teardown(&fx);
}

TEST(validate_corrupt_empty_and_garbage) {
        Fixture fx;
        unsigned char garbage[4096];
        char *path;
        FILE *fp;

        fixture_setup(&fx);
        /* Zero bytes. */
        write_bytes(&fx, "t/empty.jpg", "", 0);
        expect_invalid(&fx, "t/empty.jpg", "Image.Invalid");
        /* Random bytes: no loader recognises them. */
        for (size_t i = 0; i < sizeof(garbage); i++)
                garbage[i] = (unsigned char) (i * 7919 + 13);
        write_bytes(&fx, "t/garbage.jpg", garbage, sizeof(garbage));
        expect_invalid(&fx, "t/garbage.jpg", "Image.Unsupported");
        /* A JPEG whose headers after SOI are overwritten. */
        make_file(&fx, "t/corrupt.jpg", 128, 128, true);
        path = fx_path(&fx, "t/corrupt.jpg");
        fp = fopen(path, "r+b");
        ASSERT_NOT_NULL(fp);
        fseek(fp, 2, SEEK_SET);
        fwrite(garbage, 1, 600, fp);
        fclose(fp);
        free(path);
        expect_invalid(&fx, "t/corrupt.jpg", "Image.Invalid");
        /* Missing object: a storage failure, not a verdict. */
        run_fail(&fx, "image.validate", "{\"bucket\":\"photos\",\"key\":\"t/none.jpg\"}", "Storage.NotFound",
                 NULL);
        fixture_teardown(&fx);
}

TEST(validate_sniffs_content_not_extension) {
        Fixture fx;
        json_t *res;
        VipsImage *img;

        fixture_setup(&fx);
        img = make_image(40, 30, false);
        save_image(&fx, img, "raw/really-png.jpg", ".png");
        g_object_unref(img);
        res = run_ok(&fx, "image.validate", "{\"bucket\":\"photos\",\"key\":\"raw/really-png.jpg\"}");
        ASSERT_TRUE(json_is_true(json_object_get(res, "isValid")));
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(res, "metadata"), "format")), "png");
        json_decref(res);
        res = run_ok(&fx, "image.resize",
                     "{\"bucket\":\"photos\",\"key\":\"raw/really-png.jpg\",\"width\":20}");
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "format")), "png");
        assert_dims(&fx, res, 20, 15);
        json_decref(res);
        fixture_teardown(&fx);
}

/* ---- hostile: bombs, SVG, traversal ------------------------------------- */

static uint32_t crc32_buf(uint32_t crc, const unsigned char *p, size_t n) {
        crc = ~crc;
        while (n--) {
                crc ^= *p++;
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
        }
        return ~crc;
}

static size_t png_chunk(unsigned char *out, const char *type, const unsigned char *data, uint32_t len) {
        out[0] = len >> 24;
        out[1] = len >> 16;
        out[2] = len >> 8;
        out[3] = len;
        memcpy(out + 4, type, 4);
        if (len)
                memcpy(out + 8, data, len);
        uint32_t crc = crc32_buf(0, out + 4, len + 4);
        out[8 + len] = crc >> 24;
        out[9 + len] = crc >> 16;
        out[10 + len] = crc >> 8;
        out[11 + len] = crc;
        return 12 + len;
}

/* A ~70-byte PNG that declares 50,000 x 50,000 pixels (2.5 GP). */
static size_t make_png_bomb(unsigned char *out) {
        static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        unsigned char ihdr[13] = {
                0x00, 0x00, 0xC3, 0x50,    /* width 50000 */
                0x00, 0x00, 0xC3, 0x50,    /* height 50000 */
                8,    0,    0,    0,    0, /* 8-bit grey, deflate, no filter, no interlace */
        };
        /* zlib stream: one stored block holding one 0 byte, adler32 = 0x00010001. */
        static const unsigned char idat[] = {0x78, 0x01, 0x01, 0x01, 0x00, 0xFE,
                                             0xFF, 0x00, 0x00, 0x01, 0x00, 0x01};
        size_t n = 0;

        memcpy(out, sig, 8);
        n = 8;
        n += png_chunk(out + n, "IHDR", ihdr, sizeof(ihdr));
        n += png_chunk(out + n, "IDAT", idat, sizeof(idat));
        n += png_chunk(out + n, "IEND", NULL, 0);
        return n;
}

TEST(decompression_bomb_is_too_large) {
        Fixture fx;
        unsigned char bomb[128];
        size_t n;
        json_t *res;
        struct timespec t0, t1;

        fixture_setup(&fx);
        n = make_png_bomb(bomb);
        ASSERT_TRUE(n < 100);
        write_bytes(&fx, "t/bomb.png", bomb, n);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"t/bomb.png\",\"width\":100}",
                 "Image.TooLarge", "50000x50000");
        run_fail(&fx, "image.pipeline",
                 "{\"bucket\":\"photos\",\"key\":\"t/"
                 "bomb.png\",\"steps\":[{\"op\":\"rotate\",\"angle\":90}]}",
                 "Image.TooLarge", NULL);
        res = run_ok(&fx, "image.validate", "{\"bucket\":\"photos\",\"key\":\"t/bomb.png\"}");
        ASSERT_TRUE(json_is_false(json_object_get(res, "isValid")));
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "error")), "Image.TooLarge");
        json_decref(res);
        run_fail(&fx, "image.metadata", "{\"bucket\":\"photos\",\"key\":\"t/bomb.png\"}", "Image.TooLarge",
                 NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* Refused from the header: no 2.5 GB decode happened. */
        ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 5);
        fixture_teardown(&fx);
}

/* ---- validate: the damaged-image corpus ---------------------------------- */

/* Bytes of a file of the fixture (new buffer, *ret_len). */
static unsigned char *read_key(Fixture *fx, const char *key, size_t *ret_len) {
        char *path = fx_path(fx, key);
        unsigned char *buf;
        struct stat st;
        FILE *fp;

        ASSERT_INT_EQ(stat(path, &st), 0);
        buf = malloc((size_t) st.st_size + 1);
        ASSERT_NOT_NULL(buf);
        fp = fopen(path, "rb");
        ASSERT_NOT_NULL(fp);
        ASSERT_INT_EQ(fread(buf, 1, (size_t) st.st_size, fp), st.st_size);
        fclose(fp);
        free(path);
        *ret_len = (size_t) st.st_size;
        return buf;
}

/* Offset of the first byte after the first SOS header of a JPEG. */
static size_t jpeg_scan_start(const unsigned char *d, size_t n) {
        size_t i = 2;
        while (i + 4 <= n && d[i] == 0xFF) {
                size_t len = ((size_t) d[i + 2] << 8) | d[i + 3];
                if (d[i + 1] == 0xDA)
                        return i + 2 + len;
                i += 2 + len;
        }
        return 0;
}

/* The verdict of a full-size sequential decode (what image.validate did
 * before it decoded JPEGs at 1/8 scale), with libvips's generic loader. */
static bool full_decode_ok(Fixture *fx, const char *key, bool strict) {
        char *path = fx_path(fx, key);
        VipsImage *img = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                                  strict ? VIPS_FAIL_ON_WARNING : VIPS_FAIL_ON_ERROR, NULL);
        double avg;
        bool ok = img && vips_avg(img, &avg, NULL) == 0;

        vips_error_clear();
        if (img)
                g_object_unref(img);
        free(path);
        return ok;
}

/* image.validate's verdict: true (isValid) or false with error Image.Invalid
 * (anything else fails the test). */
static bool validate_ok(Fixture *fx, const char *key, bool strict) {
        char params[256];
        json_t *res;
        bool ok;

        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\",\"strict\":%s}", key,
                 strict ? "true" : "false");
        res = run_ok(fx, "image.validate", params);
        ok = json_is_true(json_object_get(res, "isValid"));
        if (!ok && strcmp(json_string_value(json_object_get(res, "error")) ?: "", "Image.Invalid") != 0) {
                char *t = json_dumps(res, 0);
                fprintf(stderr, "  %s: %s\n", key, t);
                free(t);
        }
        if (!ok)
                ASSERT_STR_EQ(json_string_value(json_object_get(res, "error")), "Image.Invalid");
        json_decref(res);
        return ok;
}

static unsigned corpus_rand(unsigned *state) {
        *state = *state * 1103515245u + 12345u;
        return (*state >> 8) & 0xffffff;
}

/* Damaged copies of the JPEG at key: truncations, bit flips, zeroed and
 * random runs and a stray EOI in the scan data, the scan's start zeroed, a
 * scan repeated. Each is validated (default and strict) and must get the
 * verdict of a full-size decode; those every decoder must refuse (cut before
 * the last 2 bytes) must be Image.Invalid. Returns how many were invalid. */
static unsigned jpeg_damage_agrees(Fixture *fx, const char *key) {
        static const double cuts[] = {0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99};
        size_t n, scan;
        unsigned char *d = read_key(fx, key, &n), *b = malloc(2 * n);
        unsigned state = (unsigned) n, invalid = 0;
        char name[128];

        ASSERT_NOT_NULL(b);
        scan = jpeg_scan_start(d, n);
        ASSERT_TRUE(scan > 0 && scan + 300 < n);
        for (int k = 0; k < 40; k++) {
                size_t len = n;
                bool must_fail = false;

                memcpy(b, d, n);
                if (k < 7) {
                        len = (size_t) (n * cuts[k]);
                        must_fail = true;
                } else if (k == 7)
                        len = n - 2; /* no EOI */
                else if (k < 24)
                        b[scan + corpus_rand(&state) % (n - 2 - scan)] ^= (unsigned char) (1u << (k % 8));
                else if (k < 28)
                        memset(b + scan + corpus_rand(&state) % (n - 100 - scan), 0, 64);
                else if (k < 32) {
                        size_t p = scan + corpus_rand(&state) % (n - 100 - scan);
                        for (int i = 0; i < 64; i++)
                                b[p + i] = (unsigned char) corpus_rand(&state);
                } else if (k < 36) {
                        size_t p = scan + corpus_rand(&state) % (n - 100 - scan);
                        b[p] = 0xFF;
                        b[p + 1] = 0xD9;
                } else if (k == 36)
                        memset(b + scan, 0, 200);
                else if (k == 37) {
                        memcpy(b + n / 2, d + scan, n - scan); /* a scan repeated */
                        len = n / 2 + (n - scan);
                } else if (k == 38)
                        memset(b + scan + (n - scan) / 2, 0xFF, 16);
                else
                        len = scan + 10; /* header and nothing else */
                snprintf(name, sizeof(name), "damaged/%s.%d.jpg", key, k);
                write_bytes(fx, name, b, len);
                for (int strict = 0; strict <= 1; strict++) {
                        bool full = full_decode_ok(fx, name, strict), got = validate_ok(fx, name, strict);
                        if (full != got)
                                fprintf(stderr, "  %s (strict %d): full decode %s, validate %s\n", name,
                                        strict, full ? "ok" : "invalid", got ? "valid" : "Image.Invalid");
                        ASSERT_TRUE(full == got);
                        if (must_fail)
                                ASSERT_FALSE(got);
                        invalid += !got;
                }
        }
        free(b);
        free(d);
        return invalid;
}

TEST(validate_damaged_jpegs_agree_with_a_full_decode) {
        Fixture fx;
        VipsImage *img, *grey = NULL;
        unsigned invalid = 0;
        void *buf = NULL;
        size_t len = 0;

        fixture_setup(&fx);
        img = make_image(320, 240, true);
        ASSERT_INT_EQ(vips_jpegsave_buffer(img, &buf, &len, "Q", 85, NULL), 0);
        write_bytes(&fx, "j/base.jpg", buf, len);
        g_free(buf);
        ASSERT_INT_EQ(vips_jpegsave_buffer(img, &buf, &len, "Q", 85, "interlace", TRUE, NULL), 0);
        write_bytes(&fx, "j/progressive.jpg", buf, len);
        g_free(buf);
        ASSERT_INT_EQ(vips_jpegsave_buffer(img, &buf, &len, "Q", 95, "subsample_mode",
                                           VIPS_FOREIGN_SUBSAMPLE_OFF, NULL),
                      0);
        write_bytes(&fx, "j/444.jpg", buf, len);
        g_free(buf);
        ASSERT_INT_EQ(vips_jpegsave_buffer(img, &buf, &len, "Q", 85, "restart_interval", 2,
                                           "optimize_coding", TRUE, NULL),
                      0);
        write_bytes(&fx, "j/restart.jpg", buf, len);
        g_free(buf);
        ASSERT_INT_EQ(vips_colourspace(img, &grey, VIPS_INTERPRETATION_B_W, NULL), 0);
        ASSERT_INT_EQ(vips_jpegsave_buffer(grey, &buf, &len, "Q", 85, NULL), 0);
        write_bytes(&fx, "j/grey.jpg", buf, len);
        g_free(buf);
        g_object_unref(grey);
        g_object_unref(img);

        static const char *const bases[] = {"j/base.jpg", "j/progressive.jpg", "j/444.jpg", "j/restart.jpg",
                                            "j/grey.jpg"};
        for (size_t i = 0; i < (sizeof(bases) / sizeof(bases[0])); i++) {
                ASSERT_TRUE(validate_ok(&fx, bases[i], true));
                invalid += jpeg_damage_agrees(&fx, bases[i]);
        }
        /* The corpus is not all truncations: a good share of the other
         * damage is found too (at the strict level at least). */
        ASSERT_TRUE(invalid > (sizeof(bases) / sizeof(bases[0])) * 2 * 7 + 20);
        fixture_teardown(&fx);
}

/* PNG chunk at offset off of d: sets *ret_len (data bytes); false at the end. */
static bool png_find_chunk(const unsigned char *d, size_t n, const char *type, size_t *ret_off,
                           size_t *ret_len) {
        size_t i = 8;
        while (i + 12 <= n) {
                size_t len = ((size_t) d[i] << 24) | ((size_t) d[i + 1] << 16) | ((size_t) d[i + 2] << 8) |
                             d[i + 3];
                if (memcmp(d + i + 4, type, 4) == 0) {
                        *ret_off = i;
                        *ret_len = len;
                        return true;
                }
                i += 12 + len;
        }
        return false;
}

/* Every damaged image here is corrupt in a way the format defines (a cut
 * stream, a checksum that does not match, an impossible header): validate
 * must name each one Image.Invalid, by default and with failOnInvalid. */
TEST(validate_corrupt_corpus_is_invalid) {
        Fixture fx;
        VipsImage *img;
        unsigned char *d, *b;
        size_t n, off, clen;
        void *buf = NULL;
        size_t len = 0;

        fixture_setup(&fx);
        img = make_image(200, 150, true);

        /* JPEG: cut anywhere before its end, headers overwritten. */
        ASSERT_INT_EQ(vips_jpegsave_buffer(img, &buf, &len, "Q", 85, NULL), 0);
        for (int k = 1; k < 10; k++) {
                char key[64];
                snprintf(key, sizeof(key), "c/cut-%d.jpg", k);
                write_bytes(&fx, key, buf, len * k / 10);
                expect_invalid(&fx, key, "Image.Invalid");
        }
        d = memcpy(malloc(len), buf, len);
        memset(d + 20, 0xA5, 200); /* quantisation and Huffman tables overwritten */
        write_bytes(&fx, "c/tables.jpg", d, len);
        expect_invalid(&fx, "c/tables.jpg", "Image.Invalid");
        free(d);
        g_free(buf);
        ASSERT_INT_EQ(vips_jpegsave_buffer(img, &buf, &len, "Q", 85, "interlace", TRUE, NULL), 0);
        write_bytes(&fx, "c/cut-progressive.jpg", buf, len / 2);
        expect_invalid(&fx, "c/cut-progressive.jpg", "Image.Invalid");
        g_free(buf);

        /* PNG: cut, a bad CRC in the header and in the data, a broken zlib
         * stream (CRC fixed), an impossible header (CRC fixed). From an
         * image without noise: whether a damaged deflate stream still
         * inflates to the right length depends on the bytes, and the loader
         * checks the stream's Adler-32 only when strict. */
        {
                VipsImage *plain = make_image(200, 150, false);
                ASSERT_INT_EQ(vips_pngsave_buffer(plain, &buf, &len, NULL), 0);
                g_object_unref(plain);
        }
        n = len;
        d = memcpy(malloc(n), buf, n);
        g_free(buf);
        b = malloc(n);
        ASSERT_TRUE(png_find_chunk(d, n, "IDAT", &off, &clen));
        for (int k = 1; k < 10; k++) {
                char key[64];
                snprintf(key, sizeof(key), "c/cut-%d.png", k);
                write_bytes(&fx, key, d, off + 8 + clen * k / 10);
                expect_invalid(&fx, key, "Image.Invalid");
        }
        memcpy(b, d, n);
        b[29] ^= 0x01; /* the IHDR CRC */
        write_bytes(&fx, "c/ihdr-crc.png", b, n);
        expect_invalid(&fx, "c/ihdr-crc.png", "Image.Invalid");
        memcpy(b, d, n);
        b[off + 8 + clen / 2] ^= 0x10; /* IDAT data, CRC left as it was */
        write_bytes(&fx, "c/idat-crc.png", b, n);
        expect_invalid(&fx, "c/idat-crc.png", "Image.Invalid");
        memcpy(b, d, n);
        for (size_t i = off + 8 + clen / 3; i < off + 8 + clen / 3 + 32; i++)
                b[i] ^= 0x5a;
        {
                uint32_t crc = crc32_buf(0, b + off + 4, clen + 4);
                unsigned char *c = b + off + 8 + clen;
                c[0] = crc >> 24, c[1] = crc >> 16, c[2] = crc >> 8, c[3] = crc;
        }
        write_bytes(&fx, "c/zlib.png", b, n);
        expect_invalid(&fx, "c/zlib.png", "Image.Invalid");
        memcpy(b, d, n);
        b[24] = 7; /* bit depth 7 */
        {
                uint32_t crc = crc32_buf(0, b + 12, 17);
                b[29] = crc >> 24, b[30] = crc >> 16, b[31] = crc >> 8, b[32] = crc;
        }
        write_bytes(&fx, "c/depth.png", b, n);
        expect_invalid(&fx, "c/depth.png", "Image.Invalid");
        free(b);
        free(d);

        /* WebP, lossy and lossless: cut. */
        for (int lossless = 0; lossless <= 1; lossless++) {
                ASSERT_INT_EQ(vips_webpsave_buffer(img, &buf, &len, "lossless", lossless, NULL), 0);
                for (int k = 1; k < 10; k += 2) {
                        char key[64];
                        snprintf(key, sizeof(key), "c/cut-%d-%d.webp", lossless, k);
                        write_bytes(&fx, key, buf, len * k / 10);
                        expect_invalid(&fx, key, "Image.Invalid");
                }
                g_free(buf);
        }

        /* GIF and TIFF: cut in the pixel data. */
        ASSERT_INT_EQ(vips_gifsave_buffer(img, &buf, &len, NULL), 0);
        write_bytes(&fx, "c/cut.gif", buf, len / 2);
        expect_invalid(&fx, "c/cut.gif", "Image.Invalid");
        g_free(buf);
        ASSERT_INT_EQ(vips_tiffsave_buffer(img, &buf, &len, "compression",
                                           VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE, NULL),
                      0);
        write_bytes(&fx, "c/cut.tif", buf, len / 2);
        expect_invalid(&fx, "c/cut.tif", "Image.Invalid");
        g_free(buf);

        g_object_unref(img);
        fixture_teardown(&fx);
}

/* Progressive JPEG and optimised Huffman tables make libjpeg hold every
 * coefficient of the image: kept up to IMAGE_JPEG_WHOLE_BUFFER_MAX (a 2 MP
 * photo), dropped above it (24 MP of colour at Q 80: 72 MB). */
static bool result_is_progressive(Fixture *fx, json_t *res) {
        VipsImage *out = open_result(fx, res);
        int interlaced = 0;

        if (vips_image_get_typeof(out, "interlaced"))
                ASSERT_INT_EQ(vips_image_get_int(out, "interlaced", &interlaced), 0);
        g_object_unref(out);
        return interlaced != 0;
}

TEST(jpeg_whole_image_buffer_only_when_small) {
        Fixture fx;
        json_t *res;

        fixture_setup(&fx);
        make_file(&fx, "raw/small.jpg", 1600, 1200, false);
        make_file(&fx, "raw/large.jpg", 6000, 4000, false);
        res = run_ok(&fx, "image.optimize",
                     "{\"bucket\":\"photos\",\"key\":\"raw/small.jpg\",\"format\":\"jpeg\"}");
        ASSERT_TRUE(result_is_progressive(&fx, res));
        json_decref(res);
        res = run_ok(&fx, "image.optimize",
                     "{\"bucket\":\"photos\",\"key\":\"raw/large.jpg\",\"format\":\"jpeg\"}");
        assert_dims(&fx, res, 6000, 4000);
        ASSERT_FALSE(result_is_progressive(&fx, res));
        json_decref(res);
        fixture_teardown(&fx);
}

TEST(limits_from_context) {
        Fixture fx;

        fixture_setup(&fx);
        make_file(&fx, "raw/a.png", 64, 48, true);
        fx.limits.max_pixels = 1000;
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/a.png\",\"width\":10}",
                 "Image.TooLarge", "pixels");
        op_limits_init_default(&fx.limits);
        fx.limits.max_input_bytes = 100;
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/a.png\",\"width\":10}",
                 "Image.TooLarge", "bytes");
        op_limits_init_default(&fx.limits);
        fx.limits.max_memory_bytes = 64 * 48 * 2;
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/a.png\",\"width\":10}",
                 "Image.TooLarge", "budget");
        op_limits_init_default(&fx.limits);
        fx.limits.max_dimension = 100;
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/a.png\",\"width\":1000}",
                 "Params.Invalid", "width");
        fixture_teardown(&fx);
}

TEST(svg_is_unsupported) {
        Fixture fx;
        static const char svg[] = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                                  "width=\"100\" height=\"100\">"
                                  "<rect width=\"100\" height=\"100\" fill=\"red\"/></svg>\n";
        json_t *res;

        fixture_setup(&fx);
        write_bytes(&fx, "t/x.svg", svg, sizeof(svg) - 1);
        write_bytes(&fx, "t/svg-as.png", svg, sizeof(svg) - 1);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"t/x.svg\",\"width\":10}",
                 "Image.Unsupported", NULL);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"t/svg-as.png\",\"width\":10}",
                 "Image.Unsupported", NULL);
        res = run_ok(&fx, "image.validate", "{\"bucket\":\"photos\",\"key\":\"t/x.svg\"}");
        ASSERT_TRUE(json_is_false(json_object_get(res, "isValid")));
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "error")), "Image.Unsupported");
        json_decref(res);
        fixture_teardown(&fx);
}

TEST(path_traversal_is_refused) {
        Fixture fx;
        char link[256], target[256];
        json_t *params, *res = NULL;
        TaskFailure f = TASK_FAILURE_NULL;

        fixture_setup(&fx);
        make_file(&fx, "raw/a.png", 16, 16, false);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"../x\",\"width\":10}",
                 "Storage.InvalidKey", NULL);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"/etc/passwd\",\"width\":10}",
                 "Storage.InvalidKey", NULL);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"a/../../x\",\"width\":10}",
                 "Storage.InvalidKey", NULL);
        run_fail(&fx, "image.metadata", "{\"bucket\":\"nope\",\"key\":\"raw/a.png\"}", "Storage.NotFound",
                 NULL);
        /* Output keys are checked too. */
        run_fail(&fx, "image.resize",
                 "{\"bucket\":\"photos\",\"key\":\"raw/a.png\",\"width\":10,"
                 "\"output\":{\"bucket\":\"photos\",\"key\":\"../../escape.png\"}}",
                 "Storage.InvalidKey", NULL);
        /* A key with a NUL byte inside (explicit length). */
        params = json_pack("{s:s, s:s%, s:i}", "bucket", "photos", "key", "raw/a.png\0/../../x", (size_t) 17,
                           "width", 10);
        ASSERT_NOT_NULL(params);
        ASSERT_TRUE(image_ops_run(image_ops_find("image.resize", NULL, 0), fx.s, params, &fx.ctx, &res, &f) <
                    0);
        ASSERT_STR_EQ(f.error, "Params.Invalid"); /* caught by the schema already */
        json_decref(params);
        params = json_pack("{s:{s:s, s:s%}, s:i}", "input", "bucket", "photos", "key", "raw/a.png\0/../../x",
                           (size_t) 17, "width", 10);
        ASSERT_TRUE(image_ops_run(image_ops_find("image.resize", NULL, 0), fx.s, params, &fx.ctx, &res, &f) <
                    0);
        ASSERT_STR_EQ(f.error, "Storage.InvalidKey");
        json_decref(params);
        task_failure_clear(&f);
        /* A symlink leading out of the root. */
        make_file(&fx, "raw/b.png", 16, 16, false);
        snprintf(target, sizeof(target), "%s/raw/b.png", fx.root);
        snprintf(link, sizeof(link), "%s/secret.png", fx.outside);
        ASSERT_INT_EQ(rename(target, link), 0);
        snprintf(link, sizeof(link), "%s/raw/link.png", fx.root);
        snprintf(target, sizeof(target), "%s/secret.png", fx.outside);
        ASSERT_INT_EQ(symlink(target, link), 0);
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/link.png\",\"width\":10}",
                 "Storage.AccessDenied", NULL);
        fixture_teardown(&fx);
}

/* ---- resize ------------------------------------------------------------- */

TEST(resize_fits) {
        Fixture fx;
        json_t *res;
        VipsImage *img;
        double px[4] = {0};
        double *vec = NULL;
        int n = 0;

        fixture_setup(&fx);
        make_file(&fx, "raw/cat.png", 400, 300, false);
#define R(params) run_ok(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\"," params "}")
        res = R("\"width\":100,\"height\":100");
        assert_dims(&fx, res, 100, 100); /* default fit: cover */
        assert_derived_key(res_key(res), "processed/exec-1/Resize/raw/cat", "png");
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "format")), "png");
        ASSERT_TRUE(json_integer_value(json_object_get(res, "size")) > 0);
        json_decref(res);
        res = R("\"width\":100,\"height\":100,\"fit\":\"inside\"");
        assert_dims(&fx, res, 100, 75);
        json_decref(res);
        res = R("\"width\":100,\"height\":100,\"fit\":\"fill\"");
        assert_dims(&fx, res, 100, 100);
        json_decref(res);
        res = R("\"width\":100,\"height\":100,\"fit\":\"outside\"");
        assert_dims(&fx, res, 133, 100);
        json_decref(res);
        res = R("\"width\":100,\"height\":100,\"fit\":\"contain\",\"background\":[255,0,0]");
        assert_dims(&fx, res, 100, 100);
        img = open_result(&fx, res);
        ASSERT_INT_EQ(vips_getpoint(img, &vec, &n, 50, 2, NULL), 0); /* letterbox band */
        for (int i = 0; i < n && i < 4; i++)
                px[i] = vec[i];
        g_free(vec);
        ASSERT_TRUE(px[0] > 250 && px[1] < 5 && px[2] < 5);
        g_object_unref(img);
        json_decref(res);
        res = R("\"width\":200");
        assert_dims(&fx, res, 200, 150);
        json_decref(res);
        res = R("\"height\":30");
        assert_dims(&fx, res, 40, 30);
        json_decref(res);
        /* withoutEnlargement (default true). */
        res = R("\"width\":800");
        assert_dims(&fx, res, 400, 300);
        json_decref(res);
        res = R("\"width\":800,\"withoutEnlargement\":false");
        assert_dims(&fx, res, 800, 600);
        json_decref(res);
        /* Another format and an explicit output. */
        res = R("\"width\":100,\"format\":\"webp\",\"output\":{\"bucket\":\"photos\",\"key\":\"out/"
                "x.webp\"}");
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "key")), "out/x.webp");
        img = open_result(&fx, res);
        ASSERT_STR_EQ(loader_of(img), "webpload");
        g_object_unref(img);
        json_decref(res);
        res = R("\"width\":100,\"format\":\"jpeg\",\"outputPrefix\":\"thumbs/"
                "\",\"outputBucket\":\"photos\"");
        assert_derived_key(res_key(res), "thumbs/exec-1/Resize/raw/cat", "jpg");
        json_decref(res);
#undef R
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\"}", "Params.Invalid",
                 "width");
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":\"abc\"}",
                 "Params.Invalid", "width");
        run_fail(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":0}",
                 "Params.Invalid", "width");
        run_fail(&fx, "image.resize",
                 "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":10,\"fit\":\"squash\"}",
                 "Params.Invalid", "fit");
        run_fail(&fx, "image.resize", "{\"width\":10}", "Params.Invalid", "input");
        fixture_teardown(&fx);
}

/* ---- output keys -------------------------------------------------------- */

static int files_seen;

static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_F)
                files_seen++;
        return 0;
}

/* The number of regular files under dir (recursively). */
static int count_files(const char *dir) {
        files_seen = 0;
        if (nftw(dir, count_one, 16, FTW_PHYS) < 0)
                return -1;
        return files_seen;
}

TEST(output_key_stable_across_retries) {
        Fixture fx;
        json_t *a, *b;
        char dir[256];
        VipsImage *img;

        fixture_setup(&fx);
        make_file(&fx, "raw/cat.jpg", 120, 80, true);
        a = run_ok(&fx, "image.resize",
                   "{\"bucket\":\"photos\",\"key\":\"raw/cat.jpg\",\"width\":60,\"fit\":\"inside\"}");
        assert_derived_key(res_key(a), "processed/exec-1/Resize/raw/cat", "jpg");
        /* A retry: a later attempt with a new task id, the same parameters
         * (here in another order, with a field no schema knows): the same key,
         * the same one file. */
        fx.ctx.attempt = 3;
        fx.ctx.task_id = "task-9";
        b = run_ok(&fx, "image.resize",
                   "{\"fit\":\"inside\",\"width\":60,\"key\":\"raw/cat.jpg\","
                   "\"bucket\":\"photos\",\"note\":\"x\"}");
        ASSERT_STR_EQ(res_key(a), res_key(b));
        snprintf(dir, sizeof(dir), "%s/processed", fx.root);
        ASSERT_INT_EQ(count_files(dir), 1);
        json_decref(a);
        json_decref(b);
        /* Inside a Map: the retry of iteration 2 overwrites iteration 2's output. */
        fx.ctx.index_path = "2";
        a = run_ok(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.jpg\",\"width\":60}");
        fx.ctx.attempt = 4;
        b = run_ok(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.jpg\",\"width\":60}");
        assert_derived_key(res_key(a), "processed/exec-1/Resize@2/raw/cat", "jpg");
        ASSERT_STR_EQ(res_key(a), res_key(b));
        ASSERT_INT_EQ(count_files(dir), 2);
        img = open_result(&fx, b);
        ASSERT_INT_EQ(vips_image_get_width(img), 60);
        g_object_unref(img);
        json_decref(a);
        json_decref(b);
        fixture_teardown(&fx);
}

TEST(output_key_unique_per_iteration_input_and_parameters) {
        static const char *const params[] = {
                /* Map iterations of one state, widths 32, 64, 128 */
                "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":32}",
                "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":64}",
                "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":128}",
        };
        static const char *const paths[] = {"0", "1", "2"};
        Fixture fx;
        json_t *res[8];
        char dir[256];
        size_t n = 0;

        fixture_setup(&fx);
        make_file(&fx, "raw/cat.png", 400, 300, false);
        make_file(&fx, "raw/cat.jpg", 400, 300, false);
        make_file(&fx, "other/raw/cat.png", 400, 300, false);
        for (size_t i = 0; i < 3; i++) {
                fx.ctx.index_path = paths[i];
                res[n] = run_ok(&fx, "image.resize", params[i]);
                assert_dims(&fx, res[n], 32 << i, (32 << i) * 3 / 4);
                n++;
        }
        /* Iterations of a Map in a Parallel branch. */
        fx.ctx.index_path = "1.0";
        res[n++] = run_ok(&fx, "image.resize", params[0]);
        /* The same place, other parameters (a Choice loop back to the state). */
        fx.ctx.index_path = NULL;
        res[n++] = run_ok(&fx, "image.resize", params[0]);
        res[n++] = run_ok(&fx, "image.resize", params[1]);
        /* Another input with the same stem, and another key ending the same. */
        res[n++] = run_ok(&fx, "image.resize",
                          "{\"bucket\":\"photos\",\"key\":\"raw/cat.jpg\",\"width\":32,"
                          "\"format\":\"png\"}");
        res[n++] = run_ok(&fx, "image.resize",
                          "{\"bucket\":\"photos\",\"key\":\"other/raw/cat.png\",\"width\":32}");

        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        ASSERT_TRUE(strcmp(res_key(res[i]), res_key(res[j])) != 0);
        assert_derived_key(res_key(res[0]), "processed/exec-1/Resize@0/raw/cat", "png");
        assert_derived_key(res_key(res[3]), "processed/exec-1/Resize@1.0/raw/cat", "png");
        assert_derived_key(res_key(res[6]), "processed/exec-1/Resize/raw/cat", "png");
        assert_derived_key(res_key(res[7]), "processed/exec-1/Resize/other/raw/cat", "png");
        snprintf(dir, sizeof(dir), "%s/processed", fx.root);
        ASSERT_INT_EQ(count_files(dir), (int) n);
        for (size_t i = 0; i < n; i++)
                json_decref(res[i]);
        fixture_teardown(&fx);
}

TEST(output_key_names_reduce_one_to_one) {
        static const char *const names[] = {"c(1)", "c_1_", "c@1!"};
        char long_name[120];
        Fixture fx;
        json_t *res[3];
        char dir[256];
        const char *k;

        fixture_setup(&fx);
        make_file(&fx, "raw/cat.png", 40, 30, false);
        for (size_t i = 0; i < 3; i++) {
                fx.ctx.execution_name = names[i];
                res[i] = run_ok(&fx, "image.resize",
                                "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":20}");
        }
        /* A safe name stays as it is; the others get '~' and a hash of the
         * whole name, different for each. */
        k = res_key(res[1]);
        assert_derived_key(k, "processed/c_1_/Resize/raw/cat", "png");
        for (size_t i = 0; i < 3; i += 2) {
                k = res_key(res[i]);
                ASSERT_TRUE(strncmp(k, "processed/c_1_~", 15) == 0);
                ASSERT_INT_EQ(strspn(k + 15, "0123456789abcdef"), 8);
                ASSERT_TRUE(strncmp(k + 23, "/Resize/raw/cat.", 16) == 0);
        }
        ASSERT_TRUE(strcmp(res_key(res[0]), res_key(res[2])) != 0);
        snprintf(dir, sizeof(dir), "%s/processed", fx.root);
        ASSERT_INT_EQ(count_files(dir), 3);
        for (size_t i = 0; i < 3; i++)
                json_decref(res[i]);

        /* Names that cannot be a component as they are: each its own. */
        fx.ctx.execution_name = "../../evil/name";
        fx.ctx.state_name = "..";
        res[0] = run_ok(&fx, "image.thumbnail", "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\"}");
        k = res_key(res[0]);
        ASSERT_TRUE(strncmp(k, "processed/.._.._evil_name~", 26) == 0);
        ASSERT_TRUE(strstr(k, "/..~") != NULL);
        assert_dims(&fx, res[0], 40, 30); /* cover 200x200 without enlargement: unchanged */
        json_decref(res[0]);
        /* Longer than 80 bytes: cut, and the hash of the whole name. */
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        fx.ctx.execution_name = long_name;
        fx.ctx.state_name = "Resize";
        res[0] = run_ok(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cat.png\",\"width\":20}");
        long_name[80] = '~';
        long_name[81] = '\0';
        ASSERT_TRUE(strncmp(res_key(res[0]) + 10, long_name, 81) == 0);
        json_decref(res[0]);
        fixture_teardown(&fx);
}

TEST(output_key_from_the_original_object) {
        Fixture fx;
        json_t *a, *b, *c;
        char params[512];

        fixture_setup(&fx);
        make_file(&fx, "raw/photo.jpg", 200, 100, true);
        a = run_ok(&fx, "image.resize",
                   "{\"bucket\":\"photos\",\"key\":\"raw/photo.jpg\",\"width\":100,"
                   "\"format\":\"webp\"}");
        assert_derived_key(res_key(a), "processed/exec-1/Resize/raw/photo", "webp");
        /* The next state of the same execution reads that output: its key
         * comes from raw/photo.jpg, not from the derived key. */
        fx.ctx.state_name = "OptimizeImage";
        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\"}", res_key(a));
        b = run_ok(&fx, "image.optimize", params);
        assert_derived_key(res_key(b), "processed/exec-1/OptimizeImage/raw/photo", "webp");
        /* ... and so on: no nesting after two steps either. */
        fx.ctx.state_name = "Convert";
        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\",\"format\":\"png\"}",
                 res_key(b));
        c = run_ok(&fx, "image.convert", params);
        assert_derived_key(res_key(c), "processed/exec-1/Convert/raw/photo", "png");
        json_decref(c);
        /* Another execution's output is its own original object. */
        fx.ctx.execution_name = "exec-2";
        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\"}", res_key(a));
        c = run_ok(&fx, "image.optimize", params);
        ASSERT_TRUE(strncmp(res_key(c), "processed/exec-2/Convert/processed/exec-1/Resize/raw/photo.", 59) ==
                    0);
        json_decref(c);
        json_decref(a);
        json_decref(b);
        fixture_teardown(&fx);
}

TEST(exif_orientation_applied_and_stripped) {
        Fixture fx;
        VipsImage *img, *tagged = NULL, *out;
        json_t *res;

        fixture_setup(&fx);
        img = make_image(40, 20, true);
        ASSERT_INT_EQ(vips_copy(img, &tagged, NULL), 0);
        vips_image_set_int(tagged, "orientation", 6);
        vips_image_set_string(tagged, "exif-ifd0-Make", "TestCam");
        save_image(&fx, tagged, "raw/rot.jpg", NULL);
        g_object_unref(img);
        g_object_unref(tagged);

        res = run_ok(&fx, "image.metadata", "{\"bucket\":\"photos\",\"key\":\"raw/rot.jpg\"}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(res, "orientation")), 6);
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_object_get(res, "exif"), "orientation")), 6);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(res, "exif"), "make")), "TestCam");
        ASSERT_TRUE(json_is_true(json_object_get(res, "hasExif")));
        json_decref(res);

        /* Convert: upright (20x40), and metadata stripped by default. */
        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/rot.jpg\",\"format\":\"jpeg\"}");
        assert_dims(&fx, res, 20, 40);
        out = open_result(&fx, res);
        ASSERT_INT_EQ(vips_image_get_orientation(out), 1);
        ASSERT_FALSE(vips_image_get_typeof(out, VIPS_META_EXIF_NAME));
        ASSERT_FALSE(vips_image_get_typeof(out, VIPS_META_ICC_NAME));
        g_object_unref(out);
        json_decref(res);

        /* keepMetadata keeps EXIF, with the orientation reset. */
        res = run_ok(
                &fx, "image.convert",
                "{\"bucket\":\"photos\",\"key\":\"raw/rot.jpg\",\"format\":\"jpeg\",\"keepMetadata\":true,"
                "\"output\":{\"bucket\":\"photos\",\"key\":\"keep.jpg\"}}");
        out = open_result(&fx, res);
        ASSERT_TRUE(vips_image_get_typeof(out, VIPS_META_EXIF_NAME) != 0);
        ASSERT_INT_EQ(vips_image_get_orientation(out), 1);
        ASSERT_INT_EQ(vips_image_get_width(out), 20);
        g_object_unref(out);
        json_decref(res);

        /* Resize sees the upright image: width 10 -> 10x20. */
        res = run_ok(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/rot.jpg\",\"width\":10}");
        assert_dims(&fx, res, 10, 20);
        json_decref(res);

        /* A filter opens its input for sequential access, and for random
         * access when it must be turned (a turn reads the strips out of
         * order): large enough for many strips. */
        img = make_image(1600, 1200, true);
        ASSERT_INT_EQ(vips_copy(img, &tagged, NULL), 0);
        vips_image_set_int(tagged, "orientation", 6);
        save_image(&fx, tagged, "raw/rot-big.jpg", NULL);
        g_object_unref(img);
        g_object_unref(tagged);
        res = run_ok(&fx, "image.filter",
                     "{\"bucket\":\"photos\",\"key\":\"raw/rot-big.jpg\",\"filters\":[\"grayscale\","
                     "{\"type\":\"sharpen\",\"kernel\":true}],\"format\":\"jpeg\"}");
        assert_dims(&fx, res, 1200, 1600);
        json_decref(res);
        res = run_ok(&fx, "image.filter",
                     "{\"bucket\":\"photos\",\"key\":\"raw/rot.jpg\",\"filters\":[\"sepia\"],"
                     "\"format\":\"jpeg\"}");
        assert_dims(&fx, res, 20, 40);
        json_decref(res);
        fixture_teardown(&fx);
}

/* ---- crop, rotate, flip ------------------------------------------------- */

TEST(crop_rotate_flip) {
        Fixture fx;
        json_t *res;
        VipsImage *in, *out;
        double *a = NULL, *b = NULL;
        int na = 0, nb = 0;

        fixture_setup(&fx);
        make_file(&fx, "raw/g.png", 200, 100, false);
#define P(extra) "{\"bucket\":\"photos\",\"key\":\"raw/g.png\"," extra "}"
        res = run_ok(&fx, "image.crop", P("\"left\":10,\"top\":20,\"width\":50,\"height\":40"));
        assert_dims(&fx, res, 50, 40);
        json_decref(res);
        res = run_ok(&fx, "image.crop", P("\"width\":60,\"height\":60,\"strategy\":\"attention\""));
        assert_dims(&fx, res, 60, 60);
        json_decref(res);
        res = run_ok(&fx, "image.crop", P("\"width\":60,\"height\":60,\"strategy\":\"entropy\""));
        assert_dims(&fx, res, 60, 60);
        json_decref(res);
        run_fail(&fx, "image.crop", P("\"left\":190,\"top\":0,\"width\":50,\"height\":40"), "Params.Invalid",
                 "outside");
        run_fail(&fx, "image.crop", P("\"left\":-1,\"top\":0,\"width\":50,\"height\":40"), "Params.Invalid",
                 "left");
        run_fail(&fx, "image.crop", P("\"left\":0,\"top\":0"), "Params.Invalid", "width");

        res = run_ok(&fx, "image.rotate", P("\"angle\":90"));
        assert_dims(&fx, res, 100, 200);
        json_decref(res);
        res = run_ok(&fx, "image.rotate", P("\"angle\":-90"));
        assert_dims(&fx, res, 100, 200);
        json_decref(res);
        res = run_ok(&fx, "image.rotate", P("\"angle\":180"));
        assert_dims(&fx, res, 200, 100);
        json_decref(res);
        res = run_ok(&fx, "image.rotate", P("\"angle\":45,\"background\":[255,255,255]"));
        out = open_result(&fx, res);
        ASSERT_TRUE(vips_image_get_width(out) > 200 && vips_image_get_height(out) > 200);
        g_object_unref(out);
        json_decref(res);
        run_fail(&fx, "image.rotate", P("\"angle\":\"ninety\""), "Params.Invalid", "angle");

        /* Horizontal flip: output (0, y) is input (w-1, y). */
        res = run_ok(&fx, "image.flip", P("\"direction\":\"horizontal\""));
        out = open_result(&fx, res);
        in = open_key(&fx, "raw/g.png");
        ASSERT_INT_EQ(vips_getpoint(out, &a, &na, 0, 5, NULL), 0);
        ASSERT_INT_EQ(vips_getpoint(in, &b, &nb, 199, 5, NULL), 0);
        ASSERT_INT_EQ(na, nb);
        for (int i = 0; i < na; i++)
                ASSERT_DBL_EQ(a[i], b[i]);
        g_free(a);
        g_free(b);
        g_object_unref(out);
        json_decref(res);
        /* Vertical flip: output (x, 0) is input (x, h-1). */
        res = run_ok(&fx, "image.flip", P("\"direction\":\"vertical\""));
        out = open_result(&fx, res);
        ASSERT_INT_EQ(vips_getpoint(out, &a, &na, 5, 0, NULL), 0);
        ASSERT_INT_EQ(vips_getpoint(in, &b, &nb, 5, 99, NULL), 0);
        for (int i = 0; i < na; i++)
                ASSERT_DBL_EQ(a[i], b[i]);
        g_free(a);
        g_free(b);
        g_object_unref(out);
        g_object_unref(in);
        json_decref(res);
        run_fail(&fx, "image.flip", P("\"direction\":\"diagonal\""), "Params.Invalid", "direction");
#undef P
        fixture_teardown(&fx);
}

/* ---- filters ------------------------------------------------------------ */

static VipsImage *filter_run(Fixture *fx, const char *filters) {
        char params[512];
        json_t *res;
        VipsImage *img;

        snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"filters\":%s}",
                 filters);
        res = run_ok(fx, "image.filter", params);
        img = open_result(fx, res);
        json_decref(res);
        return img;
}

TEST(filters_change_pixels) {
        Fixture fx;
        VipsImage *in, *out;
        double din;

        fixture_setup(&fx);
        make_file(&fx, "raw/n.png", 128, 96, true);
        in = open_key(&fx, "raw/n.png");
        din = deviation(in);

        out = filter_run(&fx, "[\"grayscale\"]");
        ASSERT_INT_EQ(vips_image_get_bands(out), 1);
        ASSERT_INT_EQ(vips_image_get_width(out), 128);
        g_object_unref(out);

        out = filter_run(&fx, "[{\"type\":\"blur\",\"sigma\":3}]");
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        ASSERT_TRUE(band_avg(out, 0) > 100 && band_avg(out, 0) < 156);
        {
                /* Noise band: the deviation drops a lot. */
                VipsImage *b0 = NULL, *i0 = NULL;
                ASSERT_INT_EQ(vips_extract_band(out, &b0, 0, NULL), 0);
                ASSERT_INT_EQ(vips_extract_band(in, &i0, 0, NULL), 0);
                ASSERT_TRUE(deviation(b0) < deviation(i0) / 2);
                g_object_unref(b0);
                g_object_unref(i0);
        }
        g_object_unref(out);

        out = filter_run(&fx, "[{\"type\":\"sharpen\",\"kernel\":true}]");
        ASSERT_TRUE(deviation(out) > din);
        g_object_unref(out);
        out = filter_run(&fx, "[{\"type\":\"sharpen\",\"sigma\":2}]");
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        g_object_unref(out);

        out = filter_run(&fx, "[\"sepia\"]");
        ASSERT_TRUE(band_avg(out, 0) > band_avg(out, 1) && band_avg(out, 1) > band_avg(out, 2));
        g_object_unref(out);

        out = filter_run(&fx, "[{\"type\":\"brightness\",\"value\":0.5}]");
        ASSERT_TRUE(fabs(band_avg(out, 1) - band_avg(in, 1) * 0.5) < 2);
        g_object_unref(out);

        out = filter_run(&fx, "[{\"type\":\"contrast\",\"value\":0}]");
        ASSERT_TRUE(deviation(out) < 1.0);
        g_object_unref(out);

        out = filter_run(&fx, "[{\"type\":\"saturation\",\"value\":0}]");
        ASSERT_TRUE(fabs(band_avg(out, 0) - band_avg(out, 1)) < 3 &&
                    fabs(band_avg(out, 1) - band_avg(out, 2)) < 3);
        g_object_unref(out);

        out = filter_run(&fx, "[{\"type\":\"tint\",\"color\":[255,0,0]}]");
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        ASSERT_TRUE(band_avg(out, 0) > 50 && band_avg(out, 1) < 1 && band_avg(out, 2) < 1);
        g_object_unref(out);

        /* Several in a row. */
        out = filter_run(&fx, "[\"grayscale\",{\"type\":\"blur\",\"sigma\":1},\"sepia\"]");
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        g_object_unref(out);

        run_fail(&fx, "image.filter",
                 "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"filters\":[\"emboss\"]}", "Params.Invalid",
                 "filters[0]");
        run_fail(&fx, "image.filter",
                 "{\"bucket\":\"photos\",\"key\":\"raw/"
                 "n.png\",\"filters\":[\"sepia\",{\"type\":\"blur\",\"sigma\":0}]}",
                 "Params.Invalid", "filters[1].sigma");
        run_fail(&fx, "image.filter", "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"filters\":[]}",
                 "Params.Invalid", "filters");
        g_object_unref(in);
        fixture_teardown(&fx);
}

/* ---- watermark ---------------------------------------------------------- */

static double region_avg(VipsImage *img, int x, int y, int w, int h) {
        VipsImage *r = NULL;
        double avg;
        ASSERT_INT_EQ(vips_extract_area(img, &r, x, y, w, h, NULL), 0);
        ASSERT_INT_EQ(vips_avg(r, &avg, NULL), 0);
        g_object_unref(r);
        return avg;
}

TEST(watermark_text_and_image) {
        Fixture fx;
        VipsImage *black, *logo, *out, *a = NULL, *b = NULL;
        json_t *res;

        fixture_setup(&fx);
        ASSERT_INT_EQ(vips_black(&a, 200, 100, "bands", 3, NULL), 0);
        ASSERT_INT_EQ(vips_copy(a, &black, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
        save_image(&fx, black, "raw/black.png", NULL);
        g_object_unref(a);
        ASSERT_INT_EQ(vips_black(&a, 40, 20, "bands", 3, NULL), 0);
        ASSERT_INT_EQ(vips_linear1(a, &b, 1.0, 255.0, NULL), 0);
        g_object_unref(a);
        ASSERT_INT_EQ(vips_cast_uchar(b, &a, NULL), 0);
        ASSERT_INT_EQ(vips_copy(a, &logo, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
        save_image(&fx, logo, "brand/logo.png", NULL);
        g_object_unref(a);
        g_object_unref(b);

        res = run_ok(&fx, "image.watermark",
                     "{\"bucket\":\"photos\",\"key\":\"raw/black.png\",\"text\":\"imgflow\",\"fontSize\":20,"
                     "\"gravity\":\"southeast\",\"opacity\":1,\"margin\":5}");
        assert_dims(&fx, res, 200, 100);
        out = open_result(&fx, res);
        ASSERT_TRUE(region_avg(out, 100, 50, 100, 50) > 5); /* text there */
        ASSERT_TRUE(region_avg(out, 0, 0, 80, 40) < 0.5);   /* not elsewhere */
        g_object_unref(out);
        json_decref(res);

        res = run_ok(&fx, "image.watermark",
                     "{\"bucket\":\"photos\",\"key\":\"raw/black.png\",\"image\":{\"bucket\":\"photos\","
                     "\"key\":\"brand/logo.png\"},\"gravity\":\"northwest\",\"opacity\":0.5,\"margin\":10}");
        out = open_result(&fx, res);
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        /* 50% white over black, at (10,10)..(50,30). */
        ASSERT_TRUE(fabs(region_avg(out, 12, 12, 30, 15) - 127.5) < 3);
        ASSERT_TRUE(region_avg(out, 100, 50, 100, 50) < 0.5);
        g_object_unref(out);
        json_decref(res);

        run_fail(&fx, "image.watermark", "{\"bucket\":\"photos\",\"key\":\"raw/black.png\"}",
                 "Params.Invalid", "image");
        run_fail(&fx, "image.watermark",
                 "{\"bucket\":\"photos\",\"key\":\"raw/"
                 "black.png\",\"image\":{\"bucket\":\"photos\",\"key\":\"no.png\"}}",
                 "Storage.NotFound", NULL);
        run_fail(&fx, "image.watermark",
                 "{\"bucket\":\"photos\",\"key\":\"raw/"
                 "black.png\",\"image\":{\"bucket\":\"photos\",\"key\":\"../x.png\"}}",
                 "Storage.InvalidKey", NULL);
        g_object_unref(black);
        g_object_unref(logo);
        fixture_teardown(&fx);
}

/* ---- encoders ----------------------------------------------------------- */

TEST(convert_and_optimize) {
        Fixture fx;
        json_t *res, *res2;
        VipsImage *out;

        fixture_setup(&fx);
        make_file(&fx, "raw/n.png", 256, 128, true);

        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"jpeg\","
                     "\"quality\":90,\"progressive\":true}");
        assert_derived_key(res_key(res), "processed/exec-1/Resize/raw/n", "jpg");
        out = open_result(&fx, res);
        ASSERT_STR_EQ(loader_of(out), "jpegload");
        {
                int interlaced = 0;
                ASSERT_INT_EQ(vips_image_get_int(out, "interlaced", &interlaced), 0);
                ASSERT_INT_EQ(interlaced, 1);
        }
        g_object_unref(out);
        /* Lower quality -> smaller file. */
        res2 = run_ok(&fx, "image.convert",
                      "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"jpeg\","
                      "\"quality\":20,\"output\":{\"bucket\":\"photos\",\"key\":\"q20.jpg\"}}");
        ASSERT_TRUE(json_integer_value(json_object_get(res2, "size")) <
                    json_integer_value(json_object_get(res, "size")));
        json_decref(res);
        json_decref(res2);

        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"webp\","
                     "\"lossless\":true}");
        out = open_result(&fx, res);
        ASSERT_STR_EQ(loader_of(out), "webpload");
        ASSERT_INT_EQ(vips_image_get_width(out), 256);
        g_object_unref(out);
        json_decref(res);

        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"png\","
                     "\"palette\":true,\"output\":{\"bucket\":\"photos\",\"key\":\"pal.png\"}}");
        out = open_result(&fx, res);
        {
                int palette = 0;
                ASSERT_STR_EQ(loader_of(out), "pngload");
                if (vips_image_get_typeof(out, "palette-bit-depth"))
                        ASSERT_INT_EQ(vips_image_get_int(out, "palette-bit-depth", &palette), 0);
                else
                        ASSERT_INT_EQ(vips_image_get_int(out, "bits-per-sample", &palette), 0);
                ASSERT_TRUE(palette > 0 && palette <= 8);
        }
        g_object_unref(out);
        json_decref(res);

        res = run_ok(&fx, "image.optimize", "{\"bucket\":\"photos\",\"key\":\"raw/n.png\"}");
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "format")), "png");
        json_decref(res);

        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"tiff\"}");
        out = open_result(&fx, res);
        ASSERT_STR_EQ(loader_of(out), "tiffload");
        g_object_unref(out);
        json_decref(res);

        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"gif\"}");
        out = open_result(&fx, res);
        ASSERT_STR_EQ(loader_of(out), "gifload");
        g_object_unref(out);
        json_decref(res);

        /* AVIF: either it works or it is a named Image.Unsupported. */
        {
                TaskFailure f = TASK_FAILURE_NULL;
                int r = run(&fx, "image.convert",
                            "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"avif\"}", &res, &f);
                if (r == 0) {
                        ASSERT_TRUE(image_ops_have_heif_save());
                        out = open_result(&fx, res);
                        ASSERT_STR_EQ(loader_of(out), "heifload");
                        g_object_unref(out);
                        json_decref(res);
                } else
                        ASSERT_STR_EQ(f.error, "Image.Unsupported");
                task_failure_clear(&f);
        }
        run_fail(&fx, "image.convert", "{\"bucket\":\"photos\",\"key\":\"raw/n.png\"}", "Params.Invalid",
                 "format");
        run_fail(&fx, "image.convert", "{\"bucket\":\"photos\",\"key\":\"raw/n.png\",\"format\":\"bmp\"}",
                 "Params.Invalid", "format");
        fixture_teardown(&fx);
}

TEST(inputs_of_each_format) {
        Fixture fx;
        static const char *keys[] = {"in/a.jpg", "in/a.png", "in/a.webp", "in/a.gif", "in/a.tif"};
        static const char *formats[] = {"jpeg", "png", "webp", "gif", "tiff"};

        fixture_setup(&fx);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                char params[256];
                json_t *res;

                make_file(&fx, keys[i], 90, 60, false);
                snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\",\"width\":30}",
                         keys[i]);
                res = run_ok(&fx, "image.resize", params);
                ASSERT_STR_EQ(json_string_value(json_object_get(res, "format")), formats[i]);
                assert_dims(&fx, res, 30, 20);
                json_decref(res);
                snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\"}", keys[i]);
                res = run_ok(&fx, "image.validate", params);
                ASSERT_TRUE(json_is_true(json_object_get(res, "isValid")));
                json_decref(res);
        }
        fixture_teardown(&fx);
}

/* ---- metadata ----------------------------------------------------------- */

TEST(metadata_icc_and_fields) {
        Fixture fx;
        VipsImage *img, *icc = NULL;
        json_t *res;

        fixture_setup(&fx);
        img = make_image(50, 40, false);
        /* Attach the built-in sRGB profile. */
        ASSERT_INT_EQ(vips_icc_transform(img, &icc, "srgb", "input_profile", "srgb", NULL), 0);
        save_image(&fx, icc, "raw/icc.jpg", NULL);
        g_object_unref(icc);
        g_object_unref(img);

        res = run_ok(&fx, "image.metadata", "{\"bucket\":\"photos\",\"key\":\"raw/icc.jpg\"}");
        ASSERT_STR_EQ(json_string_value(json_object_get(res, "format")), "jpeg");
        ASSERT_INT_EQ(json_integer_value(json_object_get(res, "width")), 50);
        ASSERT_TRUE(json_is_object(json_object_get(res, "icc")));
        ASSERT_TRUE(json_is_string(json_object_get(json_object_get(res, "icc"), "description")));
        ASSERT_TRUE(strlen(json_string_value(json_object_get(json_object_get(res, "icc"), "description"))) >
                    0);
        ASSERT_TRUE(json_is_false(json_object_get(res, "hasXmp")));
        json_decref(res);

        make_file(&fx, "raw/plain.png", 10, 10, false);
        res = run_ok(&fx, "image.metadata", "{\"bucket\":\"photos\",\"key\":\"raw/plain.png\"}");
        ASSERT_TRUE(json_is_null(json_object_get(res, "icc")));
        ASSERT_TRUE(json_is_null(json_object_get(json_object_get(res, "exif"), "make")));
        json_decref(res);
        fixture_teardown(&fx);
}

/* ---- pipeline ----------------------------------------------------------- */

TEST(pipeline_steps) {
        Fixture fx;
        json_t *res;
        VipsImage *out;

        fixture_setup(&fx);
        make_file(&fx, "raw/p.jpg", 400, 200, true);
        res = run_ok(&fx, "image.pipeline",
                     "{\"bucket\":\"photos\",\"key\":\"raw/p.jpg\",\"format\":\"png\",\"steps\":["
                     "{\"op\":\"resize\",\"width\":200},"
                     "{\"op\":\"crop\",\"left\":0,\"top\":0,\"width\":150,\"height\":80},"
                     "{\"op\":\"rotate\",\"angle\":90},"
                     "{\"op\":\"flip\",\"direction\":\"horizontal\"},"
                     "{\"op\":\"filter\",\"filters\":[\"grayscale\"]},"
                     "{\"op\":\"watermark\",\"text\":\"x\",\"fontSize\":10}"
                     "]}");
        assert_dims(&fx, res, 80, 150);
        out = open_result(&fx, res);
        ASSERT_STR_EQ(loader_of(out), "pngload");
        ASSERT_INT_EQ(vips_image_get_bands(out), 3); /* the watermark made it sRGB again */
        ASSERT_TRUE(fabs(band_avg(out, 0) - band_avg(out, 1)) < 3);
        g_object_unref(out);
        json_decref(res);

        run_fail(&fx, "image.pipeline",
                 "{\"bucket\":\"photos\",\"key\":\"raw/p.jpg\",\"steps\":[{\"op\":\"resize\",\"width\":10},"
                 "{\"op\":\"crop\",\"width\":\"x\",\"height\":1}]}",
                 "Params.Invalid", "steps[1].width");
        run_fail(&fx, "image.pipeline",
                 "{\"bucket\":\"photos\",\"key\":\"raw/p.jpg\",\"steps\":[{\"op\":\"explode\"}]}",
                 "Params.Invalid", "steps[0].op");
        run_fail(&fx, "image.pipeline",
                 "{\"bucket\":\"photos\",\"key\":\"raw/"
                 "p.jpg\",\"steps\":[{\"op\":\"filter\",\"filters\":[\"nope\"]}]}",
                 "Params.Invalid", "steps[0].filters[0]");
        run_fail(&fx, "image.pipeline", "{\"bucket\":\"photos\",\"key\":\"raw/p.jpg\",\"steps\":[]}",
                 "Params.Invalid", "steps");
        fixture_teardown(&fx);
}

/* ---- table, test ops, threads ------------------------------------------- */

static int op_custom(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        *ret = json_pack("{s:s}", "custom", ctx->state_name);
        return 0;
}

TEST(table_and_registry) {
        Fixture fx;
        static const ParamSpec custom_params[] = {{"topic", PARAM_STRING, true}, {}};
        static const Operation extra[] = {
                {"notify", custom_params, op_custom, "test hook"},
                {"test.echo", NULL, op_custom, "override"},
                {"daemon.only", NULL, NULL, "run by the caller"},
        };
        size_t n = 0;
        const Operation *t = image_ops_table(&n);
        json_t *params, *res = NULL;
        TaskFailure f = TASK_FAILURE_NULL;

        fixture_setup(&fx);
        ASSERT_TRUE(n >= 15);
        for (size_t i = 0; i < n; i++) {
                ASSERT_NOT_NULL(t[i].name);
                ASSERT_NOT_NULL(t[i].fn);
                ASSERT_TRUE(image_ops_find(t[i].name, NULL, 0) == &t[i]);
        }
        ASSERT_NULL(image_ops_find("notify", NULL, 0));
        ASSERT_TRUE(image_ops_find("notify", extra, 2) == &extra[0]);
        ASSERT_TRUE(image_ops_find("test.echo", extra, 2) == &extra[1]);
        ASSERT_TRUE(image_ops_find("image.resize", extra, 2) != NULL);

        params = json_pack("{s:s}", "topic", "t");
        ASSERT_INT_EQ(image_ops_run(image_ops_find("notify", extra, 2), fx.s, params, &fx.ctx, &res, &f), 0);
        ASSERT_JSON_EQ(res, "{\"custom\":\"Resize\"}");
        json_decref(res);
        json_decref(params);
        params = json_object();
        ASSERT_TRUE(image_ops_run(image_ops_find("notify", extra, 2), fx.s, params, &fx.ctx, &res, &f) < 0);
        ASSERT_STR_EQ(f.error, "Params.Invalid");
        ASSERT_TRUE(strstr(f.cause, "topic") != NULL);
        ASSERT_NULL(image_ops_find("image.explode", extra, 2));
        ASSERT_TRUE(image_ops_run(NULL, fx.s, params, &fx.ctx, &res, &f) < 0);
        ASSERT_STR_EQ(f.error, "Worker.UnknownOperation");
        ASSERT_TRUE(image_ops_run(image_ops_find("daemon.only", extra, 3), fx.s, params, &fx.ctx, &res, &f) <
                    0);
        ASSERT_STR_EQ(f.error, "Worker.UnknownOperation");
        ASSERT_TRUE(strstr(f.cause, "daemon.only") != NULL);
        json_decref(params);
        /* Parameters must be an object. */
        params = json_array();
        ASSERT_TRUE(image_ops_run(image_ops_find("image.resize", NULL, 0), fx.s, params, &fx.ctx, &res, &f) <
                    0);
        ASSERT_STR_EQ(f.error, "Params.Invalid");
        json_decref(params);
        task_failure_clear(&f);
        fixture_teardown(&fx);
}

TEST(test_ops) {
        Fixture fx;
        json_t *res;
        struct timespec t0, t1;
        atomic_bool cancel = true;

        fixture_setup(&fx);
        res = run_ok(&fx, "test.echo", "{\"a\":[1,2,{\"b\":null}]}");
        ASSERT_JSON_EQ(res, "{\"a\":[1,2,{\"b\":null}]}");
        json_decref(res);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        res = run_ok(&fx, "test.sleep", "{\"ms\":30}");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ASSERT_TRUE((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 30);
        ASSERT_JSON_EQ(res, "{\"slept\":30}");
        json_decref(res);
        fx.limits.max_sleep_ms = 10;
        run_fail(&fx, "test.sleep", "{\"ms\":30}", "Params.Invalid", "ms");
        op_limits_init_default(&fx.limits);
        fx.ctx.cancel = &cancel;
        run_fail(&fx, "test.sleep", "{\"ms\":5000}", "Task.Cancelled", NULL);
        fx.ctx.cancel = NULL;

        run_fail(&fx, "test.fail", "{}", "Test.Failure", NULL);
        run_fail(&fx, "test.fail", "{\"error\":\"Custom.Error\",\"cause\":\"because\"}", "Custom.Error",
                 "because");
        fx.ctx.attempt = 1;
        run_fail(&fx, "test.fail", "{\"failAttempts\":2}", "Test.Failure", NULL);
        fx.ctx.attempt = 2;
        run_fail(&fx, "test.fail", "{\"failAttempts\":2}", "Test.Failure", NULL);
        fx.ctx.attempt = 3;
        res = run_ok(&fx, "test.fail", "{\"failAttempts\":2}");
        ASSERT_JSON_EQ(res, "{\"attempt\":3,\"succeeded\":true}");
        json_decref(res);
        fixture_teardown(&fx);
}

typedef struct ThreadArg {
        Fixture *fx;
        int idx;
        int r;
} ThreadArg;

static void *thread_main(void *p) {
        ThreadArg *a = p;
        char params[256];
        json_t *in, *res = NULL;
        TaskFailure f = TASK_FAILURE_NULL;
        OpContext ctx = a->fx->ctx;
        char state[32];

        snprintf(state, sizeof(state), "S%d", a->idx);
        ctx.state_name = state;
        a->r = 0;
        for (int i = 0; i < 5 && a->r == 0; i++) {
                snprintf(params, sizeof(params), "{\"bucket\":\"photos\",\"key\":\"%s\",\"width\":%d}",
                         a->idx % 2 ? "raw/t.jpg" : "t/cut.png", 20 + i);
                in = json_loads(params, 0, NULL);
                a->r = image_ops_run(image_ops_find("image.resize", NULL, 0), a->fx->s, in, &ctx, &res, &f);
                /* Odd threads must succeed; even threads must fail cleanly. */
                if (a->idx % 2 == 0)
                        a->r = (a->r < 0 && f.error && strcmp(f.error, "Image.Invalid") == 0) ? 0 : -1;
                json_decref(in);
                json_decref(res);
                res = NULL;
                task_failure_clear(&f);
        }
        return NULL;
}

TEST(concurrent_operations) {
        Fixture fx;
        pthread_t th[6];
        ThreadArg args[6];

        fixture_setup(&fx);
        make_file(&fx, "raw/t.jpg", 300, 200, true);
        make_file(&fx, "t/cut.png", 200, 200, true);
        truncate_file(&fx, "t/cut.png", 0.4);
        for (int i = 0; i < 6; i++) {
                args[i] = (ThreadArg){&fx, i, -1};
                ASSERT_INT_EQ(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
        }
        for (int i = 0; i < 6; i++) {
                pthread_join(th[i], NULL);
                ASSERT_INT_EQ(args[i].r, 0);
        }
        fixture_teardown(&fx);
}

/* ---- colour management -------------------------------------------------- */

TEST(cmyk_with_profile_becomes_srgb) {
        Fixture fx;
        VipsImage *a = NULL, *b = NULL, *rgb = NULL, *cmyk = NULL, *out;
        double add[3] = {220, 30, 30}, mul[3] = {0, 0, 0};
        json_t *res;

        fixture_setup(&fx);
        ASSERT_INT_EQ(vips_black(&a, 64, 64, "bands", 3, NULL), 0);
        ASSERT_INT_EQ(vips_linear(a, &b, mul, add, 3, NULL), 0);
        g_object_unref(a);
        ASSERT_INT_EQ(vips_cast_uchar(b, &a, NULL), 0);
        ASSERT_INT_EQ(vips_copy(a, &rgb, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
        ASSERT_INT_EQ(vips_icc_transform(rgb, &cmyk, "cmyk", "input_profile", "srgb", NULL), 0);
        ASSERT_INT_EQ(vips_image_get_bands(cmyk), 4);
        save_image(&fx, cmyk, "raw/cmyk.jpg", NULL);
        g_object_unref(a);
        g_object_unref(b);
        g_object_unref(rgb);
        g_object_unref(cmyk);

        /* Through the loader (ICC import on load) ... */
        res = run_ok(&fx, "image.convert",
                     "{\"bucket\":\"photos\",\"key\":\"raw/cmyk.jpg\",\"format\":\"png\"}");
        out = open_result(&fx, res);
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        ASSERT_TRUE(fabs(band_avg(out, 0) - 220) < 25 && band_avg(out, 1) < 70 && band_avg(out, 2) < 70);
        g_object_unref(out);
        json_decref(res);
        /* ... and through shrink-on-load (resize as the first step). */
        res = run_ok(&fx, "image.resize", "{\"bucket\":\"photos\",\"key\":\"raw/cmyk.jpg\",\"width\":32}");
        out = open_result(&fx, res);
        ASSERT_INT_EQ(vips_image_get_width(out), 32);
        ASSERT_INT_EQ(vips_image_get_bands(out), 3);
        ASSERT_TRUE(fabs(band_avg(out, 0) - 220) < 25 && band_avg(out, 1) < 70 && band_avg(out, 2) < 70);
        g_object_unref(out);
        json_decref(res);
        fixture_teardown(&fx);
}

/* ---- S3 buckets ----------------------------------------------------------- */

/* With a real S3 server (tests/unit/with-s3-server.sh; meson runs this as
 * test-image-ops-s3): images read from an S3 bucket (into memory, libvips's
 * buffer loaders) and written back to it. */
/* The number of objects under prefix, by ListObjectsV2. */
static int s3_count(Fixture *fx, const char *bucket, const char *prefix) {
        TaskFailure f = TASK_FAILURE_NULL;
        StorageList *l = NULL;
        StorageEntry e;
        int n = 0, r;

        ASSERT_INT_EQ(storage_list_new(fx->s, bucket, prefix, NULL, &l, &f), 0);
        while ((r = storage_list_next(l, &e, &f)) > 0)
                n++;
        ASSERT_INT_EQ(r, 0);
        storage_list_free(l);
        return n;
}

TEST(s3_bucket_read_and_write) {
        const char *endpoint = getenv("IMGFLOW_TEST_S3_ENDPOINT");
        Fixture fx;
        StorageS3Options o;
        TaskFailure f = TASK_FAILURE_NULL;
        static const char *keys[] = {"in/a.jpg", "in/a.png", "in/a.webp", "in/a.gif", "in/a.tif"};
        static const char *formats[] = {"jpeg", "png", "webp", "gif", "tiff"};

        if (!endpoint) {
                fprintf(stderr, "  (no S3 server: see test-image-ops-s3)\n");
                return;
        }
        fixture_setup(&fx);
        storage_s3_options_init(&o);
        o.endpoint = endpoint;
        o.path_style = true;
        o.access_key_id = getenv("IMGFLOW_TEST_S3_ACCESS_KEY_ID");
        o.secret_access_key = getenv("IMGFLOW_TEST_S3_SECRET_ACCESS_KEY");
        ASSERT_INT_EQ(storage_add_s3_bucket(fx.s, "remote", "imgflow-test", &o, NULL), 0);

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                char params[256];
                void *data = NULL;
                size_t size = 0;
                json_t *res;
                VipsImage *img;

                /* Made in the directory bucket, uploaded to S3. */
                make_file(&fx, keys[i], 90, 60, false);
                ASSERT_INT_EQ(storage_read(fx.s, "photos", keys[i], 1 << 20, &data, &size, &f), 0);
                ASSERT_INT_EQ(storage_write_atomic(fx.s, "remote", keys[i], data, size, NULL, &f), 0);
                free(data);

                snprintf(params, sizeof params, "{\"bucket\":\"remote\",\"key\":\"%s\",\"width\":30}",
                         keys[i]);
                res = run_ok(&fx, "image.resize", params);
                ASSERT_STR_EQ(json_string_value(json_object_get(res, "bucket")), "remote");
                ASSERT_STR_EQ(json_string_value(json_object_get(res, "format")), formats[i]);
                ASSERT_INT_EQ(json_integer_value(json_object_get(res, "width")), 30);
                /* The output is in S3, readable as an image of that size. */
                ASSERT_INT_EQ(storage_read(fx.s, "remote", res_key(res), 1 << 20, &data, &size, &f), 0);
                ASSERT_INT_EQ(size, json_integer_value(json_object_get(res, "size")));
                img = vips_image_new_from_buffer(data, size, "", NULL);
                ASSERT_NOT_NULL(img);
                ASSERT_INT_EQ(vips_image_get_width(img), 30);
                ASSERT_INT_EQ(vips_image_get_height(img), 20);
                g_object_unref(img);
                free(data);
                json_decref(res);

                snprintf(params, sizeof params, "{\"bucket\":\"remote\",\"key\":\"%s\"}", keys[i]);
                res = run_ok(&fx, "image.validate", params);
                ASSERT_TRUE(json_is_true(json_object_get(res, "isValid")));
                json_decref(res);
        }

        /* A retried task (a later attempt with a new task id) overwrites its
         * own output object; another Map iteration writes one more. */
        {
                const char *params = "{\"bucket\":\"remote\",\"key\":\"in/a.jpg\",\"width\":30}";
                json_t *a = run_ok(&fx, "image.resize", params), *b;
                int before = s3_count(&fx, "remote", "processed/");

                fx.ctx.attempt = 2;
                fx.ctx.task_id = "task-retried";
                b = run_ok(&fx, "image.resize", params);
                ASSERT_STR_EQ(res_key(a), res_key(b));
                ASSERT_INT_EQ(s3_count(&fx, "remote", "processed/"), before);
                json_decref(b);
                fx.ctx.index_path = "7";
                b = run_ok(&fx, "image.resize", params);
                ASSERT_TRUE(strcmp(res_key(a), res_key(b)) != 0);
                ASSERT_INT_EQ(s3_count(&fx, "remote", "processed/"), before + 1);
                json_decref(a);
                json_decref(b);
                fx.ctx.index_path = NULL;
        }

        /* Damaged images read into memory are Image.Invalid too: JPEGs
         * cut in their scan data (the 1/8-scale check decodes the object's
         * bytes again), strict or not, and a TIFF cut before its directory
         * (the signature read from the bytes). */
        {
                static const struct {
                        const char *key, *format;
                        int cut_percent;
                } damaged[] = {
                        {"bad/cut.jpg", "jpeg", 60},
                        {"bad/cut-late.jpg", "jpeg", 95},
                        {"bad/cut.tif", "tiff", 50},
                };
                VipsImage *src = make_image(320, 240, true);

                for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
                        void *buf = NULL;
                        size_t len = 0;

                        if (strcmp(damaged[i].format, "jpeg") == 0)
                                ASSERT_INT_EQ(vips_jpegsave_buffer(src, &buf, &len, "Q", 85, NULL), 0);
                        else
                                ASSERT_INT_EQ(vips_tiffsave_buffer(src, &buf, &len, "compression",
                                                                   VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE,
                                                                   NULL),
                                              0);
                        ASSERT_INT_EQ(storage_write_atomic(fx.s, "remote", damaged[i].key, buf,
                                                           len * damaged[i].cut_percent / 100, NULL, &f),
                                      0);
                        g_free(buf);
                        for (int strict = 0; strict <= 1; strict++) {
                                char params[256];
                                json_t *res;

                                snprintf(params, sizeof params,
                                         "{\"bucket\":\"remote\",\"key\":\"%s\",\"strict\":%s}",
                                         damaged[i].key, strict ? "true" : "false");
                                res = run_ok(&fx, "image.validate", params);
                                if (!json_is_false(json_object_get(res, "isValid")))
                                        fprintf(stderr, "  %s (strict %d) passed\n", damaged[i].key, strict);
                                ASSERT_TRUE(json_is_false(json_object_get(res, "isValid")));
                                ASSERT_STR_EQ(json_string_value(json_object_get(res, "error")),
                                              "Image.Invalid");
                                json_decref(res);
                        }
                }
                g_object_unref(src);
        }

        /* A pipeline with an overlay read from S3 too, written to a
         * directory bucket. */
        json_decref(run_ok(&fx, "image.pipeline",
                           "{\"bucket\":\"remote\",\"key\":\"in/a.jpg\",\"outputBucket\":\"photos\","
                           "\"steps\":[{\"op\":\"resize\",\"width\":60},{\"op\":\"watermark\","
                           "\"image\":{\"bucket\":\"remote\",\"key\":\"in/a.png\"}}]}"));

        /* Failures keep their names. */
        run_fail(&fx, "image.resize", "{\"bucket\":\"remote\",\"key\":\"in/none.jpg\",\"width\":30}",
                 "Storage.NotFound", "NoSuchKey");
        fx.limits.max_input_bytes = 10;
        run_fail(&fx, "image.resize", "{\"bucket\":\"remote\",\"key\":\"in/a.jpg\",\"width\":9}",
                 "Image.TooLarge", "limit 10");
        task_failure_clear(&f);
        fixture_teardown(&fx);
}

TEST(key_over_1024_bytes_is_invalid_key) {
        Fixture fx;
        char params[6000];

        fixture_setup(&fx);
        int n = snprintf(params, sizeof params, "{\"bucket\":\"photos\",\"key\":\"");
        for (int i = 0; i < 5000; i++)
                params[n++] = i % 100 == 99 ? '/' : 'k';
        snprintf(params + n, sizeof params - (size_t) n, "\",\"width\":30}");
        run_fail(&fx, "image.resize", params, "Storage.InvalidKey", "1024");
        fixture_teardown(&fx);
}

/* storage.list: a distributed Map's ItemReader, one page at a time. */
TEST(storage_list_pages) {
        Fixture fx;
        fixture_setup(&fx);
        for (int i = 0; i < 5; i++) {
                char key[32];
                snprintf(key, sizeof key, "raw/k%d.jpg", i);
                char *p = fx_path(&fx, key);
                mkdirs_for(p);
                FILE *f = fopen(p, "w");
                ASSERT_NOT_NULL(f);
                fprintf(f, "%*s", i + 1, "x");
                fclose(f);
                free(p);
        }
        char *other = fx_path(&fx, "other.txt");
        FILE *f = fopen(other, "w");
        fputs("o", f);
        fclose(f);
        free(other);

        /* a page of 2 under raw/, then the next after its last key, then the end */
        json_t *r = run_ok(&fx, "storage.list", "{\"bucket\":\"photos\",\"prefix\":\"raw/\",\"maxKeys\":2}");
        json_t *items = json_object_get(r, "Items");
        ASSERT_INT_EQ(json_array_size(items), 2);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "Key")), "raw/k0.jpg");
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(items, 1), "Size")), 2);
        ASSERT_NOT_NULL(json_object_get(json_array_get(items, 0), "Etag"));
        /* as Step Functions' listObjectsV2 items: seconds since the epoch, the class */
        ASSERT_TRUE(json_integer_value(json_object_get(json_array_get(items, 0), "LastModified")) >
                    time(NULL) - 3600);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "StorageClass")),
                      "STANDARD");
        ASSERT_TRUE(json_is_true(json_object_get(r, "More")));
        json_decref(r);
        r = run_ok(
                &fx, "storage.list",
                "{\"bucket\":\"photos\",\"prefix\":\"raw/\",\"maxKeys\":2,\"startAfter\":\"raw/k3.jpg\"}");
        items = json_object_get(r, "Items");
        ASSERT_INT_EQ(json_array_size(items), 1);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "Key")), "raw/k4.jpg");
        ASSERT_TRUE(json_is_false(json_object_get(r, "More")));
        json_decref(r);
        /* no prefix: everything, in S3's order */
        r = run_ok(&fx, "storage.list", "{\"bucket\":\"photos\"}");
        ASSERT_INT_EQ(json_array_size(json_object_get(r, "Items")), 6);
        ASSERT_STR_EQ(
                json_string_value(json_object_get(json_array_get(json_object_get(r, "Items"), 5), "Key")),
                "raw/k4.jpg");
        json_decref(r);
        run_fail(&fx, "storage.list", "{\"bucket\":\"nope\"}", "Storage.NotFound", "no such bucket");
        run_fail(&fx, "storage.list", "{\"bucket\":\"photos\",\"maxKeys\":1001}", "Params.Invalid",
                 "maxKeys");
        fixture_teardown(&fx);
}

/* ---- storage.items: a distributed Map's ItemReader over an object ------ */

static void put_object(Fixture *fx, const char *key, const char *data, size_t n) {
        char *p = fx_path(fx, key);
        mkdirs_for(p);
        FILE *f = fopen(p, "w");
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(fwrite(data, 1, n, f), n);
        fclose(f);
        free(p);
}

/* Every page of an object through the operation, pages of `page` items:
 * all items in one array (new). */
static json_t *items_all(Fixture *fx, const char *key, const char *type, int page, const char *extra) {
        json_t *all = json_array(), *headers = NULL;
        json_int_t next = 0;
        for (int guard = 0; guard < 100000; guard++) {
                char params[1024];
                char *h = headers ? json_dumps(headers, JSON_COMPACT) : NULL;
                snprintf(params, sizeof params,
                         "{\"bucket\":\"photos\",\"key\":\"%s\",\"inputType\":\"%s\",\"maxItems\":%d,"
                         "\"offset\":%lld%s%s%s}",
                         key, type, page, (long long) next, extra, h ? ",\"csvHeaders\":" : "", h ? h : "");
                free(h);
                json_t *r = run_ok(fx, "storage.items", params);
                json_t *items = json_object_get(r, "Items");
                ASSERT_TRUE((int) json_array_size(items) <= page);
                json_array_extend(all, items);
                if (json_object_get(r, "Headers")) {
                        ASSERT_NULL(headers);
                        headers = json_incref(json_object_get(r, "Headers"));
                }
                ASSERT_TRUE(json_integer_value(json_object_get(r, "Next")) >= next);
                next = json_integer_value(json_object_get(r, "Next"));
                bool more = json_is_true(json_object_get(r, "More"));
                json_decref(r);
                if (!more)
                        break;
        }
        json_decref(headers);
        return all;
}

/* items_parse() alone over data, given chunk bytes at a time (as the operation
 * reads parts of an object), pages of `page` items: every item (new). */
static json_t *parse_chunked(ItemsFormat fmt, const char *data, size_t chunk, size_t page) {
        json_t *all = json_array(), *headers = NULL;
        size_t len = strlen(data), want = chunk;
        uint64_t pos = 0;
        for (int guard = 0; guard < 100000; guard++) {
                size_t n = pos + want > len ? len - pos : want, bytes = 2, consumed = 0;
                json_t *items = json_array(), *read = NULL;
                ItemsStop stop = ITEMS_STOP_MORE;
                TaskFailure f = TASK_FAILURE_NULL;
                int r = items_parse(&fmt, data + pos, n, pos, pos + n >= len, headers,
                                    headers ? NULL : &read, items, page, &bytes, &consumed, &stop, &f);
                if (r < 0)
                        fprintf(stderr, "  chunk %zu at %" PRIu64 ": %s: %s\n", chunk, pos, f.error,
                                f.cause);
                ASSERT_INT_EQ(r, 0);
                if (read)
                        headers = read;
                json_array_extend(all, items);
                json_decref(items);
                pos += consumed;
                if (stop == ITEMS_STOP_DONE)
                        break;
                want = consumed == 0 && pos + n < len ? want * 2 : chunk;
        }
        json_decref(headers);
        return all;
}

TEST(storage_items_formats) {
        Fixture fx;
        fixture_setup(&fx);
        static const char jsonl[] = "\xEF\xBB\xBF{\"a\":1}\n\n  [1,2]\r\n\"s\\n,]\"\n{\"b\":{\"c\":[]}}";
        static const char json[] = " [ {\"a\":1} , [1,2],\"s\\n,]\" ,{\"b\":{\"c\":[]}}\n]\n";
        static const char want[] = "[{\"a\":1},[1,2],\"s\\n,]\",{\"b\":{\"c\":[]}}]";
        /* AWS's rules: quotes keep delimiters and newlines, "" and \" are a
         * quote, \\ a backslash, \x is x; short rows get "", long rows lose
         * their extra fields; empty lines are skipped */
        static const char csv[] =
                "id,name,note\r\n1,\"a, \"\"b\"\"\nc\",x\n\n2,b\\,c\\\\d\\e\n3,c,y,extra\n";
        static const char csv_want[] = "[{\"id\":\"1\",\"name\":\"a, \\\"b\\\"\\nc\",\"note\":\"x\"},"
                                       "{\"id\":\"2\",\"name\":\"b,c\\\\de\",\"note\":\"\"},"
                                       "{\"id\":\"3\",\"name\":\"c\",\"note\":\"y\"}]";
        ItemsFormat fj = {ITEMS_JSON, ','}, fl = {ITEMS_JSONL, ','}, fc = {ITEMS_CSV, ','};

        /* every chunk size, pages of 1 to 3: records cut anywhere are read again whole */
        for (size_t chunk = 1; chunk < sizeof csv; chunk++)
                for (size_t page = 1; page <= 3; page++) {
                        json_t *a = parse_chunked(fl, jsonl, chunk, page);
                        ASSERT_JSON_EQ(a, want);
                        json_decref(a);
                        a = parse_chunked(fj, json, chunk, page);
                        ASSERT_JSON_EQ(a, want);
                        json_decref(a);
                        a = parse_chunked(fc, csv, chunk, page);
                        ASSERT_JSON_EQ(a, csv_want);
                        json_decref(a);
                }

        /* through the operation: pages of 2, Next and Headers carried over */
        put_object(&fx, "in/a.jsonl", jsonl, sizeof jsonl - 1);
        put_object(&fx, "in/a.json", json, sizeof json - 1);
        put_object(&fx, "in/a.csv", csv, sizeof csv - 1);
        put_object(&fx, "in/pipe.csv", "1|x y\n2|z\n", 10);
        put_object(&fx, "in/empty.json", " [ ] ", 5);
        json_t *a = items_all(&fx, "in/a.jsonl", "JSONL", 2, "");
        ASSERT_JSON_EQ(a, want);
        json_decref(a);
        a = items_all(&fx, "in/a.json", "JSON", 2, "");
        ASSERT_JSON_EQ(a, want);
        json_decref(a);
        a = items_all(&fx, "in/a.csv", "CSV", 1, "");
        ASSERT_JSON_EQ(a, csv_want);
        json_decref(a);
        a = items_all(&fx, "in/pipe.csv", "CSV", 5,
                      ",\"csvDelimiter\":\"PIPE\",\"csvHeaders\":[\"n\",\"v\"]");
        ASSERT_JSON_EQ(a, "[{\"n\":\"1\",\"v\":\"x y\"},{\"n\":\"2\",\"v\":\"z\"}]");
        json_decref(a);
        a = items_all(&fx, "in/empty.json", "JSON", 5, "");
        ASSERT_JSON_EQ(a, "[]");
        json_decref(a);

        /* 3,000 lines over several 64 KiB parts, pages of 1,000 */
        size_t cap = 400 * 1024, n = 0;
        char *big = malloc(cap);
        for (int i = 0; i < 3000; i++)
                n += (size_t) snprintf(big + n, cap - n, "{\"i\":%d,\"pad\":\"%040d\"}\n", i, i);
        put_object(&fx, "in/big.jsonl", big, n);
        a = items_all(&fx, "in/big.jsonl", "JSONL", 1000, "");
        ASSERT_INT_EQ(json_array_size(a), 3000);
        for (int i = 0; i < 3000; i += 499)
                ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(a, (size_t) i), "i")), i);
        json_decref(a);

        /* failures, named, with the byte */
        put_object(&fx, "in/bad.jsonl", "{\"a\":1}\n{oops}\n", 15);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/bad.jsonl\",\"inputType\":\"JSONL\"}",
                 "Storage.InvalidContent", "at byte 8");
        put_object(&fx, "in/obj.json", "{\"a\":1}", 7);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/obj.json\",\"inputType\":\"JSON\"}",
                 "Storage.InvalidContent", "not a JSON array");
        put_object(&fx, "in/open.json", "[1,2", 4);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/open.json\",\"inputType\":\"JSON\"}",
                 "Storage.InvalidContent", "without ']'");
        put_object(&fx, "in/quote.csv", "h\n\"x\n", 5);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/quote.csv\",\"inputType\":\"CSV\"}",
                 "Storage.InvalidContent", "quoted field");
        memset(big, 'x', cap);
        big[0] = '"';
        put_object(&fx, "in/huge.jsonl", big, 300 * 1024);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/huge.jsonl\",\"inputType\":\"JSONL\"}",
                 "Storage.TooLarge", "in/huge.jsonl");
        free(big);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/none.json\",\"inputType\":\"JSON\"}",
                 "Storage.NotFound", NULL);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"in/a.csv\",\"inputType\":\"CSV\",\"offset\":16}",
                 "Params.Invalid", "csvHeaders");
        fixture_teardown(&fx);
}

/* ---- storage.items with InputType MANIFEST: an S3 Inventory ------------ */

/* text as one gzip member appended to out (a growing buffer). */
static void gzip_append(char **out, size_t *n, const char *text, size_t len) {
        z_stream z = {};
        size_t cap = len + len / 2 + 128;
        ASSERT_INT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        *out = realloc(*out, *n + cap);
        z.next_in = (Bytef *) text;
        z.avail_in = (uInt) len;
        z.next_out = (Bytef *) *out + *n;
        z.avail_out = (uInt) cap;
        ASSERT_INT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
        *n += cap - z.avail_out;
        deflateEnd(&z);
}

static void put_gzip(Fixture *fx, const char *key, const char *text) {
        char *gz = NULL;
        size_t n = 0;
        gzip_append(&gz, &n, text, strlen(text));
        put_object(fx, key, gz, n);
        free(gz);
}

/* Every page of a manifest, pages of `page` items, File and Next carried
 * over: all items (new). */
static json_t *manifest_all(Fixture *fx, const char *key, int page, int *ret_pages) {
        json_t *all = json_array();
        json_int_t next = 0, file = 0;
        int pages = 0;
        for (int guard = 0; guard < 100000; guard++) {
                char params[512];
                snprintf(params, sizeof params,
                         "{\"bucket\":\"photos\",\"key\":\"%s\",\"inputType\":\"MANIFEST\",\"maxItems\":%d,"
                         "\"offset\":%lld,\"file\":%lld}",
                         key, page, (long long) next, (long long) file);
                json_t *r = run_ok(fx, "storage.items", params);
                json_t *items = json_object_get(r, "Items");
                ASSERT_TRUE((int) json_array_size(items) <= page);
                json_array_extend(all, items);
                ASSERT_TRUE(json_integer_value(json_object_get(r, "File")) >= file);
                next = json_integer_value(json_object_get(r, "Next"));
                file = json_integer_value(json_object_get(r, "File"));
                bool more = json_is_true(json_object_get(r, "More"));
                json_decref(r);
                pages++;
                if (!more)
                        break;
        }
        if (ret_pages)
                *ret_pages = pages;
        return all;
}

TEST(storage_items_manifest) {
        Fixture fx;
        fixture_setup(&fx);
        static const char manifest[] =
                "{\"sourceBucket\":\"photos\",\"destinationBucket\":\"arn:aws:s3:::photos\","
                "\"version\":\"2016-11-30\",\"creationTimestamp\":\"1764892800000\",\"fileFormat\":\"CSV\","
                "\"fileSchema\":\"Bucket, Key, Size, LastModifiedDate\",\"files\":["
                "{\"key\":\"inv/data/a.csv.gz\",\"size\":1,\"MD5checksum\":\"x\"},"
                "{\"key\":\"inv/data/empty.csv.gz\"},"
                "{\"key\":\"inv/data/b.csv.gz\"},{\"key\":\"inv/data/c.csv.gz\"}]}";
        size_t cap = 1 << 20, len[3] = {};
        char *text[3];
        int rows[3] = {2500, 1, 3000}, k = 0;

        /* a: 2,500 rows over several 64 KiB parts; b: one row; c: two gzip
         * members, 3,000 rows; empty: no rows */
        for (int i = 0; i < 3; i++) {
                text[i] = malloc(cap);
                for (int j = 0; j < rows[i]; j++, k++)
                        len[i] += (size_t) snprintf(text[i] + len[i], cap - len[i],
                                                    "\"photos\",\"raw/img%05d.jpg\",\"%d\","
                                                    "\"2026-12-05T10:00:%02d.000Z\"\n",
                                                    k, 1000 + k, k % 60);
        }
        put_object(&fx, "inv/manifest.json", manifest, sizeof manifest - 1);
        put_gzip(&fx, "inv/data/a.csv.gz", text[0]);
        put_gzip(&fx, "inv/data/empty.csv.gz", "");
        put_gzip(&fx, "inv/data/b.csv.gz", text[1]);
        char *gz = NULL;
        size_t gzn = 0, half = len[2] / 2;
        while (text[2][half - 1] != '\n')
                half++;
        gzip_append(&gz, &gzn, text[2], half);
        gzip_append(&gz, &gzn, text[2] + half, len[2] - half);
        put_object(&fx, "inv/data/c.csv.gz", gz, gzn);

        for (int page = 1000, p = 0; p < 2; p++, page = 7) {
                int pages = 0;
                json_t *a = manifest_all(&fx, "inv/manifest.json", page, &pages);
                ASSERT_INT_EQ(json_array_size(a), 5501);
                for (int i = 0; i < 5501; i += 250) {
                        json_t *it = json_array_get(a, (size_t) i);
                        char key[64], size[16];
                        snprintf(key, sizeof key, "raw/img%05d.jpg", i);
                        snprintf(size, sizeof size, "%d", 1000 + i);
                        ASSERT_INT_EQ(json_object_size(it), 4);
                        ASSERT_STR_EQ(json_string_value(json_object_get(it, "Bucket")), "photos");
                        ASSERT_STR_EQ(json_string_value(json_object_get(it, "Key")), key);
                        ASSERT_STR_EQ(json_string_value(json_object_get(it, "Size")), size);
                        ASSERT_NOT_NULL(json_object_get(it, "LastModifiedDate"));
                }
                ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(a, 5500), "Key")),
                              "raw/img05500.jpg");
                ASSERT_TRUE(pages >= 5501 / page);
                json_decref(a);
        }

        /* bad input: named, with the file */
        put_object(&fx, "inv/notjson.json", "{\"fileSchema\": ", 15);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/notjson.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "the manifest is not JSON");
        put_object(&fx, "inv/nokey.json", "{\"fileSchema\":\"Bucket, Size\",\"files\":[]}", 40);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/nokey.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "no Key column");
        put_object(&fx, "inv/orc.json", "{\"fileFormat\":\"ORC\",\"fileSchema\":\"Key\",\"files\":[]}", 50);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/orc.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "fileFormat is ORC");
        static const char missing[] =
                "{\"fileSchema\":\"Bucket, Key\",\"files\":[{\"key\":\"inv/data/gone.csv.gz\"}]}";
        put_object(&fx, "inv/missing.json", missing, sizeof missing - 1);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/missing.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.NotFound", "the manifest's data file inv/data/gone.csv.gz");
        static const char corrupt[] =
                "{\"fileSchema\":\"Bucket, Key\",\"files\":[{\"key\":\"inv/data/bad.csv.gz\"}]}";
        put_object(&fx, "inv/corrupt.json", corrupt, sizeof corrupt - 1);
        /* 50 rows in one member: a page reads it to its trailer */
        free(gz);
        gz = NULL;
        gzn = 0;
        gzip_append(&gz, &gzn, text[0], (size_t) (strchr(text[0], '\n') - text[0] + 1) * 50);
        gz[gzn / 2] ^= 0x55; /* a byte of the deflate data */
        put_object(&fx, "inv/data/bad.csv.gz", gz, gzn);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/corrupt.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "the manifest's data file inv/data/bad.csv.gz");
        gz[gzn / 2] ^= 0x55;
        put_object(&fx, "inv/data/bad.csv.gz", gz, gzn - 5); /* cut in the trailer */
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/corrupt.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "ends before its stream does");
        put_object(&fx, "inv/data/bad.csv.gz", text[1], len[1]); /* not compressed */
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/corrupt.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "not gzip data");
        put_gzip(&fx, "inv/data/bad.csv.gz", "\"photos\",\"unclosed\n");
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/corrupt.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.InvalidContent", "quoted field");
        char *big = malloc(MANIFEST_MAX_BYTES + 2);
        memset(big, ' ', MANIFEST_MAX_BYTES + 2);
        put_object(&fx, "inv/big.json", big, MANIFEST_MAX_BYTES + 2);
        free(big);
        run_fail(&fx, "storage.items",
                 "{\"bucket\":\"photos\",\"key\":\"inv/big.json\",\"inputType\":\"MANIFEST\"}",
                 "Storage.TooLarge", "over 1048576");
        free(gz);
        for (int i = 0; i < 3; i++)
                free(text[i]);
        fixture_teardown(&fx);
}
