// SPDX-License-Identifier: MIT
// The Node AWS SDK v3 (@aws-sdk/client-sfn, pinned by package-lock.json)
// against imgflow-api, as tests/integration/test-api.sh starts it (the
// environment is described there). Every call goes through SFNClient: its
// SigV4 signer, its AWS JSON 1.0 protocol, its paginators and its error
// classes. It lives here, beside node_modules, so that the import resolves.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as sfn from "@aws-sdk/client-sfn";

const E = process.env;
const REGION = E.AWS_REGION;
const ARN = `arn:aws:states:${REGION}:${E.ACCOUNT}:`;
const ROLE = `arn:aws:iam::${E.ACCOUNT}:role/imgflow`;
let fails = 0;

const ok = (m) => console.log("ok   " + m);
const fail = (m) => {
  fails++;
  console.log("FAIL: " + m);
};
const check = (cond, m) => (cond ? ok(m) : fail(m));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function client(key, secret, opts = {}) {
  return new sfn.SFNClient({
    endpoint: E.API_ENDPOINT,
    region: opts.region ?? REGION,
    credentials: { accessKeyId: key, secretAccessKey: secret },
    maxAttempts: opts.maxAttempts ?? 1,
    systemClockOffset: opts.systemClockOffset ?? 0,
    requestHandler: { requestTimeout: 70000 },
  });
}

// call(client, "StartExecution", input): the command of that name.
const call = (c, op, input = {}) => c.send(new sfn[op + "Command"](input));

// The error a call must fail with: [HTTP status, error name, message].
async function errorOf(c, op, input) {
  try {
    await call(c, op, input);
  } catch (e) {
    return [e.$metadata?.httpStatusCode, e.name, e.message];
  }
  return [200, null, null];
}

async function expectError(msg, want, c, op, input) {
  const [status, name, text] = await errorOf(c, op, input);
  check(name === want && status === 400, `${msg}: ${status} ${name} (${text})`);
  return text;
}

async function waitStatus(c, arn, want) {
  let d = {};
  for (let i = 0; i < 600; i++) {
    d = await call(c, "DescribeExecution", { executionArn: arn });
    if (d.status !== "RUNNING") break;
    await sleep(200);
  }
  check(d.status === want, `${arn.split(":").pop()} is ${d.status} (want ${want})`);
  return d;
}

const admin = client(E.ADMIN_KEY, E.ADMIN_SECRET);
const starter = client(E.STARTER_KEY, E.STARTER_SECRET);
const denier = client(E.DENIER_KEY, E.DENIER_SECRET);
const photos = E.PHOTOS.split(" ");

console.log("--- the image pipeline");
const definition = readFileSync(E.EXAMPLES + "/image-pipeline/image-pipeline.asl.json", "utf8");
const v = await call(admin, "ValidateStateMachineDefinition", { definition });
check(v.result === "OK" && v.diagnostics.length === 0, "ValidateStateMachineDefinition: " + v.result);
const bad = await call(admin, "ValidateStateMachineDefinition", {
  definition: '{"StartAt":"Nowhere","States":{"P":{"Type":"Pass","End":true}}}',
});
check(bad.result === "FAIL" && bad.diagnostics[0]?.severity === "ERROR",
  "... of a definition that starts nowhere: FAIL " + bad.diagnostics[0]?.code);
// The rules Step Functions names have their own codes.
const loop = await call(admin, "ValidateStateMachineDefinition", {
  definition: '{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}',
});
check(loop.result === "FAIL" && loop.diagnostics.length === 1 && loop.diagnostics[0].code === "MISSING_END_STATE" &&
  loop.diagnostics[0].location === "/States",
  "... of a definition with no terminal state: FAIL " + loop.diagnostics[0]?.code);
// A variable no state assigns: a warning, returned with severity WARNING only.
const warnDef = '{"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "Output": "{% $nobody %}", "End": true}}}';
const w0 = await call(admin, "ValidateStateMachineDefinition", { definition: warnDef });
const w1 = await call(admin, "ValidateStateMachineDefinition", { definition: warnDef, severity: "WARNING" });
check(w0.result === "OK" && w0.diagnostics.length === 0 && w1.result === "OK" && w1.diagnostics.length === 1 &&
  w1.diagnostics[0].severity === "WARNING" && w1.diagnostics[0].location === "/States/S/Output" &&
  w1.diagnostics[0].message === "Variable 'nobody' is possibly not defined.",
  "ValidateStateMachineDefinition: a warning only with severity WARNING: " + JSON.stringify(w1.diagnostics));
