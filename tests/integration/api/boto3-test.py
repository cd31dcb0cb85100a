#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Debian's python3-boto3 against imgflow-api, as tests/integration/test-api.sh
# starts it (the environment is described there). Every call goes through
# boto3's own client (its SigV4 signer, its JSON protocol, its error
# parsing); only the replayed request is signed by botocore's SigV4Auth at a
# past time and sent by hand, since that is what a captured request is.
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

E = os.environ
ENDPOINT, REGION, ACCOUNT = E["API_ENDPOINT"], E["AWS_REGION"], E["ACCOUNT"]
ARN = "arn:aws:states:%s:%s:" % (REGION, ACCOUNT)
ROLE = "arn:aws:iam::%s:role/imgflow" % ACCOUNT
FAILS = 0


def ok(msg):
    print("ok   " + msg)


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL: " + msg)


def check(cond, msg):
    ok(msg) if cond else fail(msg)


def client(key, secret, region=REGION, retries=0):
    return boto3.client("stepfunctions", endpoint_url=ENDPOINT, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": retries + 1, "mode": "standard"},
                                                      read_timeout=70))


def error_of(fn, **kw):
    """(HTTP status, error code, message) of a call that must fail."""
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
                e.response["Error"].get("Message", ""))
    return (200, None, None)


def expect_error(msg, want_code, fn, **kw):
    status, code, text = error_of(fn, **kw)
    check(code == want_code and status == 400, "%s: %s %s (%s)" % (msg, status, code, text))


def wait_status(sfn, arn, want, seconds=120):
    d = {}
    for _ in range(seconds * 5):
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            break
        time.sleep(0.2)
    check(d.get("status") == want, "%s is %s (want %s)" % (arn.split(":")[-1], d.get("status"), want))
    return d


admin = client(E["ADMIN_KEY"], E["ADMIN_SECRET"])
starter = client(E["STARTER_KEY"], E["STARTER_SECRET"])
denier = client(E["DENIER_KEY"], E["DENIER_SECRET"])

print("--- the image pipeline")
definition = open(E["EXAMPLES"] + "/image-pipeline/image-pipeline.asl.json").read()
r = admin.create_state_machine(name="image-pipeline", definition=definition, roleArn=ROLE)
sm = r["stateMachineArn"]
check(sm == ARN + "stateMachine:image-pipeline", "CreateStateMachine: " + sm)
check(isinstance(r["creationDate"], datetime.datetime), "creationDate is a date")
d = admin.describe_state_machine(stateMachineArn=sm)
check(d["definition"] == definition and d["status"] == "ACTIVE" and d["type"] == "STANDARD"
      and d["roleArn"] == ROLE, "DescribeStateMachine gives the definition, ACTIVE, STANDARD, the role")
check(any(m["name"] == "image-pipeline" for m in admin.list_state_machines()["stateMachines"]),
      "ListStateMachines lists it")
# Creating it again with the same definition is idempotent.
check(admin.create_state_machine(name="image-pipeline", definition=definition, roleArn=ROLE)["stateMachineArn"] == sm,
      "CreateStateMachine again with the same definition")
expect_error("CreateStateMachine with another definition", "StateMachineAlreadyExists",
             admin.create_state_machine, name="image-pipeline", roleArn=ROLE,
             definition='{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}')
expect_error("an invalid definition", "InvalidDefinition", admin.create_state_machine, name="bad", roleArn=ROLE,
             definition='{"StartAt":"Nowhere","States":{"P":{"Type":"Pass","End":true}}}')
# A Task whose Resource maps to nothing with [resources] is refused now,
# naming the state and the resource, not when an execution gets there.
status, code, text = error_of(admin.create_state_machine, name="unmapped", roleArn=ROLE,
                              definition='{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":'
                                         '"arn:aws:lambda:us-east-1:123456789012:function:Unknown","End":true}}}')
check(status == 400 and code == "InvalidDefinition" and
      "State 'Call': Resource 'arn:aws:lambda:us-east-1:123456789012:function:Unknown' maps to nothing" in text,
      "a Task that maps to nothing: %s %s (%s)" % (status, code, text))

