/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the JSONata lexer and parser: the whole input is an
 * expression. jsonata_compile() must succeed or fail with an S-code error
 * and a message, never crash, leak or hang; a compiled expression's
 * references (jsonata_expr_references()) are listed, and it is freed.
 */

#include <stdlib.h>
#include <string.h>

#include "jsonata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        JsonataExpr *e = NULL;
        JsonataError err = {.position = -1};
        int r = jsonata_compile((const char *) data, size, &e, &err);

        if (r == 0) {
                JsonataReferences refs = {};

                if (!e || err.message || jsonata_expr_references(e, &refs) < 0)
                        abort();
                for (size_t i = 0; i < refs.n_variables; i++)
                        if (!refs.variables[i].variable)
                                abort();
                jsonata_references_clear(&refs);
        } else if (err.code[0] != 'S' || !err.message || e)
                abort();
        jsonata_error_clear(&err);
        jsonata_expr_free(e);
        return 0;
}
