/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * IAM identity policies, the part imgflow-api needs to say who may do what:
 * the policy language's Version, Statement (one or a list), Sid, Effect
 * (Allow, Deny), Action / NotAction and Resource / NotResource, each a
 * string or a list of strings, with the wildcards '*' (any run, possibly
 * empty) and '?' (one character). Evaluated as IAM evaluates one identity
 * policy:
 *
 *   1. a Deny statement that matches -> explicit deny (wins over any Allow);
 *   2. else an Allow statement that matches -> allow;
 *   3. else -> implicit deny (default deny).
 *
 * A statement matches when its action element and its resource element both
 * match. Actions ("states:StartExecution") compare without regard to case;
 * resources are ARNs compared case-sensitively, where IAM's rule for ARN
 * segments (the parts between ':') holds: '*' and '?' match within a
 * segment, but a '*' that is the last character of a segment may go on
 * past its ':' ("arn:aws:states:*" matches every Step Functions ARN,
 * "arn:aws:states:*:*:execution:sm:*" every execution of sm); "*" alone
 * matches every resource, including the "*" of an operation that has no
 * resource (ListStateMachines).
 *
 * Refused when loaded, with a message naming the statement (nothing that
 * would be evaluated otherwise than IAM does): Condition, Principal and
 * NotPrincipal (they do not belong in an identity policy or are not
 * supported), policy variables ("${aws:username}"), an unknown element, a
 * Version other than "2012-10-17" or "2008-10-17", an Effect other than
 * Allow or Deny, a statement without an action or a resource element, or
 * one with both Action and NotAction (Resource and NotResource).
 *
 * Limits: IAM_STATEMENTS_MAX statements, IAM_PATTERNS_MAX patterns per
 * element, IAM_PATTERN_MAX bytes per pattern. Pure: no I/O.
 */

#include <stdbool.h>

#include <jansson.h>

#define IAM_STATEMENTS_MAX 256
#define IAM_PATTERNS_MAX 256
#define IAM_PATTERN_MAX 2048

typedef struct IamPolicy IamPolicy;

/* doc borrowed. 0 and *ret (new), or -EINVAL and *ret_error (new string). */
int iam_policy_parse(const json_t *doc, IamPolicy **ret, char **ret_error);
IamPolicy *iam_policy_free(IamPolicy *p);
static inline void iam_policy_freep(IamPolicy **p) {
        iam_policy_free(*p);
}

typedef enum IamDecision {
        IAM_DENY_IMPLICIT, /* no statement allows it */
        IAM_ALLOW,
        IAM_DENY_EXPLICIT, /* a Deny statement matches */
} IamDecision;

IamDecision iam_policy_evaluate(const IamPolicy *p, const char *action, const char *resource);

/* Wildcard match of a whole string: '*' any run, '?' one character. */
bool iam_match(const char *pattern, const char *s, bool ignore_case);
/* An IAM resource pattern against an ARN (or "*"), as described above. */
bool iam_resource_match(const char *pattern, const char *resource);