# The starter key may start and describe executions of image-* machines.
runs = []
for i, key in enumerate(E["PHOTOS"].split()):
    r = starter.start_execution(stateMachineArn=sm, name="photo-%d" % i,
                                input=json.dumps({"bucket": "photos", "key": key}))
    runs.append(r["executionArn"])
check(runs[0] == ARN + "execution:image-pipeline:photo-0", "StartExecution: " + runs[0])
# The same name and input again while it runs (or once it ran): idempotent, or ExecutionAlreadyExists.
status, code, _ = error_of(starter.start_execution, stateMachineArn=sm, name="photo-0",
                           input=json.dumps({"bucket": "photos", "key": E["PHOTOS"].split()[0]}))
check(code in (None, "ExecutionAlreadyExists"), "StartExecution again with the same name and input: %s" % code)
expect_error("the same name with another input", "ExecutionAlreadyExists", starter.start_execution,
             stateMachineArn=sm, name="photo-0", input='{"bucket":"photos","key":"raw/other.jpg"}')
for arn in runs:
    d = wait_status(starter, arn, "SUCCEEDED")
check(json.loads(d["output"]).get("status") is not None or "output" in d, "DescribeExecution gives the output")
check(isinstance(d["startDate"], datetime.datetime) and d["stopDate"] >= d["startDate"], "dates are dates")

print("--- histories")
h = starter.describe_execution(executionArn=runs[0])
events = admin.get_execution_history(executionArn=runs[0])["events"]
check(events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded",
      "GetExecutionHistory: ExecutionStarted .. ExecutionSucceeded (%d events)" % len(events))
check([e["id"] for e in events] == list(range(1, len(events) + 1)), "event ids 1..n")
check(json.loads(events[0]["executionStartedEventDetails"]["input"])["key"] == E["PHOTOS"].split()[0],
      "ExecutionStarted carries the input")
paged, token = [], None
while True:
    kw = {"nextToken": token} if token else {}
    page = admin.get_execution_history(executionArn=runs[0], maxResults=3, **kw)
    check(len(page["events"]) <= 3, "a page has at most maxResults events")
    paged += page["events"]
    token = page.get("nextToken")
    if not token:
        break
check([e["id"] for e in paged] == [e["id"] for e in events], "pages of 3 give the same history")
rev = admin.get_execution_history(executionArn=runs[0], reverseOrder=True, maxResults=2)
check([e["id"] for e in rev["events"]] == [len(events), len(events) - 1] and "nextToken" in rev, "reverseOrder")
bare = admin.get_execution_history(executionArn=runs[0], includeExecutionData=False)["events"]
check("input" not in bare[0]["executionStartedEventDetails"], "includeExecutionData=false leaves the data out")
pager = admin.get_paginator("get_execution_history")
check(sum(len(p["events"]) for p in pager.paginate(executionArn=runs[0], PaginationConfig={"PageSize": 4}))
      == len(events), "boto3's paginator walks the pages")
listed = admin.list_executions(stateMachineArn=sm, statusFilter="SUCCEEDED")["executions"]
check(set(runs) <= {x["executionArn"] for x in listed}, "ListExecutions(statusFilter=SUCCEEDED) lists the runs")
check(admin.list_executions(stateMachineArn=sm, statusFilter="FAILED")["executions"] == [],
      "ListExecutions(statusFilter=FAILED) is empty")
page1 = admin.list_executions(stateMachineArn=sm, maxResults=2)
page2 = admin.list_executions(stateMachineArn=sm, maxResults=2, nextToken=page1["nextToken"])
check(len(page1["executions"]) == 2 and len(page2["executions"]) == 1
      and not set(x["name"] for x in page1["executions"]) & set(x["name"] for x in page2["executions"]),
      "ListExecutions pages do not overlap")
d = admin.describe_state_machine_for_execution(executionArn=runs[0])
check(d["definition"] == definition and d["name"] == "image-pipeline", "DescribeStateMachineForExecution")
expect_error("DescribeExecution of an unknown execution", "ExecutionDoesNotExist", admin.describe_execution,
             executionArn=ARN + "execution:image-pipeline:nope")
