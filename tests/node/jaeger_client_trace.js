// Records a two-service trace with the real jaeger-client for Node (npm jaeger-client),
// which reports binary Thrift `Agent.emitBatch` datagrams to the agent's UDP port (6832 by
// default; here the port given).
//
//   node jaeger_client_trace.js <agent udp port>
//
// Prints one JSON object on stdout in the shape of
// tests/blackbox/classic_drivers/jaeger_client_trace.py: {"trace_id", "flushed",
// "spans": [{name, service, trace_id, span_id, parent_id, references, start_us,
// duration_us, tags, logs}]}. The black-box test (test_classic_jaeger_client.py) reads the
// trace back and compares.
'use strict';

const { initTracer } = require('jaeger-client');
const opentracing = require('opentracing');

const agentPort = Number(process.argv[2]);
if (!agentPort) {
  process.stderr.write('usage: node jaeger_client_trace.js <agent udp port>\n');
  process.exit(2);
}

const silent = { info() {}, error(message) { process.stderr.write(`jaeger-client: ${message}\n`); } };

function newTracer(service, processTags) {
  return initTracer(
    {
      serviceName: service,
      sampler: { type: 'const', param: 1 },
      reporter: { agentHost: '127.0.0.1', agentPort, flushIntervalMs: 50 },
    },
    { logger: silent, tags: processTags, traceId128bit: true },
  );
}

const frontend = newTracer('frontend', { 'deployment.environment': 'blackbox', region: 'eu-1' });
const backend = newTracer('backend', { 'deployment.environment': 'blackbox' });

// explicit times in whole milliseconds (jaeger-client takes ms), a second ago
const t0 = Date.now() - 1000;
const record = [];

function finish(span, service, endMs, tags, logs, references = []) {
  span.finish(endMs);
  const context = span.context();
  record.push({
    name: span.operationName,
    service,
    trace_id: context.traceIdStr.padStart(32, '0'),
    span_id: context.spanIdStr.padStart(16, '0'),
    parent_id: context.parentIdStr ? context.parentIdStr.padStart(16, '0') : null,
    references,
    start_us: span._startTime * 1000,
    duration_us: (endMs - span._startTime) * 1000,
    tags,
    logs,
  });
}

const rootTags = {
  'span.kind': 'server', 'http.method': 'GET', 'http.status_code': 200, 'retry.ratio': 12.5, 'feature.enabled': true,
};
const root = frontend.startSpan('get /checkout', { startTime: t0, tags: rootTags });
root.log({ event: 'request.received' }, t0 + 1);
const clientTags = { 'span.kind': 'client', 'peer.service': 'backend', 'http.url': 'http://backend:9000/reserve' };
const client = frontend.startSpan('call backend', { childOf: root.context(), startTime: t0 + 2, tags: clientTags });
const headers = {};
frontend.inject(client.context(), opentracing.FORMAT_HTTP_HEADERS, headers);

// --- the backend process: only the propagated headers cross over ---
const incoming = backend.extract(opentracing.FORMAT_HTTP_HEADERS, headers);
const serverTags = { 'span.kind': 'server', 'http.route': '/reserve' };
const server = backend.startSpan('post /reserve', { childOf: incoming, startTime: t0 + 3, tags: serverTags });
const queryTags = {
  'span.kind': 'client', 'peer.service': 'db', 'db.statement': 'SELECT qty FROM stock WHERE sku = $1', 'db.rows': 3,
};
const query = backend.startSpan('select stock', { childOf: server.context(), startTime: t0 + 4, tags: queryTags });
query.log({ event: 'cache.miss', 'cache.key': 'sku-1', 'cache.size': 3 }, t0 + 5);
finish(query, 'backend', t0 + 8, queryTags,
  [{ ts_us: (t0 + 5) * 1000, event: 'cache.miss', fields: { 'cache.key': 'sku-1', 'cache.size': 3 } }]);
const charge = backend.startSpan('charge card', { childOf: server.context(), startTime: t0 + 9 });
charge.setTag('error', true);
charge.setTag('payment.provider', 'acme');
charge.log({ event: 'error', message: 'card declined' }, t0 + 10);
finish(charge, 'backend', t0 + 11, { error: true, 'payment.provider': 'acme' },
  [{ ts_us: (t0 + 10) * 1000, event: 'error', fields: { message: 'card declined' } }]);
const audit = backend.startSpan('audit log', {
  references: [opentracing.followsFrom(server.context())], startTime: t0 + 12,
});
finish(audit, 'backend', t0 + 13, {}, [], [['FOLLOWS_FROM', server.context().spanIdStr.padStart(16, '0')]]);
finish(server, 'backend', t0 + 14, serverTags, []);
finish(client, 'frontend', t0 + 15, clientTags, []);
finish(root, 'frontend', t0 + 16, rootTags, [{ ts_us: (t0 + 1) * 1000, event: 'request.received', fields: {} }]);

const flushed = [];
function done() {
  process.stdout.write(`${JSON.stringify({ trace_id: record[0].trace_id, flushed, spans: record })}\n`);
  process.exit(0);
}
const timer = setTimeout(done, 10000);
frontend.close(() => {
  flushed.push(true);
  backend.close(() => {
    flushed.push(true);
    clearTimeout(timer);
    done();
  });
});
