#!/bin/bash
# imgflow-lambda against Kafka on loopback (the mock cluster with
# STACK_KAFKA=mock): Tasks on imgflow.tasks.lambda run Python and Node.js
# handlers (tests/integration/lambda/) in runtime processes and are answered
# on imgflow.events: results with Lambda's context attributes and the
# function's environment; a raised exception as its type and Lambda's JSON
# error document; a Timeout as Sandbox.Timedout (process killed, the next
# task runs); a process killed during a task as Runtime.ExitError (restarted,
# the next task runs); MemorySize as Runtime.OutOfMemory with Lambda's error
# document, whichever limit saw it (Python's MemoryError, a resident size
# over MemorySize in Python or Node.js, V8's heap limit), the runtime started
# again; a MemoryError the handler catches is the handler's; a missing module
# as Runtime.ImportModuleError; a built-in operation as
# Worker.UnknownOperation; the handlers' output in the daemon's log.
#   test-lambda.sh SOURCE_ROOT BUILD_ROOT
set -u
SRC=$1
BUILD=$2
LAMBDA=${TEST_LAMBDA:-$BUILD/worker/imgflow-lambda} # TEST_LAMBDA: another build of it (ASan)
MOCK=$BUILD/deploy/mock-kafka
. "$SRC/tests/helpers/stack.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "$PY missing: skipped"; exit 77; }
command -v node >/dev/null || { echo "node missing: skipped"; exit 77; }
stack_init lambda
T=$TMP
D=$SRC/tests/integration/lambda
fail() { echo "FAIL: $*"; echo "--- imgflow-lambda"; tail -n 80 "$T/lambda.log"; exit 1; }

start_infra --partitions 2 --topics imgflow.tasks.lambda:2

cat >"$T/functions.json" <<JSON
{"functions": [
 {"name": "PyEcho", "runtime": "python3.11", "handler": "app.echo", "codeUri": "$D/py",
  "memorySize": 256, "timeout": 20, "concurrency": 2, "environment": {"GREETING": "hello"}},
 {"name": "PyFail", "runtime": "python3.11", "handler": "app.fail", "codeUri": "$D/py", "timeout": 20},
 {"name": "PySlow", "runtime": "python3.11", "handler": "app.slow", "codeUri": "$D/py", "timeout": 2},
 {"name": "PyCrash", "runtime": "python3.11", "handler": "app.crash", "codeUri": "$D/py", "timeout": 20},
 {"name": "PyHog", "runtime": "python3.11", "handler": "app.hog", "codeUri": "$D/py", "timeout": 20},
 {"name": "PyMissing", "runtime": "python3.11", "handler": "nomodule.handler", "codeUri": "$D/py",
  "timeout": 20},
 {"name": "NodeAsync", "runtime": "nodejs20.x", "handler": "index.asyncHandler", "codeUri": "$D/node",
  "timeout": 20, "environment": {"GREETING": "hi"}},
 {"name": "NodeCallback", "runtime": "nodejs20.x", "handler": "index.callbackHandler", "codeUri": "$D/node",
  "timeout": 20},
 {"name": "NodeFail", "runtime": "nodejs20.x", "handler": "index.failHandler", "codeUri": "$D/node",
  "timeout": 20},
 {"name": "PyHold", "runtime": "python3.11", "handler": "app.hold", "codeUri": "$D/py", "timeout": 30},
 {"name": "PyCatch", "runtime": "python3.11", "handler": "app.catch_memory_error", "codeUri": "$D/py",
  "timeout": 20},
 {"name": "NodeHeap", "runtime": "nodejs20.x", "handler": "index.heapHog", "codeUri": "$D/node",
  "memorySize": 128, "timeout": 60},
 {"name": "NodeBuffer", "runtime": "nodejs20.x", "handler": "index.bufferHog", "codeUri": "$D/node",
  "memorySize": 128, "timeout": 30},
 {"name": "NodeFatal", "runtime": "nodejs20.x", "handler": "index.v8Fatal", "codeUri": "$D/node", "timeout": 20}
]}
JSON
stack_conf <<EOF
[worker]
# PySlow (2 s) and the runtimes' first start-ups outlast it: their
# heartbeats come before the answers (see check).
heartbeat_interval = 1s
[lambda]
functions = $T/functions.json
runtime_dir = $SRC/worker/lambda
python = $PY
s3_endpoint = http://127.0.0.1:9
sfn_endpoint = http://127.0.0.1:8083
access_key_id = test-key
secret_access_key = test-secret
id = lambda-test
EOF

