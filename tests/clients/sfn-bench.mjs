// SPDX-License-Identifier: MIT
// StartExecution through imgflow-api with the Node AWS SDK v3, for
// tests/bench/bench-api.sh: COUNT requests named PREFIX-<i> on CONNECTIONS
// keep-alive connections (one http.Agent, at most CONNECTIONS sockets, each
// connection a loop of one request at a time), every request signed by the
// SDK. Prints one JSON object: the requests, the failures, the first send
// and the last answer (ms since the epoch), the sockets the agent opened,
// and each request's latency in microseconds (send to parsed answer).
//
//   node sfn-bench.mjs ENDPOINT REGION KEY SECRET STATE_MACHINE_ARN PREFIX COUNT CONNECTIONS
import http from "node:http";
import { SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";

const [endpoint, region, key, secret, sm, prefix, countArg, connArg] = process.argv.slice(2);
const count = Number(countArg);
const connections = Number(connArg);
let sockets = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const create = agent.createConnection.bind(agent);
agent.createConnection = (...args) => {
  sockets++;
  return create(...args);
};
const client = new SFNClient({
  endpoint, region, credentials: { accessKeyId: key, secretAccessKey: secret }, maxAttempts: 1,
  requestHandler: { httpAgent: agent, requestTimeout: 60000 },
});

const latencies = [];
let next = 0;
let failures = 0;
let firstError = null;
async function loop() {
  while (next < count) {
    const i = next++;
    const t0 = process.hrtime.bigint();
    try {
      await client.send(new StartExecutionCommand({ stateMachineArn: sm, name: `${prefix}-${i}`, input: `{"i": ${i}}` }));
      latencies.push(Number((process.hrtime.bigint() - t0) / 1000n));
    } catch (e) {
      failures++;
      firstError ??= `${e.name}: ${e.message}`;
    }
  }
}
const start = Date.now();
await Promise.all(Array.from({ length: connections }, loop));
const end = Date.now();
console.log(JSON.stringify({ requests: count, failures, firstError, startMs: start, endMs: end, sockets, latenciesUs: latencies }));
agent.destroy();
