// The reference implementation's side of jsonata-differential.sh: reads the
// same lines as `jsonata-suite --lines` and writes the same kind of answer.
// Run with NODE_PATH pointing at a node_modules that holds jsonata.
'use strict';
const jsonata = require('jsonata');
const readline = require('readline');

const rl = readline.createInterface({ input: process.stdin });
const lines = [];
rl.on('line', (l) => lines.push(l));
rl.on('close', async () => {
  for (const l of lines) {
    const c = JSON.parse(l);
    let out;
    try {
      const expr = jsonata(c.expr);
      // the same clock as the C side
      const r = await expr.evaluate(c.data === null ? undefined : c.data, { now: () => '', millis: () => 1700000000000 });
      out = r === undefined ? { undefined: true } : { result: JSON.parse(JSON.stringify(r)) };
      if (out.result === undefined && r !== undefined) out = { undefined: true };
    } catch (e) {
      out = { code: e.code || 'JS' };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
});
