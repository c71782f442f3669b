// Logs lines through the real winston-loki transport (snappy-compressed protobuf, its
// default) to a Loki push API and waits until the transport has them acknowledged.
//
//   node winston_loki_push.js http://127.0.0.1:3100 <run id>
//
// Prints one JSON object on stdout: {"lines": [{"level", "message", "labels"}...],
// "errors": [...]}. The black-box test (tests/blackbox/test_logs_clients.py) reads the
// lines back through query_range and compares. Exits non-zero if the transport
// reported an error or the flush did not finish in 15 s.
'use strict';

const winston = require('winston');
const LokiTransport = require('winston-loki');

const [host, run] = process.argv.slice(2);
if (!host || !run) {
  process.stderr.write('usage: node winston_loki_push.js <loki base url> <run id>\n');
  process.exit(2);
}

const errors = [];
const transport = new LokiTransport({
  host,
  labels: { app: 'winston', run },
  json: false,
  batching: true,
  interval: 0.2,
  timeout: 5000,
  gracefulShutdown: false,
  onConnectionError: (error) => errors.push(String(error && error.message ? error.message : error)),
});
const logger = winston.createLogger({ transports: [transport] });

const lines = [
  { level: 'info', message: `winston first ${run}` },
  { level: 'warn', message: `winston second ${run}` },
  { level: 'error', message: `winston third ${run}` },
];

async function main() {
  for (const line of lines) {
    logger.log(line.level, line.message);
    // Distinct millisecond timestamps keep the order the test expects.
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  const deadline = setTimeout(() => {
    errors.push('flush did not finish in 15 s');
    finish();
  }, 15000);
  await transport.flush();
  // flush() resolves once the batch is answered; a refused batch is reported through
  // onConnectionError on the same tick.
  clearTimeout(deadline);
  finish();
}

function finish() {
  process.stdout.write(JSON.stringify({ lines, errors }) + '\n');
  transport.close();
  process.exit(errors.length === 0 ? 0 : 1);
}

main().catch((error) => {
  errors.push(String(error));
  finish();
});
