# Writes jaeger-post-spans.pb: the first batch of crates/codec/src/jaeger/test_fixture.rs
# (kitchen_sink_batches) as a jaeger.api_v2.PostSpansRequest, serialised by the protobuf
# classes that opentelemetry-exporter-jaeger-proto-grpc 1.21.0 generated from Jaeger's
# model.proto and collector.proto (a real encoder, not weft's prost structs).
#   .venv-classic/bin/python crates/codec/testdata/jaeger_proto_seed.py crates/codec/testdata
import struct
import sys

from opentelemetry.exporter.jaeger.proto.grpc.gen import collector_pb2, model_pb2 as m

def kv(key, **kw):
    kinds = {'v_str': m.STRING, 'v_bool': m.BOOL, 'v_int64': m.INT64,
             'v_float64': m.FLOAT64, 'v_binary': m.BINARY}
    (field,) = kw
    return m.KeyValue(key=key, v_type=kinds[field], **kw)

def ts(micros):
    return {'seconds': micros // 1_000_000, 'nanos': micros % 1_000_000 * 1000}

def trace_id(high, low):
    return struct.pack('>QQ', high, low)

def span_id(value):
    return struct.pack('>q', value)

high, low = 0x463ac35c9f6413ad, 0x48485a3953bb6124
process = m.Process(service_name='frontend', tags=[
    kv('hostname', v_str='web-1'), kv('jaeger.version', v_str='Python-4.8.0'),
    kv('cpu.load', v_float64=0.5), kv('canary', v_bool=False), kv('pid', v_int64=4242),
    kv('token', v_binary=b'\xde\xad')])
root = m.Span(
    trace_id=trace_id(high, low), span_id=span_id(0x0102030405060708),
    operation_name='HTTP GET /dispatch', flags=1,
    start_time=ts(1700000000123456), duration=ts(250000),
    tags=[kv('span.kind', v_str='server'), kv('http.method', v_str='GET'),
          kv('http.status_code', v_int64=200), kv('sampler.param', v_bool=True),
          kv('ratio', v_float64=0.25), kv('blob', v_binary=b'\x00\x01\x02'),
          kv('w3c.tracestate', v_str='rojo=00f067aa0ba902b7'),
          kv('otel.scope.name', v_str='frontend-lib'), kv('otel.scope.version', v_str='1.2.3'),
          kv('otel.library.name', v_str='frontend-lib')],
    logs=[m.Log(timestamp=ts(1700000000130000),
                fields=[kv('event', v_str='cache miss'), kv('key', v_str='customer:123')]),
          m.Log(timestamp=ts(1700000000140000),
                fields=[kv('message', v_str='no event field'), kv('level', v_int64=3)])])
weird = m.KeyValue(key='weird')
weird.v_type = 9  # an enum number Jaeger does not define (proto3 keeps it)
client = m.Span(
    trace_id=trace_id(high, low), span_id=span_id(-2), operation_name='GET', flags=3,
    start_time=ts(1700000000150000), duration=ts(90000),
    references=[
        m.SpanRef(trace_id=trace_id(high, low), span_id=span_id(0x0102030405060708), ref_type=m.CHILD_OF),
        m.SpanRef(trace_id=trace_id(0, 99), span_id=span_id(5), ref_type=m.FOLLOWS_FROM),
        m.SpanRef(trace_id=trace_id(0, 0), span_id=span_id(0), ref_type=m.CHILD_OF)],
    tags=[kv('span.kind', v_str='client'), kv('peer.service', v_str='customer'),
          kv('error', v_bool=True), kv('otel.status_description', v_str='connection refused'),
          kv('otel.status_code', v_str='ERROR'), weird],
    logs=[m.Log(timestamp=ts(1700000000200000),
                fields=[kv('error.kind', v_str='ConnectionError'), kv('event', v_str='error')])])
request = collector_pb2.PostSpansRequest(batch=m.Batch(spans=[root, client], process=process))
open(sys.argv[1] + '/jaeger-post-spans.pb', 'wb').write(request.SerializeToString())
