/* SPDX-License-Identifier: MIT */

/*
 * S3 response bodies with expat (the boundary file for expat).
 *
 * Why expat and not libxml2 (both are Debian packages): imgflow reads a
 * handful of flat documents and wants them as they stream in. expat is a
 * push parser with a small, stable API (XML_Parse per chunk, two element
 * callbacks and one text callback), does no I/O of its own (no DTD or
 * external entity is ever fetched) and since 2.4 caps entity amplification;
 * libxml2 is ten times the size, its SAX2 interface drags in the tree API's
 * options to turn off (XML_PARSE_NONET, XML_PARSE_NOENT) and its history of
 * parser bugs is longer. The limits of s3-xml.h are ours, on top.
 *
 * Elements are matched by their local name at a known depth: the root at
 * depth 1, its fields at 2, the fields of <Contents> at 3. Namespaces are
 * not processed (S3 puts every element in one default namespace); an
 * element we do not know is skipped with its text.
 */

#include "s3-xml.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse.h"

static void fail(S3Xml *x, int r) {
        if (!x->failed)
                x->failed = r;
        XML_StopParser(x->parser, /* resumable= */ XML_FALSE);
}

static char *text_dup(S3Xml *x) {
        char *s = strndup(x->text ? x->text : "", x->text_len);
        if (!s)
                fail(x, -ENOMEM);
        return s;
}

static void set_str(S3Xml *x, char **field) {
        free(*field);
        *field = text_dup(x);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
        S3Xml *x = ud;

        x->depth++;
        if (x->depth > S3_XML_DEPTH_MAX)
                return fail(x, -E2BIG);
        x->text_len = 0;
        x->text_over = false;

        if (x->depth == 1) {
                if (streq(name, "Error"))
                        x->kind = S3_XML_ERROR;
                else if (streq(name, "ListBucketResult"))
                        x->kind = S3_XML_LIST;
                else if (streq(name, "InitiateMultipartUploadResult"))
                        x->kind = S3_XML_INITIATE;
                else if (streq(name, "CompleteMultipartUploadResult"))
                        x->kind = S3_XML_COMPLETE;
                else
                        x->kind = S3_XML_UNKNOWN;
        } else if (x->depth == 2 && x->kind == S3_XML_LIST && streq(name, "Contents")) {
                if (x->n_entries >= S3_XML_ENTRIES_MAX)
                        return fail(x, -E2BIG);
                x->in_contents = true;
                x->cur = (S3XmlEntry){};
        }
}

static void on_text(void *ud, const XML_Char *s, int len) {
        S3Xml *x = ud;

        if (len <= 0 || x->failed)
                return;
        if (x->text_len + (size_t) len > S3_XML_TEXT_MAX) {
                x->text_over = true;
                return;
        }
        if (!x->text) {
                x->text = malloc(S3_XML_TEXT_MAX);
                if (!x->text)
                        return fail(x, -ENOMEM);
        }
        memcpy(x->text + x->text_len, s, (size_t) len);
        x->text_len += (size_t) len;
}

static void entry_field(S3Xml *x, const char *name) {
        if (streq(name, "Key"))
                set_str(x, &x->cur.key);
        else if (streq(name, "Size")) {
                _cleanup_free_ char *t = text_dup(x);
                int64_t v;
                if (!t)
                        return;
                if (parse_int(t, &v) < 0 || v < 0)
                        return fail(x, -EBADMSG);
                x->cur.size = (uint64_t) v;
        } else if (streq(name, "ETag")) {
                set_str(x, &x->cur.etag);
                if (x->cur.etag) {
                        size_t n = strlen(x->cur.etag);
                        if (n >= 2 && x->cur.etag[0] == '"' && x->cur.etag[n - 1] == '"') {
                                memmove(x->cur.etag, x->cur.etag + 1, n - 2);
                                x->cur.etag[n - 2] = '\0';
                        }
                }
        } else if (streq(name, "LastModified"))
                set_str(x, &x->cur.last_modified);
}

