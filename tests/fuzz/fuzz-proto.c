/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for proto/: any bytes either decode or are refused with a
 * reason; what decodes re-encodes to something that decodes to the same type,
 * byte for byte the canonical dump of the message's object;
 * and the dead-letter envelope of any bytes always decodes.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoMessage *m = NULL, *again = NULL, *dlq = NULL;
        char *why = NULL, *buf = NULL, *dbuf = NULL;
        size_t len = 0, dlen = 0;
        int r;

        r = proto_decode(data, size, NULL, &m, &why);
        if (r < 0) {
                if (r != -ENOMEM && !why)
                        abort(); /* every rejection has a reason */
        } else {
                if (why)
                        abort();
                r = proto_encode(m, NULL, &buf, &len);
                /* A decoded message re-encodes, unless the re-encoding grew
                 * past the payload limit (escaping may differ). */
                if (r < 0 && r != -E2BIG)
                        abort();
                if (r == 0) {
                        json_t *o = NULL;
                        char *dumped;

                        if (proto_decode(buf, len, NULL, &again, NULL) < 0)
                                abort();
                        if (again->type != m->type)
                                abort();
                        /* The text written directly is the object's canonical
                         * dump (lib/json-writer.h: reals in their shortest
                         * round-trip form, unlike json_dumps()'s 17 digits). */
                        if (proto_encode_json(m, NULL, &o) < 0)
                                abort();
                        dumped = json_writer_dumpn(o, NULL);
                        if (!dumped || strcmp(dumped, buf) != 0)
                                abort();
                        free(dumped);
                        json_decref(o);
                }
        }

        r = proto_encode_dead_letter(why, "imgflow.events", 0, 0, data, size > 16 ? 16 : size, data, size,
                                     &dbuf, &dlen);
        if (r < 0 && r != -ENOMEM)
                abort();
        if (r == 0) {
                if (proto_decode(dbuf, dlen, NULL, &dlq, NULL) < 0 || dlq->type != PROTO_DEAD_LETTER)
                        abort();
        }

        proto_message_free(dlq);
        proto_message_free(again);
        proto_message_free(m);
        free(dbuf);
        free(buf);
        free(why);
        return 0;
}