expect_error("an ARN of another region", "InvalidArn", admin.describe_execution,
             executionArn="arn:aws:states:eu-west-1:%s:execution:image-pipeline:photo-0" % ACCOUNT)
expect_error("a bad page token", "InvalidToken", admin.list_executions, stateMachineArn=sm, nextToken="zz")

print("--- human approval with task tokens")
ha = admin.create_state_machine(name="image-review", roleArn=ROLE,
                                definition=open(E["EXAMPLES"] + "/human-approval/human-approval.asl.json").read())
ha = ha["stateMachineArn"]


def review(name, answer):
    arn = starter.start_execution(stateMachineArn=ha, name=name, input=json.dumps(
        {"bucket": "photos", "key": E["WIDE_PHOTO"], "review": None, "reviewTimeoutSeconds": 120}))["executionArn"]
    token = subprocess.run([E["REVIEW_TOKEN"], "image-review:" + name], capture_output=True,
                           text=True).stdout.strip()
    check(len(token) >= 32, "the review request of %s carries a task token" % name)
    answer(token)
    return arn, token


def approve(t):
    starter.send_task_heartbeat(taskToken=t)
    starter.send_task_success(taskToken=t, output='{"approved": true}')


arn, token = review("approve-1", approve)
d = wait_status(starter, arn, "SUCCEEDED")
check(json.loads(d["output"]).get("review") == {"approved": True}, "approved: published with the review: %s" % d.get("output"))
expect_error("the token again", "TaskDoesNotExist", starter.send_task_success, taskToken=token, output="{}")
arn, token = review("reject-1", lambda t: starter.send_task_failure(taskToken=t, error="Review.Rejected",
                                                                      cause="too wide"))
d = wait_status(starter, arn, "FAILED")
check(d.get("error") == "Image.Rejected" and d.get("cause") == "too wide", "rejected: the Fail state's error")
expect_error("a token never issued", "InvalidToken", starter.send_task_success, taskToken="0" * 32, output="{}")
expect_error("output that is not JSON", "InvalidOutput", starter.send_task_success, taskToken="0" * 32,
             output="{not json")

print("--- activities")
act = admin.create_activity(name="caption")["activityArn"]
check(act == ARN + "activity:caption", "CreateActivity: " + act)
check(admin.describe_activity(activityArn=act)["name"] == "caption", "DescribeActivity")
check(any(a["activityArn"] == act for a in admin.list_activities()["activities"]), "ListActivities")
asm = admin.create_state_machine(name="caption-it", roleArn=ROLE, definition=json.dumps({
    "StartAt": "Caption", "States": {"Caption": {
        "Type": "Task", "Resource": act, "HeartbeatSeconds": 60, "TimeoutSeconds": 300,
        "Parameters": {"key.$": "$.key"}, "ResultPath": "$.caption", "End": True}}}))["stateMachineArn"]
# A worker waiting before the task exists gets it when it comes (a long poll).
got = {}
poller = threading.Thread(target=lambda: got.update(admin.get_activity_task(activityArn=act, workerName="w1")))
poller.start()
time.sleep(0.5)
arn = admin.start_execution(stateMachineArn=asm, name="cap-1", input='{"key": "raw/photo-0000.jpg"}')["executionArn"]
poller.join(65)
check(got.get("taskToken") and json.loads(got.get("input", "{}")) == {"key": "raw/photo-0000.jpg"},
      "GetActivityTask (waiting before the start) gets the task and its input")
