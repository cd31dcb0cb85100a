// SPDX-License-Identifier: MIT
//
// A third-party Kafka client against an imgflow stack: kafkajs (a protocol
// implementation of its own, not librdkafka) as an idempotent producer of
// jobs and a consumer-group member reading notifications.
//
//   node kafkajs-client.js BOOTSTRAP STATE_MACHINE COUNT TIMEOUT_SECONDS
//
// Publishes COUNT StartExecution jobs (names kjs-0.., input {"i": n}, keyed
// by name) to imgflow.jobs with `idempotent: true` (kafkajs then asks the
// broker for a producer id and numbers its batches, and acks must be all),
// then reads imgflow.notifications in the group imgflow-kafkajs-test until
// every execution has its terminal ExecutionStatusChanged (duplicates
// dropped by `id`, as docs/messages.md says), or the timeout. Prints one
// line of JSON: {"idempotent", "sent", "terminal", "statuses": {...},
// "outputs": {name: output}, "duplicates"} and exits 0 when every
// execution reported a terminal status.
'use strict';
const { Kafka, Partitioners, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, sm, countArg, timeoutArg] = process.argv.slice(2);
  const count = parseInt(countArg, 10);
  const deadline = Date.now() + parseInt(timeoutArg, 10) * 1000;
  const kafka = new Kafka({ clientId: 'imgflow-kafkajs-test', brokers: bootstrap.split(','),
                            logLevel: logLevel.WARN, retry: { retries: 10 } });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1,
                                    createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) {
    const name = 'kjs-' + i;
    messages.push({ key: name, value: JSON.stringify({ v: 1, type: 'StartExecution', stateMachine: sm,
                                                       name, input: { i } }) });
  }
  // Two sends: the second batch goes out on the same producer id with
  // higher sequence numbers.
  await producer.send({ topic: 'imgflow.jobs', acks: -1, messages: messages.slice(0, count / 2) });
  await producer.send({ topic: 'imgflow.jobs', acks: -1, messages: messages.slice(count / 2) });
  const idempotent = producer.isIdempotent();
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'imgflow-kafkajs-test', maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'imgflow.notifications', fromBeginning: true });
  const seen = new Set();
  const statuses = {};
  const outputs = {};
  let duplicates = 0;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const terminal = () => Object.values(statuses).filter((s) => s !== 'RUNNING').length;
  await consumer.run({
    eachMessage: async ({ message }) => {
      let m;
      try {
        m = JSON.parse(message.value.toString());
      } catch (e) {
        return;
      }
      if (m.type !== 'ExecutionStatusChanged' || !String(m.executionId).startsWith(sm + ':kjs-')) return;
      if (seen.has(m.id)) {
        duplicates++;
        return;
      }
      seen.add(m.id);
      const name = m.executionName;
      if (statuses[name] === undefined || m.status !== 'RUNNING') statuses[name] = m.status;
      if (m.status === 'SUCCEEDED') outputs[name] = m.output;
      if (terminal() >= count) finish();
    },
  });
  const timer = setInterval(() => { if (Date.now() > deadline) finish(); }, 200);
  await done;
  clearInterval(timer);
  await consumer.disconnect();
  const result = { idempotent, sent: count, terminal: terminal(), statuses, outputs, duplicates };
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.terminal === count ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write('kafkajs-client: ' + (e.stack || e) + '\n');
  process.exit(2);
});
