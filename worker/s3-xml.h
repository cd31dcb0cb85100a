/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The XML bodies of S3 responses, parsed as they arrive (expat, a push
 * parser: curl's write callback feeds each chunk, nothing waits for the whole
 * body and no tree is built). One parser reads any of the bodies imgflow
 * needs; the root element says which it was:
 *
 *   <Error>                           Code, Message, RequestId (any failed
 *                                     request; also a 200 answer to
 *                                     CompleteMultipartUpload can carry one)
 *   <ListBucketResult>                ListObjectsV2: IsTruncated,
 *                                     NextContinuationToken, KeyCount and one
 *                                     S3XmlEntry per <Contents>
 *   <InitiateMultipartUploadResult>   UploadId
 *   <CompleteMultipartUploadResult>   ETag
 *
 * The body is untrusted input (a server, or anything between it and us):
 * S3_XML_BODY_MAX bytes in all, S3_XML_DEPTH_MAX levels, S3_XML_TEXT_MAX bytes
 * of text in one element (a key's 1,024 bytes fit), S3_XML_ENTRIES_MAX
 * <Contents> (S3 sends at most 1,000 per page). Past a limit, or on malformed
 * XML, s3_xml_feed() returns an error and the parser takes nothing more.
 * No DTD is loaded and no external entity is fetched (expat never does I/O);
 * expat 2.4+ also bounds entity expansion ("billion laughs").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_XML_BODY_MAX (4u * 1024 * 1024)
#define S3_XML_DEPTH_MAX 16
#define S3_XML_TEXT_MAX 4096
#define S3_XML_ENTRIES_MAX 1000

typedef enum S3XmlKind {
        S3_XML_UNKNOWN,  /* no root element yet, or another one */
        S3_XML_ERROR,    /* <Error> */
        S3_XML_LIST,     /* <ListBucketResult> */
        S3_XML_INITIATE, /* <InitiateMultipartUploadResult> */
        S3_XML_COMPLETE, /* <CompleteMultipartUploadResult> */
} S3XmlKind;

typedef struct S3XmlEntry {
        char *key; /* owned, as the server sent it (no URL decoding) */
        uint64_t size;
        char *etag;          /* owned, quotes removed; may be NULL */
        char *last_modified; /* owned, ISO 8601 as sent; may be NULL */
} S3XmlEntry;

typedef struct S3Xml {
        S3XmlKind kind;
        /* <Error> */
        char *code, *message, *request_id; /* owned; NULL when absent */
        /* <ListBucketResult> */
        bool truncated;
        char *next_token; /* owned; NULL when absent */
        S3XmlEntry *entries;
        size_t n_entries;
        /* <InitiateMultipartUploadResult> */
        char *upload_id;
        /* <CompleteMultipartUploadResult> */
        char *etag;

        /* Parser state (private). */
        void *parser;
        size_t fed, depth;
        int failed;
        char *text;
        size_t text_len;
        bool text_over;
        bool in_contents;
        S3XmlEntry cur;
} S3Xml;

/* Set up a parser in *x (caller-owned storage). Returns 0 or -ENOMEM. */
int s3_xml_init(S3Xml *x);
/* Free everything it holds (results included) and zero it. Accepts a zeroed
 * S3Xml. */
void s3_xml_done(S3Xml *x);

/* Feed the next n bytes of the body (borrowed); final = true with the last
 * (n may be 0). Returns 0, -EBADMSG for malformed XML or a value that is not
 * what the field needs (a size that is not a number), -E2BIG past a limit,
 * -ENOMEM. After an error every later call returns it again. */
int s3_xml_feed(S3Xml *x, const void *data, size_t n, bool final);

/* Parse a whole body at once (for tests and the fuzz target). */
int s3_xml_parse(S3Xml *x, const void *data, size_t n);

/* Take the entries out of x (the caller frees them with
 * s3_xml_entries_free); x keeps none. */
S3XmlEntry *s3_xml_take_entries(S3Xml *x, size_t *ret_n);
void s3_xml_entries_free(S3XmlEntry *e, size_t n);