admin.send_task_heartbeat(taskToken=got["taskToken"])
admin.send_task_success(taskToken=got["taskToken"], output='{"text": "a gradient"}')
d = wait_status(admin, arn, "SUCCEEDED")
check(json.loads(d["output"])["caption"] == {"text": "a gradient"}, "SendTaskSuccess completes the activity task")
arn = admin.start_execution(stateMachineArn=asm, name="cap-2", input='{"key": "x"}')["executionArn"]
t = admin.get_activity_task(activityArn=act, workerName="w2")
admin.send_task_failure(taskToken=t["taskToken"], error="Caption.Failed", cause="no words")
d = wait_status(admin, arn, "FAILED")
check(d.get("error") == "Caption.Failed", "SendTaskFailure fails it")
arn = admin.start_execution(stateMachineArn=asm, name="cap-3", input='{"key": "y"}')["executionArn"]
t = admin.get_activity_task(activityArn=act)
r = admin.stop_execution(executionArn=arn, error="Ops.Cancelled", cause="stop it")
check(isinstance(r["stopDate"], datetime.datetime), "StopExecution gives the stop date")
d = wait_status(admin, arn, "ABORTED")
check(d.get("error") == "Ops.Cancelled", "stopped: ABORTED with the error")
check(isinstance(admin.stop_execution(executionArn=arn)["stopDate"], datetime.datetime),
      "StopExecution of a stopped execution gives its stop date")
expect_error("the task of a stopped execution", "TaskDoesNotExist", admin.send_task_success,
             taskToken=t["taskToken"], output="{}")
expect_error("GetActivityTask of an unknown activity", "ActivityDoesNotExist", admin.get_activity_task,
             activityArn=ARN + "activity:nope")

print("--- updates and deletes")
tmp = admin.create_state_machine(name="tmp-pass", roleArn=ROLE,
                                 definition='{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}')
u = admin.update_state_machine(stateMachineArn=tmp["stateMachineArn"],
                               definition='{"StartAt":"Q","States":{"Q":{"Type":"Pass","Result":1,"End":true}}}')
check(isinstance(u["updateDate"], datetime.datetime), "UpdateStateMachine")
check('"Q"' in admin.describe_state_machine(stateMachineArn=tmp["stateMachineArn"])["definition"],
      "the update is the new definition")
admin.delete_state_machine(stateMachineArn=tmp["stateMachineArn"])
expect_error("DescribeStateMachine after DeleteStateMachine", "StateMachineDoesNotExist",
             admin.describe_state_machine, stateMachineArn=tmp["stateMachineArn"])
admin.delete_activity(activityArn=ARN + "activity:caption")
expect_error("DescribeActivity after DeleteActivity", "ActivityDoesNotExist", admin.describe_activity,
             activityArn=act)

print("--- Map Runs")
# 6 items, one child at a time, items 1 and 4 fail (tolerated): boto3's
# describe_map_run, list_map_runs (its paginator) and update_map_run.
child = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Which", "States": {
    "Which": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Bad"}],
              "Default": "Work"},
    "Bad": {"Type": "Task", "Resource": "imgflow:test.fail",
            "Parameters": {"error": "Image.Invalid", "cause": "not a JPEG"}, "End": True},
    "Work": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 2000}, "End": True}}}
mdef = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
                                         "ToleratedFailurePercentage": 50, "ItemProcessor": child,
                                         "ResultPath": None, "End": True}}}
msm = admin.create_state_machine(name="maprun-boto3", definition=json.dumps(mdef), roleArn=ROLE)["stateMachineArn"]
mex = admin.start_execution(stateMachineArn=msm, name="b1",
                            input=json.dumps({"items": [{"fail": i in (1, 4)} for i in range(6)]}))["executionArn"]
mruns = []
for _ in range(300):
    mruns = [r for page in admin.get_paginator("list_map_runs").paginate(executionArn=mex) for r in page["mapRuns"]]
    if mruns:
        break
    time.sleep(0.2)
check(len(mruns) == 1 and mruns[0]["mapRunArn"].startswith(ARN + "mapRun:maprun-boto3/M:") and
      mruns[0]["executionArn"] == mex and isinstance(mruns[0]["startDate"], datetime.datetime),
      "list_map_runs: %s" % (mruns[:1]))
mr = mruns[0]["mapRunArn"] if mruns else ARN + "mapRun:maprun-boto3/M:00000000-0000-4000-8000-000000000000"
d = admin.describe_map_run(mapRunArn=mr)
check(d["status"] == "RUNNING" and d["maxConcurrency"] == 1 and d["toleratedFailurePercentage"] == 50.0 and
      d["itemCounts"]["total"] == 6, "describe_map_run while it runs: %s %s %s" % (
          d["status"], d["maxConcurrency"], d["itemCounts"]))