const created = await call(admin, "CreateStateMachine", { name: "image-pipeline", definition, roleArn: ROLE });
const sm = created.stateMachineArn;
check(sm === ARN + "stateMachine:image-pipeline" && created.creationDate instanceof Date,
  "CreateStateMachine: " + sm);
const d0 = await call(admin, "DescribeStateMachine", { stateMachineArn: sm });
check(d0.definition === definition && d0.status === "ACTIVE" && d0.type === "STANDARD",
  "DescribeStateMachine: the definition, ACTIVE, STANDARD");
const runs = [];
for (const [i, key] of photos.entries()) {
  const r = await call(starter, "StartExecution", {
    stateMachineArn: sm, name: `photo-${i}`, input: JSON.stringify({ bucket: "photos", key }),
  });
  runs.push(r.executionArn);
}
check(runs[0] === ARN + "execution:image-pipeline:photo-0", "StartExecution (starter key): " + runs[0]);
await expectError("the same name with another input", "ExecutionAlreadyExists", starter, "StartExecution",
  { stateMachineArn: sm, name: "photo-0", input: '{"bucket":"photos","key":"raw/other.jpg"}' });
let d;
for (const arn of runs) d = await waitStatus(starter, arn, "SUCCEEDED");
check(d.startDate instanceof Date && d.stopDate >= d.startDate && JSON.parse(d.output),
  "DescribeExecution: dates as Dates, the output");

console.log("--- histories");
const events = (await call(admin, "GetExecutionHistory", { executionArn: runs[0] })).events;
check(events[0].type === "ExecutionStarted" && events.at(-1).type === "ExecutionSucceeded",
  `GetExecutionHistory: ExecutionStarted .. ExecutionSucceeded (${events.length} events)`);
check(events.some((e) => e.type === "TaskStateEntered") && events[1].timestamp instanceof Date,
  "TaskStateEntered events, timestamps as Dates");
const paged = [];
let pages = 0;
for await (const page of sfn.paginateGetExecutionHistory({ client: admin, pageSize: 4 }, { executionArn: runs[0] })) {
  paged.push(...page.events);
  pages++;
}
check(pages > 1 && JSON.stringify(paged.map((e) => e.id)) === JSON.stringify(events.map((e) => e.id)),
  `the SDK's paginator: ${pages} pages of 4 give the same history`);
const rev = await call(admin, "GetExecutionHistory", { executionArn: runs[0], reverseOrder: true, maxResults: 2 });
check(rev.events[0].id === events.length && rev.events[1].id === events.length - 1 && rev.nextToken,
  "reverseOrder: the last events first, and a nextToken");
const bare = await call(admin, "GetExecutionHistory", { executionArn: runs[0], includeExecutionData: false });
check(!("input" in bare.events[0].executionStartedEventDetails), "includeExecutionData: false leaves the input out");
const listed = [];
for await (const page of sfn.paginateListExecutions({ client: admin, pageSize: 1 },
  { stateMachineArn: sm, statusFilter: "SUCCEEDED" })) listed.push(...page.executions.map((x) => x.name));
check(JSON.stringify(listed.sort()) === '["photo-0","photo-1","photo-2"]',
  "ListExecutions(statusFilter SUCCEEDED) in pages of 1: " + listed);
await expectError("DescribeExecution of an unknown execution", "ExecutionDoesNotExist", admin, "DescribeExecution",
  { executionArn: ARN + "execution:image-pipeline:nope" });
await expectError("StartExecution of an unknown machine", "StateMachineDoesNotExist", admin, "StartExecution",
  { stateMachineArn: ARN + "stateMachine:nope" });
await expectError("a name with a space", "InvalidName", admin, "StartExecution",
  { stateMachineArn: sm, name: "a b" });

