//! Test requests in protobuf: just enough of `zipkin.proto3` (prost, hand-written), and
//! `jaeger.api_v2` from `weft-codec`'s own message types.

use weft_codec::jaeger::proto as jaeger;

/// `zipkin.proto3.ListOfSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZipkinListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ZipkinSpan>,
}

/// `zipkin.proto3.Span` (the fields the tests set).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZipkinSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ZipkinEndpoint>,
}

/// `zipkin.proto3.Endpoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZipkinEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
}

/// A Zipkin proto3 server span of `service` in trace `[0x11; 16]`.
pub fn zipkin_proto_span(span_id: u8, name: &str, service: &str) -> ZipkinSpan {
    ZipkinSpan {
        trace_id: vec![0x11; 16],
        parent_id: Vec::new(),
        id: vec![span_id; 8],
        kind: 2,
        name: name.to_owned(),
        timestamp: 1_700_000_000_000_000,
        duration: 1_000,
        local_endpoint: Some(ZipkinEndpoint {
            service_name: service.to_owned(),
        }),
    }
}

/// A Jaeger proto span in trace `[0x22; 16]`.
pub fn jaeger_proto_span(span_id: u8, name: &str) -> jaeger::Span {
    jaeger::Span {
        trace_id: vec![0x22; 16],
        span_id: vec![span_id; 8],
        operation_name: name.to_owned(),
        flags: 1,
        start_time: Some(jaeger::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        duration: Some(jaeger::Duration {
            seconds: 0,
            nanos: 1_500_000,
        }),
        ..jaeger::Span::default()
    }
}

/// A `PostSpansRequest` from process `service` holding `spans`.
pub fn jaeger_post_spans(service: &str, spans: Vec<jaeger::Span>) -> jaeger::PostSpansRequest {
    jaeger::PostSpansRequest {
        batch: Some(jaeger::Batch {
            spans,
            process: Some(jaeger::Process {
                service_name: service.to_owned(),
                ..jaeger::Process::default()
            }),
        }),
    }
}