admin.update_map_run(mapRunArn=mr, maxConcurrency=0, toleratedFailurePercentage=40.0)
d = admin.describe_map_run(mapRunArn=mr)
check(d["maxConcurrency"] == 0 and d["toleratedFailurePercentage"] == 40.0,
      "update_map_run: maxConcurrency 0 (unlimited), toleratedFailurePercentage 40")
wait_status(admin, mex, "SUCCEEDED")
d = admin.describe_map_run(mapRunArn=mr)
c = d["itemCounts"]
check(d["status"] == "SUCCEEDED" and [c["succeeded"], c["failed"], c["pending"], c["running"], c["total"]] ==
      [4, 2, 0, 0, 6] and isinstance(d["stopDate"], datetime.datetime),
      "describe_map_run at the end: %s %s" % (d["status"], c))
st, code, text = error_of(admin.describe_map_run, mapRunArn=mr.rsplit(":", 1)[0] + ":00000000-0000-4000-8000-000000000000")
check(code == "ResourceNotFound", "describe_map_run of an unknown run: %s %s (%s)" % (st, code, text))
# the children: executions of their own, through the list_executions paginator (pages of 2)
kids = [e for page in admin.get_paginator("list_executions").paginate(mapRunArn=mr, PaginationConfig={"PageSize": 2})
        for e in page["executions"]]
check(len(kids) == 6 and sorted(e["status"] for e in kids).count("FAILED") == 2 and
      all(e["executionArn"].startswith(ARN + "execution:maprun-boto3/M:") and e["mapRunArn"] == mr and
          e["stateMachineArn"] == ARN + "stateMachine:maprun-boto3/M" and e.get("itemCount") == 1
          for e in kids),
      "list_executions(mapRunArn): 6 children, 2 FAILED, itemCount 1 each (%s)" % [
          (e["status"], e.get("itemCount")) for e in kids])
failed = admin.list_executions(mapRunArn=mr, statusFilter="FAILED")["executions"]
check(len(failed) == 2, "list_executions(mapRunArn, statusFilter=FAILED): %d" % len(failed))
if failed:
    d = admin.describe_execution(executionArn=failed[0]["executionArn"])
    check(d["status"] == "FAILED" and d["error"] == "Image.Invalid" and d["mapRunArn"] == mr and
          json.loads(d["input"]).get("fail") is True, "describe_execution of a failed child: %s %s" % (
              d["status"], d.get("error")))
    ev = admin.get_execution_history(executionArn=failed[0]["executionArn"])["events"]
    check(ev[0]["type"] == "ExecutionStarted" and ev[-1]["type"] == "ExecutionFailed",
          "get_execution_history of a child: %s" % [e["type"] for e in ev])
sm_names = [e["name"] for e in admin.list_executions(stateMachineArn=msm)["executions"]]
check(sm_names == ["b1"], "list_executions(stateMachineArn): the parent only (%s)" % sm_names)
expect_error("update_map_run of a finished run", "ValidationException", admin.update_map_run, mapRunArn=mr,
             maxConcurrency=3)
expect_error("starter: update_map_run", "AccessDeniedException", starter.update_map_run, mapRunArn=mr,
             maxConcurrency=3)
# batched: each child's itemCount is its batch's (5 items, at most 2 a batch)
bproc = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
         "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
bdef = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
                                         "ItemBatcher": {"MaxItemsPerBatch": 2}, "ItemProcessor": bproc,
                                         "End": True}}}
bsm = admin.create_state_machine(name="maprun-batch-boto3", definition=json.dumps(bdef),
                                 roleArn=ROLE)["stateMachineArn"]
bex = admin.start_execution(stateMachineArn=bsm, name="b1",
                            input=json.dumps({"items": list(range(5))}))["executionArn"]
wait_status(admin, bex, "SUCCEEDED")
bruns = admin.list_map_runs(executionArn=bex)["mapRuns"]
bkids = admin.list_executions(mapRunArn=bruns[0]["mapRunArn"])["executions"] if bruns else []
check(sorted(e.get("itemCount") for e in bkids) == [1, 2, 2],
      "list_executions(mapRunArn) of a batched run: itemCount %s (want 1, 2, 2)" % [
          e.get("itemCount") for e in bkids])