console.log("--- human approval with task tokens");
const ha = (await call(admin, "CreateStateMachine", {
  name: "image-review", roleArn: ROLE,
  definition: readFileSync(E.EXAMPLES + "/human-approval/human-approval.asl.json", "utf8"),
})).stateMachineArn;
async function review(name) {
  const { executionArn } = await call(starter, "StartExecution", {
    stateMachineArn: ha, name,
    input: JSON.stringify({ bucket: "photos", key: E.WIDE_PHOTO, review: null, reviewTimeoutSeconds: 120 }),
  });
  const token = execFileSync(E.REVIEW_TOKEN, ["image-review:" + name], { encoding: "utf8" }).trim();
  check(token.length >= 32, `the review request of ${name} carries a task token`);
  return [executionArn, token];
}
let [arn, token] = await review("approve-1");
await call(starter, "SendTaskHeartbeat", { taskToken: token });
await call(starter, "SendTaskSuccess", { taskToken: token, output: '{"approved": true, "by": "node"}' });
d = await waitStatus(starter, arn, "SUCCEEDED");
check(JSON.parse(d.output).review?.by === "node", "approved by SendTaskSuccess: published with the review");
await expectError("the token again", "TaskDoesNotExist", starter, "SendTaskSuccess", { taskToken: token, output: "{}" });
[arn, token] = await review("reject-1");
await call(starter, "SendTaskFailure", { taskToken: token, error: "Review.Rejected", cause: "blurred" });
d = await waitStatus(starter, arn, "FAILED");
check(d.error === "Image.Rejected" && d.cause === "blurred", "rejected by SendTaskFailure: " + d.error);
await expectError("a token never issued", "InvalidToken", starter, "SendTaskSuccess",
  { taskToken: "0".repeat(32), output: "{}" });

console.log("--- activities");
const act = (await call(admin, "CreateActivity", { name: "tagging" })).activityArn;
check(act === ARN + "activity:tagging", "CreateActivity: " + act);
const asm = (await call(admin, "CreateStateMachine", {
  name: "tag-it", roleArn: ROLE, definition: JSON.stringify({
    StartAt: "Tag", States: { Tag: {
      Type: "Task", Resource: act, TimeoutSeconds: 300, HeartbeatSeconds: 60,
      Parameters: { "key.$": "$.key" }, ResultPath: "$.tags", End: true,
    } },
  }),
})).stateMachineArn;
// Two workers wait before the task exists (long polls): one gets it, the
// other gets no task once a second one is started.
const polls = [1, 2].map((n) => call(admin, "GetActivityTask", { activityArn: act, workerName: "node-" + n }));
await sleep(500);
arn = (await call(admin, "StartExecution", { stateMachineArn: asm, name: "tag-1", input: '{"key": "raw/photo-0002.jpg"}' }))
  .executionArn;
const arn2 = (await call(admin, "StartExecution", { stateMachineArn: asm, name: "tag-2", input: '{"key": "other"}' }))
  .executionArn;
const got = await Promise.all(polls);
const inputs = got.map((t) => JSON.parse(t.input).key).sort();
check(JSON.stringify(inputs) === '["other","raw/photo-0002.jpg"]' && got[0].taskToken !== got[1].taskToken,
  "two waiting GetActivityTask calls get one task each: " + inputs);
for (const t of got) {
  const key = JSON.parse(t.input).key;
  await call(admin, "SendTaskSuccess", { taskToken: t.taskToken, output: JSON.stringify({ tags: [key] }) });
}
d = await waitStatus(admin, arn, "SUCCEEDED");
check(JSON.parse(d.output).tags.tags[0] === "raw/photo-0002.jpg", "SendTaskSuccess completes the activity task");
await waitStatus(admin, arn2, "SUCCEEDED");

console.log("--- redrive");
// The activity task fails without a Catch: the execution FAILS at Tag; a
// redrive runs Tag again (its task is queued again) and nothing before it.
arn = (await call(admin, "StartExecution", { stateMachineArn: asm, name: "tag-3", input: '{"key": "k3"}' }))
  .executionArn;
let t = await call(admin, "GetActivityTask", { activityArn: act, workerName: "node-3" });
await call(admin, "SendTaskFailure", { taskToken: t.taskToken, error: "Tag.Unavailable", cause: "later" });
d = await waitStatus(admin, arn, "FAILED");
check(d.redriveCount === 0 && d.redriveStatus === "REDRIVABLE", `FAILED: redriveCount ${d.redriveCount}, ${d.redriveStatus}`);
await expectError("RedriveExecution of a SUCCEEDED execution", "ExecutionNotRedrivable", admin, "RedriveExecution",
  { executionArn: arn2 }).then((m) => check(m === "Execution is SUCCEEDED and cannot be redriven", "... " + m));
await expectError("RedriveExecution of an unknown execution", "ExecutionDoesNotExist", admin, "RedriveExecution",
  { executionArn: ARN + "execution:tag-it:nope" });
await expectError("starter: RedriveExecution", "AccessDeniedException", starter, "RedriveExecution",
  { executionArn: arn });
