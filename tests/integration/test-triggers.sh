#!/bin/bash
# SPDX-License-Identifier: MIT
# Uploads start executions (docs/configuration.md, "[triggers]"), end to end
# on the local stack (deploy/local-stack.sh: redis-server, Apache Kafka, a
# coordinator, a worker), in one of two modes:
#
#   dir  a directory bucket watched by imgflow-watch (STACK_WATCH=1): 200
#        files copied in (cp, and mv into place); imgflow-watch is stopped
#        after the first 80, 60 more land while it is down, it starts again;
#        the coordinator is SIGKILLed and started again after 140
#   s3   an S3 bucket of versitygw (STACK_STORAGE=s3), which publishes the
#        notifications itself: 200 PutObjects signed with SigV4; the
#        coordinator is SIGKILLed and started again after 100
#
# Either way: exactly 200 executions of the triggered state machine, each
# with the name derived from bucket, key and eTag (MD5 of the content) and
# the seed's input {bucket, key, size, eTag}; files under processed/ and a
# .png (no rule) start nothing, the .png is counted as unmatched. A second
# upload of one key with other content starts one more execution. Bounded:
# 420 s at most.
#
#   test-triggers.sh MODE BUILD_DIR SOURCE_ROOT
set -u
MODE=$1 BUILD=$2 SRC=$3
. "$SRC/tests/helpers/common.sh"
. "$SRC/deploy/s3/s3-env.sh"
. "$SRC/deploy/kafka/kafka-env.sh"

for p in redis-server kcat python3 curl; do
        command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
kafka_libs_ok || { echo "SKIP: Apache Kafka not installed (deploy/setup-debian.sh)"; exit 77; }
if [ "$MODE" = s3 ] && ! versitygw_ok; then
        echo "SKIP: versitygw not built (deploy/setup-debian.sh, with Go 1.21+)"
        exit 77
fi

TMP=$(mktemp -d /tmp/imgflow-test-triggers-$MODE.XXXXXX)
export IMGFLOW_BUILD=$BUILD IMGFLOW_STACK_DIR=$TMP/stack
STACK=$SRC/deploy/local-stack.sh
cleanup() {
        "$STACK" stop >/dev/null 2>&1
        [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
DEADLINE=$(($(date +%s) + 420))

cat >"$TMP/rules.conf" <<'EOF'
[triggers]
incoming = bucket=photos prefix=in/ suffix=.jpg state_machine=echo
[coordinator]
metrics_listen = 127.0.0.1:0
EOF
cat >"$TMP/echo.asl.json" <<'EOF'
{"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": true}}}
EOF

export STACK_WORKERS=1 STACK_PARTITIONS=4 STACK_RESOURCES=$TMP/rules.conf STACK_FRESH=1
if [ "$MODE" = s3 ]; then
        export STACK_STORAGE=s3
else
        export STACK_WATCH=1
fi
"$STACK" start >"$TMP/start.log" 2>&1 || { tail -30 "$TMP/start.log"; exit 1; }
eval "$("$STACK" env)"
"$STACK" register echo "$TMP/echo.asl.json" || exit 1
CLI=$BUILD/cli/imgflow

# 200 small distinct files (the content differs, so does the eTag).
mkdir -p "$TMP/files"
for i in $(seq -w 1 200); do printf 'photo %s %s\n' "$i" "$RANDOM" >"$TMP/files/p$i.jpg"; done

upload() { # FILE KEY
        if [ "$MODE" = s3 ]; then
                s3_put "$1" photos "$2"
        else
                local dst=$IMGFLOW_STACK_DIR/buckets/photos/$2
                mkdir -p "$(dirname "$dst")"
                # Half copied in place, half renamed into place (as rsync does).
                case "$2" in
                *[02468].jpg) cp "$1" "$dst" ;;
                *) cp "$1" "$(dirname "$dst")/.incoming.$$" && mv "$(dirname "$dst")/.incoming.$$" "$dst" ;;
                esac
        fi
}