print("--- EXPRESS: Step Functions' answers for an Express machine and its executions")
# StartExecution answers an "express:<machine>:<name>:<run id>" ARN, which
# no operation on executions takes (InvalidArn, Step Functions' text),
# whether the execution runs or has ended; ListExecutions refuses the machine.
EXPRESS_REFUSED = "Invalid Arn: 'Resource type not valid in this context: express'"
xdef = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 4, "Next": "P"},
                                              "P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}})
xsm = admin.create_state_machine(name="express-boto3", definition=xdef, roleArn=ROLE,
                                 type="EXPRESS")["stateMachineArn"]


def express_refused(when, arn):
    calls = [("DescribeExecution", admin.describe_execution),
             ("GetExecutionHistory", admin.get_execution_history),
             ("DescribeStateMachineForExecution", admin.describe_state_machine_for_execution),
             ("StopExecution", admin.stop_execution),
             ("ListMapRuns", admin.list_map_runs)]
    if hasattr(admin, "redrive_execution"):  # Debian 12's boto3 predates it
        calls.append(("RedriveExecution", admin.redrive_execution))
    for op, fn in calls:
        status, code, text = error_of(fn, executionArn=arn)
        check(status == 400 and code == "InvalidArn" and text == EXPRESS_REFUSED,
              "%s of %s EXPRESS execution: %s %s (%s)" % (op, when, status, code, text))


xrun = admin.start_execution(stateMachineArn=xsm, name="x-running")["executionArn"]
head, _, run_id = xrun.rpartition(":")
check(head == ARN + "express:express-boto3:x-running" and len(run_id) == 36 and run_id.count("-") == 4,
      "StartExecution of an EXPRESS machine: an express: ARN with a run id (%s)" % xrun)
express_refused("a running", xrun)
sync = boto3.client("stepfunctions", endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id=E["ADMIN_KEY"],
                    aws_secret_access_key=E["ADMIN_SECRET"],  # without StartSyncExecution's "sync-" host prefix
                    config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=70,
                                                  inject_host_prefix=False))
d = sync.start_sync_execution(stateMachineArn=xsm, name="x-ended", input="{}")
check(d["status"] == "SUCCEEDED" and d["name"] == "x-ended" and d["executionArn"].startswith(
    ARN + "express:express-boto3:x-ended:") and d["executionArn"] != xrun,
      "StartSyncExecution: SUCCEEDED, an express: ARN (%s)" % d["executionArn"])
express_refused("an ended", d["executionArn"])
express_refused("a made-up", ARN + "express:express-boto3:never:00000000-0000-4000-8000-000000000000")
status, code, text = error_of(admin.list_executions, stateMachineArn=xsm)
check(status == 400 and code == "StateMachineTypeNotSupported" and
      text == "This operation is not supported by this type of state machine",
      "ListExecutions of an EXPRESS machine: %s %s (%s)" % (status, code, text))