const rd = await call(admin, "RedriveExecution", { executionArn: arn, clientToken: "node-redrive-1" });
check(rd.redriveDate instanceof Date, "RedriveExecution gives the redrive date");
// A retry with the same clientToken is answered as the first call was; another token
// finds the execution RUNNING.
const rd2 = await call(admin, "RedriveExecution", { executionArn: arn, clientToken: "node-redrive-1" });
check(rd2.redriveDate?.getTime() === rd.redriveDate.getTime(), "the same clientToken again: the same redrive date");
await expectError("another clientToken while it runs", "ExecutionNotRedrivable", admin, "RedriveExecution",
  { executionArn: arn, clientToken: "node-redrive-2" })
  .then((m) => check(m === "Execution is RUNNING and cannot be redriven", "... " + m));
t = await call(admin, "GetActivityTask", { activityArn: act, workerName: "node-3" });
check(JSON.parse(t.input ?? "{}").key === "k3", "the redriven Tag's activity task, with the same input");
await call(admin, "SendTaskSuccess", { taskToken: t.taskToken, output: '{"tags": ["k3"]}' });
d = await waitStatus(admin, arn, "SUCCEEDED");
check(d.redriveCount === 1 && d.redriveDate instanceof Date && d.redriveStatus === "NOT_REDRIVABLE" &&
  d.redriveStatusReason === "Execution is SUCCEEDED and cannot be redriven",
  `SUCCEEDED after the redrive: redriveCount ${d.redriveCount}, ${d.redriveStatus} (${d.redriveStatusReason})`);
const hist = (await call(admin, "GetExecutionHistory", { executionArn: arn })).events;
const red = hist.find((e) => e.type === "ExecutionRedriven");
check(red?.executionRedrivenEventDetails?.redriveCount === 1, "GetExecutionHistory: ExecutionRedriven, redriveCount 1");
const after = hist.slice(hist.indexOf(red) + 1).filter((e) => e.stateEnteredEventDetails).map((e) => e.stateEnteredEventDetails.name);
check(JSON.stringify(after) === '["Tag"]', "after the redrive only Tag entered again: " + after);
const listedBy = async (redriveFilter) => (await call(admin, "ListExecutions", { stateMachineArn: asm, redriveFilter }))
  .executions.map((x) => `${x.name}:${x.redriveCount}`).sort().join(",");
check(await listedBy("REDRIVEN") === "tag-3:1", "ListExecutions(redriveFilter REDRIVEN): " + await listedBy("REDRIVEN"));
check(await listedBy("NOT_REDRIVEN") === "tag-1:0,tag-2:0",
  "ListExecutions(redriveFilter NOT_REDRIVEN): " + await listedBy("NOT_REDRIVEN"));

await call(admin, "DeleteActivity", { activityArn: act });
await expectError("DescribeActivity after DeleteActivity", "ActivityDoesNotExist", admin, "DescribeActivity",
  { activityArn: act });

console.log("--- express");
// StartSyncExecution's endpoint has the host prefix "sync-" in the SDK's
// model; against a loopback address the prefix is turned off.
const syncer = new sfn.SFNClient({
  endpoint: E.API_ENDPOINT, region: REGION, disableHostPrefix: true, maxAttempts: 1,
  credentials: { accessKeyId: E.ADMIN_KEY, secretAccessKey: E.ADMIN_SECRET },
  requestHandler: { requestTimeout: 70000 },
});
const echoChain = JSON.stringify({
  StartAt: "A",
  States: {
    A: { Type: "Task", Resource: "imgflow:test.echo", Next: "B" },
    B: { Type: "Task", Resource: "imgflow:test.echo", End: true },
  },
});
const xsm = (await call(admin, "CreateStateMachine", {
  name: "express-echo", definition: echoChain, roleArn: ROLE, type: "EXPRESS",
  loggingConfiguration: { level: "ERROR", includeExecutionData: true,
    destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: "arn:aws:logs:us-east-1:1:log-group:x:*" } }] },
})).stateMachineArn;
const xd = await call(admin, "DescribeStateMachine", { stateMachineArn: xsm });
check(xd.type === "EXPRESS" && xd.loggingConfiguration?.level === "ERROR" &&
  xd.loggingConfiguration?.includeExecutionData === true,
  `DescribeStateMachine: ${xd.type}, logging ${JSON.stringify(xd.loggingConfiguration)}`);