"$LAMBDA" --config "$CONF" --check-config >"$T/check.log" 2>&1 || { cat "$T/check.log"; fail "--check-config"; }

# A bad functions file is refused at start (and by --check-config), naming
# the function and the field.
bad() { # WHAT FUNCTION-JSON EXPECTED-MESSAGE
        printf '{"functions": [%s]}' "$2" >"$T/bad.json"
        if IMGFLOW_LAMBDA_FUNCTIONS=$T/bad.json "$LAMBDA" --config "$CONF" --check-config >"$T/bad.log" 2>&1; then
                fail "$1: accepted"
        fi
        grep -qF -- "$3" "$T/bad.log" || fail "$1: $(cat "$T/bad.log")"
}
F='"name": "F", "handler": "app.echo", "codeUri": "'$D'/py"'
bad "unknown runtime" "{$F, \"runtime\": \"java21\"}" 'function F: "runtime" must be python3.x or nodejsN.x, not "java21"'
bad "Timeout" "{$F, \"runtime\": \"python3.12\", \"timeout\": 901}" 'function F: "timeout" must be an integer from 1 to 900'
bad "MemorySize" "{$F, \"runtime\": \"python3.12\", \"memorySize\": 64}" 'function F: "memorySize" must be an integer from 128 to 10240'
bad "reserved variable" "{$F, \"runtime\": \"python3.12\", \"environment\": {\"AWS_REGION\": \"x\"}}" \
        'function F: environment variable AWS_REGION is reserved by Lambda'
bad "code directory" '{"name": "F", "handler": "a.b", "runtime": "nodejs20.x", "codeUri": "/nonexistent"}' \
        'function F: "codeUri" /nonexistent is not a directory'
bad "handler" "{\"name\": \"F\", \"handler\": \"../x.y\", \"runtime\": \"python3.12\", \"codeUri\": \"$D\"}" \
        'function F: "handler" must be module.function'
bad "twice" "{$F, \"runtime\": \"python3.12\"}, {$F, \"runtime\": \"python3.12\"}" 'function F: defined twice'
echo "ok: bad functions files are refused, naming the field"

# No functions file yet (before import-sam wrote it): --check-config passes
# an otherwise fine configuration and says there is nothing to run; a start
# refuses, naming the file.
IMGFLOW_LAMBDA_FUNCTIONS=$T/none.json "$LAMBDA" --config "$CONF" --check-config >"$T/none.log" 2>&1 ||
        fail "--check-config without a functions file: $(cat "$T/none.log")"
grep -qF "lambda.functions $T/none.json does not exist: there are no functions to run" "$T/none.log" ||
        fail "--check-config without a functions file does not say so: $(cat "$T/none.log")"
grep -q "configuration is valid" "$T/none.log" || fail "no 'configuration is valid': $(cat "$T/none.log")"
if IMGFLOW_LAMBDA_FUNCTIONS=$T/none.json timeout 20 "$LAMBDA" --config "$CONF" >"$T/none.log" 2>&1; then
        fail "started without a functions file"
fi
grep -qF "lambda.functions $T/none.json does not exist" "$T/none.log" ||
        fail "a start without a functions file: $(cat "$T/none.log")"
echo "ok: without a functions file --check-config passes and says so; a start refuses, naming it"

# --bucket maps directories for the built-in operations, which
# imgflow-lambda does not run: it is not one of its options.
if "$LAMBDA" --config "$CONF" --bucket "photos=$T" --check-config >"$T/bucket.log" 2>&1; then
        fail "--bucket accepted"
fi
grep -q "imgflow-lambda has no --bucket" "$T/bucket.log" || fail "--bucket: $(cat "$T/bucket.log")"
"$LAMBDA" --help | grep -q -- "--bucket" && fail "--help lists --bucket"
echo "ok: --bucket is refused and not in --help"

IMGFLOW_LOG_TARGET=console "$LAMBDA" --config "$CONF" >"$T/lambda.log" 2>&1 &
LPID=$!
PIDS+=("$LPID")