check(len(admin.list_executions(stateMachineArn=sm)["executions"]) > 0, "... of a STANDARD machine: its executions")
status, code, text = error_of(admin.create_state_machine, name="express-callback", roleArn=ROLE, type="EXPRESS",
                              definition=json.dumps({"StartAt": "T", "States": {"T": {
                                  "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                  "End": True}}}))
check(code == "InvalidDefinition" and
      "Express state machine does not support '.waitForTaskToken' service integration" in text,
      "an EXPRESS machine has no task tokens (.waitForTaskToken refused): %s (%s)" % (code, text))

print("--- refusals")
expect_error("an unknown access key", "UnrecognizedClientException",
             client("AKIAIMGFLOWUNKNOWN01", "whatever-whatever-whatever").list_state_machines)
expect_error("a wrong secret", "InvalidSignatureException",
             client(E["ADMIN_KEY"], "not-the-secret-not-the-secret").list_state_machines)
expect_error("a credential scoped to another region", "InvalidSignatureException",
             client(E["ADMIN_KEY"], E["ADMIN_SECRET"], region="eu-west-1").list_state_machines)
expect_error("starter: ListStateMachines", "AccessDeniedException", starter.list_state_machines)
expect_error("starter: StartExecution of another machine", "AccessDeniedException", starter.start_execution,
             stateMachineArn=asm)
expect_error("starter: StopExecution", "AccessDeniedException", starter.stop_execution, executionArn=runs[0])
status, code, text = error_of(denier.delete_state_machine, stateMachineArn=sm)
check(code == "AccessDeniedException" and "explicit deny" in text, "denier: DeleteStateMachine (explicit deny)")
check(admin.describe_state_machine(stateMachineArn=sm)["name"] == "image-pipeline", "... and it is still there")
check(len(denier.list_state_machines()["stateMachines"]) >= 1, "denier: the rest is allowed")


def raw(body, headers):
    req = urllib.request.Request(ENDPOINT + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


target = {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"}
status, body = raw(b"{}", target)
check(status == 400 and body.get("__type") == "MissingAuthenticationTokenException", "no signature: %s" % body)


def signed(when, body=b"{}", key=E["ADMIN_KEY"], secret=E["ADMIN_SECRET"]):
    """A ListStateMachines request as botocore's SigV4Auth signs it at `when`."""
    req = botocore.awsrequest.AWSRequest(method="POST", url=ENDPOINT + "/", data=body, headers=dict(target))
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = when
        dt.datetime.now.return_value = when
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "states", REGION).add_auth(req)
    return dict(req.headers.items())


now = datetime.datetime.utcnow()
status, body = raw(b"{}", signed(now))
check(status == 200 and "stateMachines" in body, "a request signed now by botocore's SigV4Auth is served")
old = signed(now - datetime.timedelta(minutes=6))
status, body = raw(b"{}", old)
check(status == 400 and body.get("__type") == "InvalidSignatureException"
      and body.get("message", "").startswith("Signature expired"), "signed 6 minutes ago: %s" % body)
status, body = raw(b"{}", signed(now + datetime.timedelta(minutes=6)))
check(status == 400 and "Signature not yet current" in body.get("message", ""), "signed 6 minutes ahead")
# A captured request replayed once its 5 minutes have passed is the request
# signed 6 minutes ago above. One replayed inside them is served, as in AWS
# (signed 4.5 minutes ago now, so that a slow machine stays inside them).
captured = signed(datetime.datetime.utcnow() - datetime.timedelta(minutes=4, seconds=30))
status, _ = raw(b"{}", captured)
check(status == 200, "a captured request inside the 5 minutes is served (as in AWS)")
status, body = raw(b"{}", dict(captured, **{"X-Amz-Date": old["X-Amz-Date"]}))
check(status == 400 and body.get("__type") == "InvalidSignatureException", "... its date moved: refused")
tampered = signed(now)
status, body = raw(b'{"maxResults": 1}', tampered)
check(status == 400 and body.get("__type") == "InvalidSignatureException", "another body under a signature")
status, body = raw(b"{}", dict(signed(now), **{"X-Amz-Target": "AWSStepFunctions.DeleteStateMachine"}))
check(status == 400 and body.get("__type") == "InvalidSignatureException", "another operation under a signature")
status, body = raw(b"{}", dict(signed(now), **{"X-Amz-Target": "AWSStepFunctions.Nope"}))
check(status == 400 and body.get("__type") == "UnknownOperationException", "an unknown operation")
status, body = raw(b"{not json", signed(now, b"{not json"))
check(status == 400 and body.get("__type") == "SerializationException", "a signed body that is not JSON")
status, body = raw(b'{"maxResults": "ten"}', signed(now, b'{"maxResults": "ten"}'))
check(status == 400 and body.get("__type") == "SerializationException", "a member of the wrong type")
status, body = raw(b'{"maxResults": 1001}', signed(now, b'{"maxResults": 1001}'))
check(status == 400 and body.get("__type") == "ValidationException", "maxResults over 1000")

print("%d failure(s)" % FAILS if FAILS else "all passed")
sys.exit(1 if FAILS else 0)
