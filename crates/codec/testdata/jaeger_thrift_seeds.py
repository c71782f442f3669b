# Writes jaeger-{agent-compact,agent-binary,collector-batch}.thrift: the first batch of
# crates/codec/src/jaeger/test_fixture.rs (kitchen_sink_batches) serialised by
# jaeger-client 4.8.0's own generated Thrift code with Apache Thrift 0.25.0's Python
# protocols, as the agent's emitBatch datagrams (compact, binary) and as a bare Batch.
#   .venv-classic/bin/python crates/codec/testdata/jaeger_thrift_seeds.py crates/codec/testdata
import sys
from thrift.transport import TTransport
from thrift.protocol import TCompactProtocol, TBinaryProtocol
from jaeger_client.thrift_gen.jaeger import ttypes as j
from jaeger_client.thrift_gen.agent import Agent

# The generated (Python 2 era) code writes binary fields with writeString; let it pass bytes.
from thrift.protocol.TProtocol import TProtocolBase
_write_string = TProtocolBase.writeString
TProtocolBase.writeString = lambda self, v: self.writeBinary(v) if isinstance(v, bytes) else _write_string(self, v)

def tag(key, **kw):
    if 'vStr' in kw: t = j.TagType.STRING
    elif 'vDouble' in kw: t = j.TagType.DOUBLE
    elif 'vBool' in kw: t = j.TagType.BOOL
    elif 'vLong' in kw: t = j.TagType.LONG
    else: t = j.TagType.BINARY
    return j.Tag(key=key, vType=t, **kw)

process = j.Process(serviceName='frontend', tags=[
    tag('hostname', vStr='web-1'), tag('jaeger.version', vStr='Python-4.8.0'),
    tag('cpu.load', vDouble=0.5), tag('canary', vBool=False), tag('pid', vLong=4242),
    tag('token', vBinary=b'\xde\xad')])
high, low = 0x463ac35c9f6413ad, 0x48485a3953bb6124
root = j.Span(traceIdLow=low, traceIdHigh=high, spanId=0x0102030405060708, parentSpanId=0,
    operationName='HTTP GET /dispatch', flags=1, startTime=1700000000123456, duration=250000,
    tags=[tag('span.kind', vStr='server'), tag('http.method', vStr='GET'),
          tag('http.status_code', vLong=200), tag('sampler.param', vBool=True),
          tag('ratio', vDouble=0.25), tag('blob', vBinary=b'\x00\x01\x02'),
          tag('w3c.tracestate', vStr='rojo=00f067aa0ba902b7'),
          tag('otel.scope.name', vStr='frontend-lib'), tag('otel.scope.version', vStr='1.2.3'),
          tag('otel.library.name', vStr='frontend-lib')],
    logs=[j.Log(timestamp=1700000000130000, fields=[tag('event', vStr='cache miss'), tag('key', vStr='customer:123')]),
          j.Log(timestamp=1700000000140000, fields=[tag('message', vStr='no event field'), tag('level', vLong=3)])])
client = j.Span(traceIdLow=low, traceIdHigh=high, spanId=-2, parentSpanId=0x0102030405060708,
    operationName='GET', flags=3, startTime=1700000000150000, duration=90000,
    references=[j.SpanRef(refType=j.SpanRefType.CHILD_OF, traceIdLow=low, traceIdHigh=high, spanId=0x0102030405060708),
                j.SpanRef(refType=j.SpanRefType.FOLLOWS_FROM, traceIdLow=99, traceIdHigh=0, spanId=5),
                j.SpanRef(refType=j.SpanRefType.CHILD_OF, traceIdLow=0, traceIdHigh=0, spanId=0)],
    tags=[tag('span.kind', vStr='client'), tag('peer.service', vStr='customer'), tag('error', vBool=True),
          tag('otel.status_description', vStr='connection refused'), tag('otel.status_code', vStr='ERROR'),
          j.Tag(key='weird', vType=9)],
    logs=[j.Log(timestamp=1700000000200000, fields=[tag('error.kind', vStr='ConnectionError'), tag('event', vStr='error')])])
batch = j.Batch(process=process, spans=[root, client])

def agent(proto_factory):
    buf = TTransport.TMemoryBuffer()
    # What Agent.Client.send_emitBatch writes (its constructor wants tornado factories).
    from thrift.Thrift import TMessageType
    protocol = proto_factory(buf)
    protocol.writeMessageBegin('emitBatch', TMessageType.ONEWAY, 3)
    args = Agent.emitBatch_args()
    args.batch = batch
    args.write(protocol)
    protocol.writeMessageEnd()
    return buf.getvalue()

def bare(proto_factory):
    buf = TTransport.TMemoryBuffer()
    batch.write(proto_factory(buf))
    return buf.getvalue()

out = sys.argv[1]
open(out + '/jaeger-agent-compact.thrift', 'wb').write(agent(TCompactProtocol.TCompactProtocol))
open(out + '/jaeger-agent-binary.thrift', 'wb').write(agent(TBinaryProtocol.TBinaryProtocol))
open(out + '/jaeger-collector-batch.thrift', 'wb').write(bare(TBinaryProtocol.TBinaryProtocol))