python3 - >"$T/tasks.txt" <<'PY'
import json, time
now = int(time.time() * 1000)
def task(n, op, inp, **kw):
    m = {"v": 1, "type": "Task", "executionId": "e-%d" % n, "executionName": "n-%d" % n,
         "stateMachine": "sm", "state": "S", "taskId": "t-%d" % n, "attempt": 0,
         "resource": "arn:aws:lambda:eu-west-1:111122223333:function:" + op, "operation": op, "input": inp,
         "deadlineMs": 0, "heartbeatSeconds": 0, "dispatchedAtMs": now}
    m.update(kw)
    print("e-%d|%s" % (n, json.dumps(m)))
task(1, "PyEcho", {"key": "cat.jpg"})
task(2, "PyFail", {"key": "doc.pdf"})
task(3, "PySlow", {"seconds": 60})
task(4, "PyCrash", {"crash": True})
task(5, "PyHog", {"mb": 600})
task(6, "PyMissing", {})
task(7, "NodeAsync", {"key": "dog.png"})
task(8, "NodeCallback", {"n": 21})
task(9, "NodeFail", {"key": "big.tif"})
task(10, "image.resize", {"bucket": "b", "key": "k", "width": 10})
task(11, "PyEcho", [1, 2, 3], resource="arn:aws:states:::lambda:invoke")
PY
kcat -P -b "$BOOT" -t imgflow.tasks.lambda -K '|' <"$T/tasks.txt" || fail "produce"

