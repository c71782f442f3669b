// Samples with OpenTelemetry JS's `jaeger_remote` sampler (@opentelemetry/sampler-jaeger-remote)
// polling weft's sampling endpoint, and exports what it sampled with the OTLP/HTTP exporter.
// Driven by tests/blackbox/test_remote_sampling.py:
//
//   node otel_jaeger_remote_sampling.js SAMPLING_URL OTLP_TRACES_URL SERVICE TRACES OP[,OP...]
//
// Waits (up to 15 s) until the sampler has replaced its initial always-off sampler with what
// weft served, then starts TRACES root spans, cycling through the operations, and counts
// per operation how many the sampler kept. Prints one JSON object:
// {"sampler": "<the sampler in use>", "operations": {OP: {"created", "sampled"}},
//  "sampled_trace_ids": [...], "exported": true|false}.
'use strict';

const { SpanKind } = require('@opentelemetry/api');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { AlwaysOffSampler, BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
const { JaegerRemoteSampler } = require('@opentelemetry/sampler-jaeger-remote');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');

const WAIT_FOR_STRATEGY_MS = 15000;

async function main() {
  const [samplingUrl, otlpUrl, service, tracesText, operationsText] = process.argv.slice(2);
  const traces = Number(tracesText);
  const operations = operationsText.split(',');
  const initialSampler = new AlwaysOffSampler();
  const sampler = new JaegerRemoteSampler({
    endpoint: samplingUrl,
    serviceName: service,
    poolingInterval: 200,
    initialSampler,
  });
  const deadline = Date.now() + WAIT_FOR_STRATEGY_MS;
  while (sampler._sampler === initialSampler && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const exporter = new OTLPTraceExporter({ url: otlpUrl });
  const provider = new TracerProvider({
    sampler,
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: 10000,
        maxExportBatchSize: 500,
        scheduledDelayMillis: 100,
      }),
    ],
  });
  const tracer = provider.getTracer('weft-blackbox');
  const counts = {};
  for (const operation of operations) {
    counts[operation] = { created: 0, sampled: 0 };
  }
  const sampledTraceIds = [];
  for (let index = 0; index < traces; index += 1) {
    const operation = operations[index % operations.length];
    const span = tracer.startSpan(operation, { kind: SpanKind.SERVER });
    counts[operation].created += 1;
    if (span.spanContext().traceFlags & 1) {
      counts[operation].sampled += 1;
      sampledTraceIds.push(span.spanContext().traceId);
    }
    span.end();
  }
  let exported = true;
  try {
    await provider.forceFlush();
    await provider.shutdown();
  } catch (error) {
    exported = false;
    process.stderr.write(`export failed: ${error}\n`);
  }
  process.stdout.write(
    `${JSON.stringify({
      sampler: String(sampler._sampler),
      operations: counts,
      sampled_trace_ids: sampledTraceIds,
      exported,
    })}\n`,
  );
}

main().then(
  // The sampler polls on an interval that keeps node alive.
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