static void on_end(void *ud, const XML_Char *name) {
        S3Xml *x = ud;
        size_t depth = x->depth--;

        if (x->failed)
                return;
        /* Every field we keep is text of at most S3_XML_TEXT_MAX bytes; a
         * longer one is refused rather than cut. Unknown elements may be
         * longer (their text is dropped). */
        if (x->in_contents && depth == 3) {
                if (x->text_over)
                        return fail(x, -E2BIG);
                return entry_field(x, name);
        }
        if (x->in_contents && depth == 2) {
                S3XmlEntry *n;

                x->in_contents = false;
                if (!x->cur.key)
                        return fail(x, -EBADMSG);
                n = realloc(x->entries, (x->n_entries + 1) * sizeof(*n));
                if (!n)
                        return fail(x, -ENOMEM);
                x->entries = n;
                x->entries[x->n_entries++] = x->cur;
                x->cur = (S3XmlEntry){};
                return;
        }
        if (depth != 2)
                return;

        bool known = true;
        switch (x->kind) {
        case S3_XML_ERROR:
                if (streq(name, "Code"))
                        set_str(x, &x->code);
                else if (streq(name, "Message"))
                        set_str(x, &x->message);
                else if (streq(name, "RequestId"))
                        set_str(x, &x->request_id);
                else
                        known = false;
                break;
        case S3_XML_LIST:
                if (streq(name, "IsTruncated")) {
                        if (x->text_len == 4 && memcmp(x->text, "true", 4) == 0)
                                x->truncated = true;
                        else if (x->text_len == 5 && memcmp(x->text, "false", 5) == 0)
                                x->truncated = false;
                        else
                                return fail(x, -EBADMSG);
                } else if (streq(name, "NextContinuationToken"))
                        set_str(x, &x->next_token);
                else
                        known = false;
                break;
        case S3_XML_INITIATE:
                if (streq(name, "UploadId"))
                        set_str(x, &x->upload_id);
                else
                        known = false;
                break;
        case S3_XML_COMPLETE:
                if (streq(name, "ETag"))
                        set_str(x, &x->etag);
                else
                        known = false;
                break;
        default:
                known = false;
        }
        if (known && x->text_over)
                fail(x, -E2BIG);
}

int s3_xml_init(S3Xml *x) {
        *x = (S3Xml){};
        /* encoding= NULL: what the document declares, UTF-8 by default. */
        x->parser = XML_ParserCreate(NULL);
        if (!x->parser)
                return -ENOMEM;
        XML_SetUserData(x->parser, x);
        XML_SetElementHandler(x->parser, on_start, on_end);
        XML_SetCharacterDataHandler(x->parser, on_text);
        /* No parameter entities, no external DTD subset. */
        XML_SetParamEntityParsing(x->parser, XML_PARAM_ENTITY_PARSING_NEVER);
        return 0;
}

static void entry_free(S3XmlEntry *e) {
        free(e->key);
        free(e->etag);
        free(e->last_modified);
}

void s3_xml_entries_free(S3XmlEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                entry_free(&e[i]);
        free(e);
}

void s3_xml_done(S3Xml *x) {
        if (x->parser)
                XML_ParserFree(x->parser);
        free(x->code);
        free(x->message);
        free(x->request_id);
        free(x->next_token);
        free(x->upload_id);
        free(x->etag);
        free(x->text);
        s3_xml_entries_free(x->entries, x->n_entries);
        entry_free(&x->cur);
        *x = (S3Xml){};
}

int s3_xml_feed(S3Xml *x, const void *data, size_t n, bool final) {
        if (x->failed)
                return x->failed;
        if (!x->parser)
                return -EINVAL;
        if (n > S3_XML_BODY_MAX - x->fed) {
                x->failed = -E2BIG;
                return x->failed;
        }
        x->fed += n;
        if (XML_Parse(x->parser, data, (int) n, final ? XML_TRUE : XML_FALSE) != XML_STATUS_OK) {
                if (!x->failed)
                        x->failed = XML_GetErrorCode(x->parser) == XML_ERROR_NO_MEMORY ? -ENOMEM : -EBADMSG;
                return x->failed;
        }
        return 0;
}

int s3_xml_parse(S3Xml *x, const void *data, size_t n) {
        return s3_xml_feed(x, data, n, /* final= */ true);
}

S3XmlEntry *s3_xml_take_entries(S3Xml *x, size_t *ret_n) {
        S3XmlEntry *e = x->entries;

        *ret_n = x->n_entries;
        x->entries = NULL;
        x->n_entries = 0;
        return e;
}