# check FIRST LAST: every task t-FIRST..t-LAST answered once, as expected
check() {
        kcat -C -b "$BOOT" -t imgflow.events -o beginning -e -q -f '%k\t%s\n' 2>/dev/null >"$T/events.txt"
        python3 - "$T/events.txt" "$1" "$2" <<'PY'
import json, sys
ev = {}
for line in open(sys.argv[1]):
    if "\t" not in line:
        continue
    key, payload = line.rstrip("\n").split("\t", 1)
    m = json.loads(payload)
    assert key == m["executionId"], (key, m)
    # A task still running after worker.heartbeat_interval reports its
    # start with a heartbeat (a slow runtime start-up under load): not an
    # answer.
    if m["type"] == "TaskHeartbeat":
        assert m["workerId"] == "lambda-test" and m.get("startedAtMs"), m
        continue
    ev.setdefault(m["taskId"], []).append(m)
first, last = int(sys.argv[2]), int(sys.argv[3])
if not all("t-%d" % i in ev for i in range(first, last + 1)):
    sys.exit(1)
def one(t, kind):
    assert len(ev[t]) == 1, ev[t]
    m = ev[t][0]
    assert m["type"] == kind and m["workerId"] == "lambda-test", m
    return m
def failed(t, error):
    m = one(t, "TaskFailed")
    assert m["error"] == error, m
    doc = json.loads(m["cause"])
    assert doc["errorType"] == error, doc
    return doc
checks = {}
def c(n):
    def reg(f):
        checks[n] = f
        return f
    return reg
@c(1)
def _():
    o = one("t-1", "TaskSucceeded")["output"]
    assert o["event"] == {"key": "cat.jpg"}, o
    assert len(o["requestId"]) == 36 and o["functionName"] == "PyEcho" == o["envName"], o
    assert o["functionVersion"] == "$LATEST" and o["memoryLimitInMB"] == "256", o
    assert 0 < o["remaining"] <= 20000, o  # Timeout 20 s; how much is left depends on the load
    assert o["arn"] == "arn:aws:lambda:eu-west-1:111122223333:function:PyEcho", o
    assert o["logGroup"] == "/aws/lambda/PyEcho" and o["greeting"] == "hello", o
    assert o["s3Endpoint"] == "http://127.0.0.1:9" and o["sfnEndpoint"] == "http://127.0.0.1:8083", o
@c(2)
def _():
    doc = failed("t-2", "ImageRejected")
    assert doc["errorMessage"] == "image doc.pdf is not a photo", doc
    assert doc["stackTrace"][0].startswith('  File "') and "app.py" in doc["stackTrace"][0], doc
    assert "in fail" in doc["stackTrace"][0] and not any("bootstrap" in x for x in doc["stackTrace"]), doc
    assert len(doc["requestId"]) == 36, doc
@c(3)
def _():
    doc = failed("t-3", "Sandbox.Timedout")
    assert "Task timed out after 2.00 seconds" in doc["errorMessage"], doc
@c(4)
def _():
    doc = failed("t-4", "Runtime.ExitError")
    assert doc["errorMessage"].endswith("Runtime exited with error: signal: killed"), doc
def oom(t):
    # Lambda's document for a function over its memory, exactly
    doc = failed(t, "Runtime.OutOfMemory")
    rid = doc["errorMessage"][len("RequestId: "):][:36]
    assert doc == {"errorType": "Runtime.OutOfMemory",
                   "errorMessage": "RequestId: %s Error: Runtime exited with error: signal: killed" % rid}, doc
    assert len(rid) == 36 and rid.count("-") == 4, doc
@c(5)
def _():
    oom("t-5")  # Python: MemoryError past the address-space limit
@c(6)
def _():
    doc = failed("t-6", "Runtime.ImportModuleError")
    assert doc["errorMessage"].startswith("Unable to import module 'nomodule'"), doc
@c(7)
def _():
    o = one("t-7", "TaskSucceeded")["output"]
    assert o["event"] == {"key": "dog.png"} and o["functionName"] == "NodeAsync", o
    assert o["memoryLimitInMB"] == "128" and o["greeting"] == "hi" and len(o["requestId"]) == 36, o
    assert 0 < o["remaining"] <= 20000 and o["s3Endpoint"] == "http://127.0.0.1:9", o
@c(8)
def _():
    assert one("t-8", "TaskSucceeded")["output"] == {"doubled": 42}
@c(9)
def _():
    doc = failed("t-9", "ThumbnailError")
    assert doc["errorMessage"] == "cannot resize big.tif", doc
    assert doc["trace"][0] == "ThumbnailError: cannot resize big.tif", doc
@c(10)
def _():
    assert one("t-10", "TaskFailed")["error"] == "Worker.UnknownOperation"
@c(11)
def _():
    o = one("t-11", "TaskSucceeded")["output"]
    assert o["event"] == [1, 2, 3] and o["arn"].endswith(":function:PyEcho"), o
@c(12)
def _():
    assert one("t-12", "TaskSucceeded")["output"]["slept"] == 0
@c(13)
def _():
    assert "pid" in one("t-13", "TaskSucceeded")["output"]
@c(14)
def _():
    assert one("t-14", "TaskSucceeded")["output"] == {"allocated": 16}
@c(15)
def _():
    oom("t-15")  # Python: resident memory over MemorySize, within the address-space limit
@c(16)
def _():
    assert one("t-16", "TaskSucceeded")["output"] == {"caught": "MemoryError"}
@c(17)
def _():
    oom("t-17")  # Node.js: V8's heap past its limit
@c(18)
def _():
    oom("t-18")  # Node.js: a Buffer (outside V8's heap) over MemorySize
@c(19)
def _():
    assert one("t-19", "TaskSucceeded")["output"] == {"kept": 10}
@c(20)
def _():
    assert one("t-20", "TaskSucceeded")["output"] == {"allocated": 16}
@c(21)
def _():
    assert one("t-21", "TaskSucceeded")["output"] == {"held": 16}
@c(22)
def _():
    oom("t-22")  # Node.js: V8's fatal line on the runtime's stderr, then abort()
for n in range(first, last + 1):
    checks[n]()
print("lambda: tasks %d-%d answered as expected" % (first, last))
PY
}
wait_checked() {
        local i=0
        until check "$1" "$2" >"$T/check.out" 2>"$T/check.err"; do
                i=$((i + 1))
                [ $i -lt 360 ] || fail "no complete answers for t-$1..t-$2: $(cat "$T/check.err")"
                grep -q "Error" "$T/check.err" && fail "$(cat "$T/check.err")"
                kill -0 "$LPID" 2>/dev/null || fail "imgflow-lambda exited"
                sleep 0.5
        done
        cat "$T/check.out"
}
wait_checked 1 11
echo "ok: results, exceptions, timeout, crash, memory, init error, Node.js async/callback/error"

