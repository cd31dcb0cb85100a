// SPDX-License-Identifier: MIT
//
// The Node.js runtime of imgflow-lambda: one process runs one function's
// handler (file.export, as Lambda's Handler names it) for one invocation at
// a time. The handler may be async (returns a promise) or take a callback
// (event, context, callback), as in Lambda's Node.js runtime; CommonJS
// (.js, .cjs) and ES modules (.mjs) both load.
//
// The framed protocol on the two pipes is bootstrap.py's (see there): a
// 4-byte big-endian length, then JSON. Errors are Lambda's Node.js error
// document: {"errorType", "errorMessage", "trace": [lines of the stack]}.

"use strict";

const fs = require("fs");
const path = require("path");
const url = require("url");

const FRAME_MAX = 6 * 1024 * 1024;
const fdIn = Number(process.env.IMGFLOW_LAMBDA_FD_IN);
const fdOut = Number(process.env.IMGFLOW_LAMBDA_FD_OUT);
delete process.env.IMGFLOW_LAMBDA_FD_IN;
delete process.env.IMGFLOW_LAMBDA_FD_OUT;

function writeFrame(obj) {
  const body = Buffer.from(JSON.stringify(obj));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  const buf = Buffer.concat([head, body]);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fdOut, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
    }
  }
}

function errorDoc(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name && err.name !== "Error" ? err.name : (err.constructor && err.constructor.name) || "Error",
      errorMessage: err.message,
      trace: String(err.stack || "").split("\n"),
    };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

async function loadHandler(spec) {
  const root = process.env.LAMBDA_TASK_ROOT || ".";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) {
    throw Object.assign(new Error(`Bad handler ${spec}`), { name: "Runtime.MalformedHandlerName" });
  }
  const modPath = path.resolve(root, spec.slice(0, dot));
  const name = spec.slice(dot + 1);
  let mod;
  const candidates = [".js", ".mjs", ".cjs"].map((e) => modPath + e).filter((p) => fs.existsSync(p));
  if (candidates.length === 0) {
    throw Object.assign(new Error(`Cannot find module '${spec.slice(0, dot)}'`), { name: "Runtime.ImportModuleError" });
  }
  try {
    const file = candidates[0];
    if (file.endsWith(".mjs")) mod = await import(url.pathToFileURL(file).href);
    else mod = require(file);
  } catch (e) {
    if (e instanceof SyntaxError) throw Object.assign(e, { name: "Runtime.UserCodeSyntaxError" });
    throw Object.assign(e, { name: e.code === "MODULE_NOT_FOUND" ? "Runtime.ImportModuleError" : e.name });
  }
  const fn = mod[name] || (mod.default && mod.default[name]);
  if (typeof fn !== "function") {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  }
  return fn;
}

function makeContext(req) {
  const deadline = Number(req.deadlineMs || 0);
  return {
    awsRequestId: req.requestId,
    functionName: req.functionName,
    functionVersion: req.functionVersion || "$LATEST",
    invokedFunctionArn: req.invokedFunctionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: req.logGroupName,
    logStreamName: req.logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
}

function invoke(handler, req) {
  return new Promise((resolve, reject) => {
    const context = makeContext(req);
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e || new Error("handled"));
    try {
      const r = handler(req.event, context, callback);
      if (r && typeof r.then === "function") r.then((v) => callback(null, v), (e) => callback(e));
      else if (handler.length < 3) callback(null, r);
    } catch (e) {
      callback(e);
    }
  });
}

// Reads frames from fdIn one request at a time (readSync on a pipe blocks
// the process between invocations, which is what a runtime does).
function readExact(n) {
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    let k;
    try {
      k = fs.readSync(fdIn, buf, off, n - off, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      throw e;
    }
    if (k === 0) return null;
    off += k;
  }
  return buf;
}

function readFrame() {
  const head = readExact(4);
  if (!head) return null;
  const n = head.readUInt32BE(0);
  if (n > FRAME_MAX) throw new Error(`frame of ${n} bytes`);
  const body = readExact(n);
  return body ? JSON.parse(body.toString()) : null;
}

async function main() {
  process.chdir(process.env.LAMBDA_TASK_ROOT || ".");
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || "");
  } catch (e) {
    writeFrame({ type: "initError", error: errorDoc(e) });
    process.exit(1);
  }
  writeFrame({ type: "ready" });
  for (;;) {
    const req = readFrame();
    if (!req) process.exit(0);
    try {
      const result = await invoke(handler, req);
      let msg;
      try {
        msg = { type: "result", payload: result === undefined ? null : result };
        JSON.stringify(msg);
      } catch (e) {
        writeFrame({ type: "error", fatal: false,
                     error: { errorType: "Runtime.MarshalError", errorMessage: `Unable to stringify response body: ${e.message}`, trace: [] } });
        continue;
      }
      writeFrame(msg);
    } catch (e) {
      writeFrame({ type: "error", error: errorDoc(e), fatal: false });
    }
  }
}

process.on("unhandledRejection", (reason) => {
  writeFrame({ type: "error", error: errorDoc(reason), fatal: true });
  process.exit(1);
});

main();