COORD_LOG=$IMGFLOW_STACK_DIR/logs/coordinator-1.log
# within SECONDS COMMAND...: COMMAND every 0.5 s until it succeeds, for at
# most SECONDS of wall-clock time (a slow command on a busy machine does not
# stretch it).
within() {
        local end=$(($(date +%s) + $1))
        shift
        until "$@"; do
                [ "$(date +%s)" -lt "$end" ] || return 1
                sleep 0.5
        done
}
starts_logged() { grep -c "Trigger incoming: " "$COORD_LOG" 2>/dev/null; }
n=0
for f in "$TMP"/files/*.jpg; do
        n=$((n + 1))
        upload "$f" "in/$(basename "$f")" || fail "upload of $f"
        if [ "$MODE" = dir ] && [ $n = 80 ]; then
                "$STACK" kill watch TERM || fail "stopping imgflow-watch"
        fi
        if [ "$MODE" = dir ] && [ $n = 140 ]; then
                "$STACK" restart watch >/dev/null || fail "starting imgflow-watch again"
        fi
        if { [ "$MODE" = dir ] && [ $n = 170 ]; } || { [ "$MODE" = s3 ] && [ $n = 100 ]; }; then
                # Mid-stream: once it has started some executions, with the
                # rest of the uploads still to come.
                within 120 grep -q 'Trigger incoming: ' "$COORD_LOG" ||
                        fail "no execution started before the coordinator's SIGKILL"
                "$STACK" kill coordinator-1 KILL || fail "killing the coordinator"
                KILLED_AT_LINE=$(wc -l <"$COORD_LOG")
                "$STACK" restart coordinator-1 >/dev/null || fail "starting the coordinator again"
        fi
done
# Not for any rule: the workers' outputs and another suffix.
printf 'out' >"$TMP/out.jpg"
upload "$TMP/out.jpg" processed/x/in/out.jpg
upload "$TMP/out.jpg" in/unmatched.png
# A file name that is not UTF-8 (no S3 key can be): imgflow-watch does not
# publish it (and the coordinator would refuse it).
[ "$MODE" = dir ] && printf 'x' >"$IMGFLOW_STACK_DIR/buckets/photos/in/bad-"$'\xff'".jpg"

# The expected names, computed as the coordinator does.
python3 - "$TMP/files" >"$TMP/expected.txt" <<'PY'
import hashlib, os, re, sys
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    key = "in/" + f
    etag = hashlib.md5(open(os.path.join(d, f), "rb").read()).hexdigest()
    h = hashlib.sha256(b"photos\0" + key.encode() + b"\0" + etag.encode() + b"\0").hexdigest()[:20]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", f)[:40]
    print("%s-%s" % (stem, h))
PY

list() {
        "$CLI" list-executions --config "$IMGFLOW_CONFIG" --state-machine echo --max-results 1000 2>/dev/null |
                python3 -c 'import json, sys; [print(e["name"], e["status"]) for e in json.load(sys.stdin)["executions"]]'
}
while :; do
        list >"$TMP/names.txt"
        got=$(wc -l <"$TMP/names.txt")
        [ "$got" -ge 200 ] && break
        [ "$(date +%s)" -lt "$DEADLINE" ] || break
        sleep 1
done
sleep 3 # anything more (a duplicate) has had time to come
list >"$TMP/names.txt"
got=$(wc -l <"$TMP/names.txt")
[ "$got" = 200 ] && ok "$MODE: 200 uploads, 200 executions" || fail "$MODE: $got executions for 200 uploads"
# The SIGKILLed coordinator started some, the restarted one the rest (and
# started again those whose notifications came again because their offsets
# were not committed yet: the derived names made those no-ops).
before=$(head -n "$KILLED_AT_LINE" "$COORD_LOG" | grep -c "Trigger incoming: ")
after=$(tail -n +$((KILLED_AT_LINE + 1)) "$COORD_LOG" | grep -c "Trigger incoming: ")
[ "$before" -gt 0 ] && [ "$after" -gt 0 ] && [ $((before + after)) -ge 200 ] &&
        ok "$MODE: starts by the coordinator before its SIGKILL: $before, after its restart: $after (over 200: notifications delivered again)" ||
        fail "$MODE: starts before the SIGKILL $before, after the restart $after"
cut -d' ' -f1 "$TMP/names.txt" | sort >"$TMP/got.txt"
if diff -q "$TMP/expected.txt" "$TMP/got.txt" >/dev/null; then
        ok "$MODE: each named from bucket, key and eTag, each once"
else
        fail "$MODE: names differ from the expected ones"
        diff "$TMP/expected.txt" "$TMP/got.txt" | head -10
fi

# Each file was published once: imgflow-watch's restart repeated none of
# the files it had published (its journal) and lost none of those that came
# while it was down (its scan); versitygw publishes once per PutObject.
kcat -C -b "$BOOTSTRAP" -t imgflow.s3-events -e -q -f '%s\n' 2>/dev/null >"$TMP/events.txt"
published=$(python3 - "$TMP/events.txt" <<'PY'
import collections, json, re, sys, urllib.parse
n = collections.Counter()
for line in open(sys.argv[1]):
    try:
        recs = json.loads(line).get("Records", [])
    except ValueError:
        continue
    for r in recs:
        k = urllib.parse.unquote_plus(r["s3"]["object"]["key"])
        if re.fullmatch(r"in/p\d+\.jpg", k):
            n[k] += 1
print(len(n), sum(n.values()))
PY
)
[ "$published" = "200 200" ] && ok "$MODE: 200 notifications, one per file" ||
        fail "$MODE: notifications (distinct files, total): $published"
if [ "$MODE" = dir ]; then
        grep -q '%FF' "$TMP/events.txt" && fail "dir: the name that is not UTF-8 was published" ||
                ok "dir: a name that is not UTF-8 was not published"
fi

# The seed's input.
first=$(head -1 "$TMP/expected.txt")
"$CLI" describe-execution --config "$IMGFLOW_CONFIG" --execution-arn "echo:$first" >"$TMP/describe.json" 2>&1
python3 - "$TMP/describe.json" "$TMP/files/p001.jpg" <<'PY' && ok "$MODE: input {bucket, key, size, eTag}" || fail "$MODE: input"
import hashlib, json, os, sys
d = json.load(open(sys.argv[1]))
i = json.loads(d["input"])
want = {"bucket": "photos", "key": "in/p001.jpg", "size": os.path.getsize(sys.argv[2]),
        "eTag": hashlib.md5(open(sys.argv[2], "rb").read()).hexdigest()}
sys.exit(0 if i == want else print(i, want) or 1)
PY

# The .png was counted as unmatched; processed/ was never published (dir) or
# matched no rule (s3, counted as unmatched too): the restarted coordinator's
# imgflow_coordinator_trigger_unmatched_total, an event that is no error.
grep -q "Trigger .*in/unmatched.png" "$IMGFLOW_STACK_DIR/logs/coordinator-1.log" &&
        fail "$MODE: the .png started an execution" || ok "$MODE: the .png started nothing"
port=$(sed -n 's/.*[Mm]etrics on .* (port \([0-9]*\)).*/\1/p' "$COORD_LOG" | tail -1)
# (dir: at least the .png; a file copied in under a temporary name and
# renamed may have been published under that name too, if imgflow-watch saw
# it closed before the rename: one more, unmatched)
unmatched=$([ "$MODE" = s3 ] && echo "==2" || echo ">=1")
if within 30 python3 "$SRC/tests/integration/prometheus-text.py" "http://127.0.0.1:$port/metrics" \
        "imgflow_coordinator_trigger_unmatched_total$unmatched" >"$TMP/metrics.check" 2>&1; then
        ok "$MODE: unmatched objects counted (imgflow_coordinator_trigger_unmatched_total$unmatched)"
else
        fail "$MODE: unmatched count (port '$port'): $(tail -3 "$TMP/metrics.check")"
fi

# A new upload of the same key: one more execution.
printf 'a new version\n' >"$TMP/v2.jpg"
upload "$TMP/v2.jpg" in/p001.jpg
within 60 sh -c "[ \$(\"$CLI\" list-executions --config \"$IMGFLOW_CONFIG\" --state-machine echo --max-results 1000 | grep -c '\"name\"') -ge 201 ]" &&
        ok "$MODE: a new upload of a key starts a new execution" || fail "$MODE: no execution for the new upload"

echo "$((FAILS == 0 ? 1 : 0)) passed, $((FAILS > 0 ? 1 : 0)) failed"
[ $FAILS = 0 ]