# The killed, timed-out and out-of-memory runtimes were replaced: their next
# tasks succeed.
python3 - >"$T/tasks2.txt" <<'PY'
import json, time
now = int(time.time() * 1000)
for n, op, inp in ((12, "PySlow", {"seconds": 0}), (13, "PyCrash", {"crash": False}), (14, "PyHog", {"mb": 16})):
    m = {"v": 1, "type": "Task", "executionId": "e-%d" % n, "executionName": "n-%d" % n,
         "stateMachine": "sm", "state": "S",
         "taskId": "t-%d" % n, "attempt": 0, "resource": "arn:aws:states:::lambda:invoke",
         "operation": op, "input": inp, "deadlineMs": 0, "heartbeatSeconds": 0, "dispatchedAtMs": now}
    print("e-%d|%s" % (n, json.dumps(m)))
PY
kcat -P -b "$BOOT" -t imgflow.tasks.lambda -K '|' <"$T/tasks2.txt" || fail "produce"
wait_checked 12 14
echo "ok: restarted runtimes answer the next tasks"

# MemorySize, whichever limit sees it first, and then the same functions
# again within their memory (their runtimes were started again).
produce() { # N|OP|INPUT-JSON ...
        python3 - "$@" <<'PY' >"$T/tasks3.txt"
import json, sys, time
now = int(time.time() * 1000)
for arg in sys.argv[1:]:
    n, op, inp = arg.split("|", 2)
    m = {"v": 1, "type": "Task", "executionId": "e-" + n, "executionName": "n-" + n, "stateMachine": "sm",
         "state": "S", "taskId": "t-" + n, "attempt": 0, "resource": "arn:aws:states:::lambda:invoke",
         "operation": op, "input": json.loads(inp), "deadlineMs": 0, "heartbeatSeconds": 0,
         "dispatchedAtMs": now}
    print("e-%s|%s" % (n, json.dumps(m)))
PY
        kcat -P -b "$BOOT" -t imgflow.tasks.lambda -K '|' <"$T/tasks3.txt" || fail "produce"
}
produce '15|PyHold|{"mb": 176, "holdSeconds": 10}' '16|PyCatch|{"mb": 600}' \
        '17|NodeHeap|{"objects": 100000000}' '18|NodeBuffer|{"mb": 200, "holdSeconds": 10}'
wait_checked 15 18
produce '19|NodeHeap|{"objects": 10}' '20|NodeBuffer|{"mb": 16}' '21|PyHold|{"mb": 16}' '22|NodeFatal|{}'
wait_checked 19 22
grep -q "Function NodeHeap went over its MemorySize of 128 MB" "$T/lambda.log" || fail "no log line for NodeHeap"
# the handlers' output reaches the log, with the function's name
grep -q "hold: 16 MB held.*lambda_function=PyHold" "$T/lambda.log" || fail "PyHold's print() is not in the log"
grep -q "FATAL ERROR:.*JavaScript heap out of memory\|Function NodeHeap went over its MemorySize.*resident" \
        "$T/lambda.log" || fail "neither V8's message nor the resident size for NodeHeap in the log"
grep -q "Function NodeFatal went over its MemorySize of 128 MB .*(V8: JavaScript heap out of memory; signal: aborted" \
        "$T/lambda.log" || fail "NodeFatal: V8's fatal line was not recognised"
grep -q "FATAL ERROR: Reached heap limit.*lambda_function=NodeFatal" "$T/lambda.log" ||
        fail "NodeFatal: its stderr is not in the log"
echo "ok: MemorySize (MemoryError, resident size, V8's heap, a Buffer) is Runtime.OutOfMemory; runtimes restarted"

# SIGTERM: the daemon stops and leaves no runtime process behind.
kids=$(pgrep -P "$LPID" | tr '\n' ' ')
[ -n "$kids" ] || fail "no runtime processes under imgflow-lambda"
kill -TERM "$LPID"
i=0; while kill -0 "$LPID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$LPID" 2>/dev/null && fail "imgflow-lambda did not stop on SIGTERM"
for k in $kids; do
        i=0; while kill -0 "$k" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$k" 2>/dev/null && fail "runtime process $k outlived imgflow-lambda"
done
echo "ok: SIGTERM stops the daemon and its runtime processes"
