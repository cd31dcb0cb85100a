/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The message schemas (internal to proto/): one table per message type, each
 * a list of fields with their JSON type, whether they are required, their
 * length limit and where they live in ProtoMessage. proto.c walks these
 * tables to decode and to encode; nothing else knows the field names.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef enum ProtoFieldKind {
        PROTO_FIELD_STRING, /* const char * */
        PROTO_FIELD_INT,    /* int64_t, JSON integer */
        PROTO_FIELD_BOOL,   /* bool */
        PROTO_FIELD_ANY,    /* json_t *, any JSON value (depth-limited) */
} ProtoFieldKind;

typedef struct ProtoField {
        const char *name; /* JSON member name */
        ProtoFieldKind kind;
        bool required;
        size_t max_length;         /* strings: bytes, 0 = no limit besides the payload's */
        bool nonempty;             /* strings: "" is rejected */
        bool default_object;       /* any: optional, {} when absent */
        int64_t min;               /* integers: smallest allowed value */
        const char *const *one_of; /* strings: NULL-terminated allowed values, or NULL */
        size_t offset;             /* of the member in ProtoMessage */
} ProtoField;

typedef struct ProtoSchema {
        ProtoType type;
        const char *name;     /* the "type" value */
        const char *response; /* the "type" of its answer (requests only), or NULL */
        const ProtoField *fields;
        size_t n_fields;
        /* Cross-field checks after the per-field ones; NULL if none. Returns
         * NULL if fine, else a static reason string. */
        const char *(*check)(const ProtoMessage *m);
} ProtoSchema;

/* Indexed by ProtoType. */
extern const ProtoSchema proto_schemas[_PROTO_TYPE_MAX];

extern const char *const proto_execution_statuses[];