const xr = await call(syncer, "StartSyncExecution", { stateMachineArn: xsm, name: "x-1", input: '{"k":42}' });
check(xr.status === "SUCCEEDED" && JSON.parse(xr.output).k === 42 && xr.executionArn.startsWith(ARN + "express:express-echo:x-1:") &&
  xr.startDate instanceof Date && xr.stopDate >= xr.startDate && xr.billingDetails?.billedMemoryUsedInMB === 64 &&
  xr.billingDetails?.billedDurationInMilliseconds >= 100,
  `StartSyncExecution: ${xr.status}, output ${xr.output}, billing ${JSON.stringify(xr.billingDetails)}`);
await expectError("DescribeExecution of an EXPRESS execution", "InvalidArn", admin,
  "DescribeExecution", { executionArn: xr.executionArn });
const xs = await expectError("StopExecution of an EXPRESS execution", "InvalidArn", admin,
  "StopExecution", { executionArn: xr.executionArn });
check(xs === "Invalid Arn: 'Resource type not valid in this context: express'", "... " + xs);
const xf = (await call(admin, "CreateStateMachine", {
  name: "express-fail", roleArn: ROLE, type: "EXPRESS",
  definition: JSON.stringify({ StartAt: "F", States: { F: { Type: "Task", Resource: "imgflow:test.fail", End: true } } }),
})).stateMachineArn;
const xfr = await call(syncer, "StartSyncExecution", { stateMachineArn: xf });
check(xfr.status === "FAILED" && xfr.error && xfr.output === undefined,
  `StartSyncExecution of a failing machine: 200, ${xfr.status} ${xfr.error}`);
let xt = await expectError("StartSyncExecution of a STANDARD machine", "StateMachineTypeNotSupported", syncer,
  "StartSyncExecution", { stateMachineArn: sm });
check(xt === "StartSyncExecution is not available for STANDARD workflows", "... " + xt);
xt = await expectError("an EXPRESS machine with .waitForTaskToken", "InvalidDefinition", admin, "CreateStateMachine", {
  name: "express-cb", roleArn: ROLE, type: "EXPRESS",
  definition: '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","End":true}}}',
});
check(xt.includes("Express state machine does not support '.waitForTaskToken' service integration"), "... " + xt);
await expectError("a logging level LOUD", "InvalidLoggingConfiguration", admin, "CreateStateMachine", {
  name: "express-loud", roleArn: ROLE, type: "EXPRESS", definition: echoChain, loggingConfiguration: { level: "LOUD" },
});

console.log("--- refusals");
await expectError("an unknown access key", "UnrecognizedClientException",
  client("AKIAIMGFLOWUNKNOWN01", "whatever-whatever-whatever"), "ListStateMachines");
await expectError("a wrong secret", "InvalidSignatureException",
  client(E.ADMIN_KEY, "not-the-secret-not-the-secret"), "ListStateMachines");
let text = await expectError("a clock 6 minutes behind", "InvalidSignatureException",
  client(E.ADMIN_KEY, E.ADMIN_SECRET, { systemClockOffset: -6 * 60 * 1000 }), "ListStateMachines");
check(/^Signature expired/.test(text), "... Signature expired");
text = await expectError("a clock 6 minutes ahead", "InvalidSignatureException",
  client(E.ADMIN_KEY, E.ADMIN_SECRET, { systemClockOffset: 6 * 60 * 1000 }), "ListStateMachines");
check(/Signature not yet current/.test(text), "... Signature not yet current");
// As against AWS, the SDK corrects its clock from the answer's Date header and retries.
const skewed = client(E.ADMIN_KEY, E.ADMIN_SECRET, { systemClockOffset: -6 * 60 * 1000, maxAttempts: 3 });
const [st] = await errorOf(skewed, "ListStateMachines");
check(st === 200, "with retries the SDK corrects its clock from the Date header: " + st);
text = await expectError("starter: ListStateMachines", "AccessDeniedException", starter, "ListStateMachines");
check(text.includes("user/starter is not authorized to perform: states:ListStateMachines"),
  "... the text names the user and the action");
await expectError("starter: StopExecution", "AccessDeniedException", starter, "StopExecution",
  { executionArn: runs[0] });
text = await expectError("denier: DeleteStateMachine", "AccessDeniedException", denier, "DeleteStateMachine",
  { stateMachineArn: sm });
check(text.includes("explicit deny"), "... by an explicit deny");
check((await call(denier, "DescribeStateMachine", { stateMachineArn: sm })).name === "image-pipeline",
  "denier: DescribeStateMachine is allowed, and the machine is still there");

console.log(fails ? `${fails} failure(s)` : "all passed");
process.exit(fails ? 1 : 0);
