/* SPDX-License-Identifier: MIT */

/* imgflow-watch's events and journal lines (watch-event.h). */

#include "watch-event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "alloc-util.h"
#include "macro.h"
#include "triggers.h"

char *watch_key_encode(const char *key) {
        size_t n = strlen(key), o = 0;
        char *out = xmalloc(3 * n + 1);

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) key[i];
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || c == '/')
                        out[o++] = (char) c;
                else if (c == ' ')
                        out[o++] = '+';
                else
                        o += (size_t) sprintf(out + o, "%%%02X", c);
        }
        out[o] = '\0';
        return out;
}

char *watch_event_json(const char *bucket, const char *key, uint64_t size, const char *etag,
                       uint64_t mtime_ns, int64_t time_ms) {
        _cleanup_free_ char *ekey = watch_key_encode(key), *arn = xasprintf("arn:aws:s3:::%s", bucket);
        char when[64], seq[40];
        time_t t = (time_t) (time_ms / 1000);
        struct tm tm;
        json_t *ev;
        char *s;

        gmtime_r(&t, &tm);
        snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (time_ms % 1000));
        /* Orders the events of one key, as S3's sequencer does. */
        snprintf(seq, sizeof seq, "%016" PRIX64 "%08" PRIX64, mtime_ns, size & 0xffffffffu);
        ev = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:I, s:s, s:s}}}]}",
                       "Records", "eventVersion", "2.1", "eventSource", "imgflow:watch", "awsRegion", "",
                       "eventTime", when, "eventName", "ObjectCreated:Put", "s3", "s3SchemaVersion", "1.0",
                       "configurationId", "imgflow-watch", "bucket", "name", bucket, "arn", arn, "object",
                       "key", ekey, "size", (json_int_t) size, "eTag", etag, "sequencer", seq);
        if (!ev)
                abort();
        s = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (!s)
                abort();
        return s;
}

char *watch_journal_line(const char *key, uint64_t size, uint64_t mtime_ns, const char *etag) {
        _cleanup_free_ char *ekey = watch_key_encode(key);
        return xasprintf("%" PRIu64 " %" PRIu64 " %s %s\n", size, mtime_ns, etag, ekey);
}

int watch_journal_parse(const char *line, char **ret_key, uint64_t *ret_size, uint64_t *ret_mtime_ns,
                        char **ret_etag) {
        char etag[130], ekey[3 * 1024 + 1];
        uint64_t size, mtime;
        size_t klen;
        int n = 0;

        if (sscanf(line, "%" SCNu64 " %" SCNu64 " %129s %3072s%n", &size, &mtime, etag, ekey, &n) != 4 ||
            line[n] != '\0')
                return -EINVAL;
        if (trigger_key_decode(ekey, ret_key, &klen) < 0)
                return -EINVAL;
        *ret_size = size;
        *ret_mtime_ns = mtime;
        *ret_etag = xstrdup(etag);
        return 0;
}

bool watch_key_ignored(const char *key, char *const *ignore_prefixes) {
        const char *base = strrchr(key, '/');
        const char *t;

        base = base ? base + 1 : key;
        t = strstr(base, ".tmp-");
        if (base[0] == '.' && t && strlen(t) == 11)
                return true;
        for (char *const *p = ignore_prefixes; p && *p; p++)
                if (strncmp(key, *p, strlen(*p)) == 0)
                        return true;
        return false;
}
