/* SPDX-License-Identifier: MIT */
/*
 * The operation table (STYLE 11: one entry per operation, sorted by name
 * for a binary search) and what the operations share: ARNs of this region
 * and account, pages, JSON text.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json-writer.h"

/* Each ops-*.c defines its entries. */
extern const ApiOp api_op_create_state_machine, api_op_delete_state_machine, api_op_describe_state_machine,
        api_op_describe_state_machine_for_execution, api_op_list_state_machines, api_op_update_state_machine,
        api_op_validate_state_machine_definition;
extern const ApiOp api_op_describe_execution, api_op_get_execution_history, api_op_list_executions,
        api_op_redrive_execution, api_op_start_execution, api_op_start_sync_execution, api_op_stop_execution;
extern const ApiOp api_op_send_task_failure, api_op_send_task_heartbeat, api_op_send_task_success;
extern const ApiOp api_op_describe_map_run, api_op_list_map_runs, api_op_update_map_run;
extern const ApiOp api_op_create_activity, api_op_delete_activity, api_op_describe_activity,
        api_op_get_activity_task, api_op_list_activities;

/* Sorted by name (strcmp). */
/* clang-format off */
static const ApiOp *const ops[] = {
        &api_op_create_activity,
        &api_op_create_state_machine,
        &api_op_delete_activity,
        &api_op_delete_state_machine,
        &api_op_describe_activity,
        &api_op_describe_execution,
        &api_op_describe_map_run,
        &api_op_describe_state_machine,
        &api_op_describe_state_machine_for_execution,
        &api_op_get_activity_task,
        &api_op_get_execution_history,
        &api_op_list_activities,
        &api_op_list_executions,
        &api_op_list_map_runs,
        &api_op_list_state_machines,
        &api_op_redrive_execution,
        &api_op_send_task_failure,
        &api_op_send_task_heartbeat,
        &api_op_send_task_success,
        &api_op_start_execution,
        &api_op_start_sync_execution,
        &api_op_stop_execution,
        &api_op_update_map_run,
        &api_op_update_state_machine,
        &api_op_validate_state_machine_definition,
};
/* clang-format on */

static int cmp_op(const void *key, const void *elem) {
        return strcmp(key, (*(const ApiOp *const *) elem)->name);
}

const ApiOp *api_op_find(const char *name) {
        const ApiOp *const *op;

        if (!name)
                return NULL;
        op = bsearch(name, ops, ELEMENTSOF(ops), sizeof(ops[0]), cmp_op);
        return op ? *op : NULL;
}

int api_parse_sm_arn(ApiCall *c, const char *arn, char **ret_name, unsigned *ret_version, AwsError *e) {
        _cleanup_free_ char *rest = NULL;
        int k;

        k = aws_arn_parse(arn, api_region(c->m), api_account(c->m), "stateMachine", &rest, e);
        if (k < 0)
                return k;
        if (store_sm_ref_parse(rest, ret_name, ret_version) < 0)
                return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.2048s'", arn);
        return 0;
}

int api_parse_exec_arn(ApiCall *c, const char *arn, char **ret_exec_id, AwsError *e) {
        _cleanup_free_ char *rest = NULL, *sm = NULL;
        const char *colon;
        int k;

        k = aws_arn_parse(arn, api_region(c->m), api_account(c->m), "execution", &rest, e);
        if (k < 0) {
                /* An Express execution's ARN: no operation on executions
                 * takes it (Step Functions' error and text). */
                _cleanup_free_ char *express = NULL;
                AwsError ignored = {};

                if (aws_arn_parse(arn, api_region(c->m), api_account(c->m), "express", &express, &ignored) >=
                    0)
                        k = aws_error_set(e, "InvalidArn", "%s", STORE_EXPRESS_ARN_REFUSED);
                aws_error_done(&ignored);
                return k;
        }
        colon = strchr(rest, ':');
        if (colon)
                sm = xstrndup(rest, colon - rest);
        /* a Map Run's child: "<machine>/<label>:<name>", its execution id "<machine>:<name>" */
        if (sm && strchr(sm, '/'))
                *strchr(sm, '/') = '\0';
        if (!colon || !(*ret_exec_id = store_exec_id(sm, colon + 1)))
                return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.2048s'", arn);
        return 0;
}

int api_parse_activity_arn(ApiCall *c, const char *arn, char **ret_name, AwsError *e) {
        _cleanup_free_ char *rest = NULL;
        int k;

        k = aws_arn_parse(arn, api_region(c->m), api_account(c->m), "activity", &rest, e);
        if (k < 0)
                return k;
        if (!store_name_is_valid(rest))
                return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.2048s'", arn);
        *ret_name = TAKE_PTR(rest);
        return 0;
}

int api_get_page(ApiCall *c, const char *kind, size_t *ret_limit, char **ret_cursor, AwsError *e) {
        const char *token;
        int64_t max;
        int k;

        if ((k = aws_get_int(c->input, "maxResults", 0, API_PAGE_SIZE_MAX, 0, &max, e)) < 0 ||
            (k = aws_get_string(c->input, "nextToken", false, 1, AWS_PAGE_TOKEN_MAX, &token, e)) < 0)
                return k;
        *ret_limit = max > 0 ? (size_t) max : API_PAGE_SIZE_DEFAULT;
        *ret_cursor = NULL;
        if (token)
                return aws_page_token_decode(token, kind, ret_cursor, e);
        return 0;
}

void api_set_next_token(json_t *out, const char *kind, const char *cursor) {
        _cleanup_free_ char *token = aws_page_token_encode(kind, cursor);

        json_object_set_new(out, "nextToken", json_string(token));
}

json_t *api_json_text(const json_t *v) {
        _cleanup_free_ char *s = json_writer_dumps(v);

        return json_string(s ? s : "null");
}
