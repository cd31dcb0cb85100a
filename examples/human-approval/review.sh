#!/bin/sh
# The reviewer's side of human-approval.asl.json, in a few lines of shell.
#
#   review.sh list                  review requests on <prefix>tasks.reviewers
#   review.sh approve TOKEN [NOTE]  imgflow send-task-success
#   review.sh reject TOKEN [REASON] imgflow send-task-failure --error Review.Rejected
#
# Environment: KAFKA_BOOTSTRAP (127.0.0.1:9092), PREFIX (imgflow.), IMGFLOW
# (imgflow), and whatever imgflow reads (--config, IMGFLOW_REDIS_ADDRESS ...).
# `list` shows every request still in the topic; approving one whose task
# is closed answers TaskDoesNotExist (or TaskTimedOut), exit 1.
set -eu
BS=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
PREFIX=${PREFIX:-imgflow.}
IMGFLOW=${IMGFLOW:-imgflow}

case "${1:-}" in
list)
        kcat -C -b "$BS" -t "${PREFIX}tasks.reviewers" -o beginning -e -q -f '%s\n' |
                python3 -c '
import json, sys
for line in sys.stdin:
    try:
        t = json.loads(line)
    except ValueError:
        continue
    i = t.get("input", {})
    img = i.get("image", {})
    print("%s\t%s\t%s/%s\t%s: %s" % (t.get("taskToken", "?"), t.get("executionId", "?"),
          img.get("bucket", "?"), img.get("key", "?"), i.get("flag", ""), i.get("reason", "")))
'
        ;;
approve)
        [ $# -ge 2 ] || { echo "usage: $0 approve TOKEN [NOTE]" >&2; exit 2; }
        out=$(python3 -c 'import json, sys; print(json.dumps({"approved": True, "note": sys.argv[1]}))' "${3:-}")
        exec "$IMGFLOW" send-task-success --task-token "$2" --task-output "$out"
        ;;
reject)
        [ $# -ge 2 ] || { echo "usage: $0 reject TOKEN [REASON]" >&2; exit 2; }
        exec "$IMGFLOW" send-task-failure --task-token "$2" --error Review.Rejected \
                --cause "${3:-rejected by the reviewer}"
        ;;
*)
        sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
        exit 2
        ;;
esac
