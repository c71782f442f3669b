// Records a two-service trace with the real zipkin-js Tracer + BatchRecorder and sends it
// with zipkin-transport-http's HttpLogger (JSON v2) to `<zipkin base url>/api/v2/spans`.
//
//   node zipkin_js_trace.js http://127.0.0.1:9411
//
// Prints one JSON object on stdout: {"spans": [...every span exactly as HttpLogger encoded
// it...], "responses": [HTTP status of each POST], "errors": [...]}. The black-box test
// (tests/blackbox/test_classic_zipkin_js.py) reads the trace back and compares.
// Exits non-zero if the transport reported an error or nothing was acknowledged in 15 s.
'use strict';

const {
  Annotation, BatchRecorder, ExplicitContext, InetAddress, Tracer, jsonEncoder, option, TraceId,
} = require('zipkin');
const { HttpLogger } = require('zipkin-transport-http');

const baseUrl = process.argv[2];
if (!baseUrl) {
  process.stderr.write('usage: node zipkin_js_trace.js <zipkin base url>\n');
  process.exit(2);
}

const sent = [];
const responses = [];
const errors = [];
const http = new HttpLogger({
  endpoint: `${baseUrl}/api/v2/spans`,
  jsonEncoder: jsonEncoder.JSON_V2,
  httpInterval: 100,
  timeout: 5000,
});
http.on('success', (response) => responses.push(response.status));
http.on('error', (error) => errors.push(String(error)));

// A logger that records what HttpLogger encodes, then hands the span to HttpLogger.
const logger = {
  logSpan(span) {
    sent.push(JSON.parse(jsonEncoder.JSON_V2.encode(span)));
    http.logSpan(span);
  },
};

function tracerFor(service) {
  return new Tracer({
    ctxImpl: new ExplicitContext(),
    recorder: new BatchRecorder({ logger }),
    localServiceName: service,
    traceId128Bit: true,
  });
}

const frontend = tracerFor('frontend');
const backend = tracerFor('backend');

// t0: five seconds ago, in epoch microseconds; every time below is explicit.
const t0 = Date.now() * 1000 - 5000000 + 123;

// frontend SERVER "get /checkout" (root)
const rootId = frontend.createRootId(new option.Some(true));
frontend.setId(rootId);
frontend.recordServiceName('frontend');
frontend.recordRpc('get /checkout');
frontend.recordBinary('http.method', 'GET');
frontend.recordBinary('http.path', '/checkout');
frontend.recordAnnotation(new Annotation.ServerRecv(), t0);
frontend.recordAnnotation(new Annotation.LocalAddr({ host: new InetAddress('10.0.0.1'), port: 8080 }), t0);
frontend.recordAnnotation(new Annotation.Message('request.received'), t0 + 1000);

// frontend CLIENT "call backend", child of the root
const clientId = frontend.createChildId(rootId);
frontend.setId(clientId);
frontend.recordServiceName('frontend');
frontend.recordRpc('call backend');
frontend.recordAnnotation(new Annotation.ClientSend(), t0 + 10000);
frontend.recordAnnotation(new Annotation.ServerAddr({ serviceName: 'backend', port: 9000 }), t0 + 10000);
frontend.recordBinary('http.url', 'http://backend:9000/reserve');

// backend SERVER "post /reserve": joins the propagated id (same span id, shared)
const propagated = new TraceId({
  traceId: clientId.traceId,
  parentId: new option.Some(clientId.parentSpanId.getOrElse()),
  spanId: clientId.spanId,
  sampled: new option.Some(true),
});
const serverId = backend.join(propagated);
backend.setId(serverId);
backend.recordServiceName('backend');
backend.recordRpc('post /reserve');
backend.recordAnnotation(new Annotation.ServerRecv(), t0 + 20000);
backend.recordBinary('http.route', '/reserve');

// backend CLIENT "select stock" to an uninstrumented database
const queryId = backend.createChildId(serverId);
backend.setId(queryId);
backend.recordServiceName('backend');
backend.recordRpc('select stock');
backend.recordAnnotation(new Annotation.ClientSend(), t0 + 30000);
backend.recordAnnotation(new Annotation.ServerAddr({ serviceName: 'db', port: 5432 }), t0 + 30000);
backend.recordBinary('db.statement', 'SELECT qty FROM stock WHERE sku = $1');
backend.recordAnnotation(new Annotation.ClientRecv(), t0 + 70000);

// backend local span "charge card" that fails
const chargeId = backend.createChildId(serverId);
backend.setId(chargeId);
backend.recordServiceName('backend');
backend.recordAnnotation(new Annotation.LocalOperationStart('charge card'), t0 + 80000);
backend.recordAnnotation(new Annotation.Message('retrying'), t0 + 90000);
backend.recordBinary('error', 'card declined');
backend.recordAnnotation(new Annotation.LocalOperationStop(), t0 + 120000);

backend.setId(serverId);
backend.recordAnnotation(new Annotation.ServerSend(), t0 + 150000);
frontend.setId(clientId);
frontend.recordAnnotation(new Annotation.ClientRecv(), t0 + 160000);
frontend.setId(rootId);
frontend.recordAnnotation(new Annotation.ServerSend(), t0 + 200000);

http.processQueue(globalThis.fetch || require('node-fetch'));

const deadline = Date.now() + 15000;
const timer = setInterval(() => {
  const acknowledged = responses.length > 0;
  if (acknowledged || errors.length > 0 || Date.now() > deadline) {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ t0, spans: sent, responses, errors })}\n`);
    process.exit(acknowledged && errors.length === 0 ? 0 : 1);
  }
}, 20);
