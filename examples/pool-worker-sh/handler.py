#!/usr/bin/env python3
# The JSON half of pool-worker.sh: reads Task messages (one per line) on
# stdin, runs the operation, writes "<executionId>\t<event JSON>" lines on
# stdout: TaskSucceeded or TaskFailed (docs/worker-protocol.md).
import json, os, sys, time

WORKER_ID = os.environ.get("WORKER_ID", "shell")

def uppercase(inp):
    return {"text": str(inp.get("text", "")).upper()}

def word_count(inp):
    return {"words": len(str(inp.get("text", "")).split())}

def fail(inp):
    raise TaskError(inp.get("error", "Shell.Failure"), inp.get("cause", "asked to fail"))

OPERATIONS = {"Uppercase": uppercase, "WordCount": word_count, "Fail": fail}

class TaskError(Exception):
    def __init__(self, error, cause):
        super().__init__(cause)
        self.error, self.cause = error, cause

def now_ms():
    return int(time.time() * 1000)

def answer(task, **fields):
    ev = {"v": 1, "executionId": task["executionId"], "taskId": task["taskId"],
          "attempt": task["attempt"], "workerId": WORKER_ID}
    ev.update(fields)
    sys.stdout.write(task["executionId"] + "\t" + json.dumps(ev, separators=(",", ":")) + "\n")
    sys.stdout.flush()

for line in iter(sys.stdin.readline, ""):
    line = line.strip()
    if not line:
        continue
    try:
        task = json.loads(line)
        if task.get("v") != 1 or task.get("type") != "Task":
            raise ValueError("not a v1 Task")
        for f in ("executionId", "taskId", "attempt", "operation"):
            if f not in task:
                raise ValueError("missing " + f)
    except ValueError as e:
        # imgflow-worker sends these to <prefix>dlq; a script just says so.
        print("dropping undecodable message: %s" % e, file=sys.stderr)
        continue
    deadline = task.get("deadlineMs") or 0
    if deadline and now_ms() >= deadline:
        continue  # already timed out at the coordinator: do not run it
    started = now_ms()
    op = OPERATIONS.get(task["operation"])
    try:
        if op is None:
            raise TaskError("Worker.UnknownOperation", "No operation '%s' on this worker" % task["operation"])
        inp = task.get("input")
        output = op(inp if isinstance(inp, dict) else {})
        answer(task, type="TaskSucceeded", output=output, startedAtMs=started, finishedAtMs=now_ms())
    except TaskError as e:
        answer(task, type="TaskFailed", error=e.error, cause=e.cause)
    except Exception as e:  # a bug in an operation is still an answer
        answer(task, type="TaskFailed", error="States.TaskFailed", cause=repr(e))
