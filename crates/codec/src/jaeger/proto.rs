//! The `jaeger.api_v2` protobuf messages the collector's gRPC service receives
//! (`model.proto`, `collector.proto`), written by hand with prost's derive. Field numbers
//! and types match the `.proto` files; `google.protobuf.Timestamp` and `Duration` are
//! local copies with the same fields. Decoding with prost never panics; these types only
//! hold what was on the wire (ids are not validated here but by
//! [`super::from_post_spans_request`]).

/// `jaeger.api_v2.ValueType`: which `KeyValue` field holds the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ValueType {
    /// `v_str`.
    String = 0,
    /// `v_bool`.
    Bool = 1,
    /// `v_int64`.
    Int64 = 2,
    /// `v_float64`.
    Float64 = 3,
    /// `v_binary`.
    Binary = 4,
}

/// `jaeger.api_v2.SpanRefType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SpanRefType {
    /// The referenced span is the parent.
    ChildOf = 0,
    /// The referenced span caused this one but does not wait for it.
    FollowsFrom = 1,
}

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Whole seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0 to 999,999,999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `google.protobuf.Duration`: seconds and nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Duration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, with the sign of `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `jaeger.api_v2.KeyValue`: a typed tag.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The tag key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Which value field is meant ([`ValueType`]).
    #[prost(enumeration = "ValueType", tag = "2")]
    pub v_type: i32,
    /// The value when `v_type` is `STRING`.
    #[prost(string, tag = "3")]
    pub v_str: String,
    /// The value when `v_type` is `BOOL`.
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    /// The value when `v_type` is `INT64`.
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    /// The value when `v_type` is `FLOAT64`.
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    /// The value when `v_type` is `BINARY`.
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

/// `jaeger.api_v2.Log`: a timestamped set of fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Log {
    /// When it happened.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The fields; an `event` field names the event.
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValue>,
}

/// `jaeger.api_v2.SpanRef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanRef {
    /// 16 bytes, big-endian high then low half (8 bytes are read as a 64-bit id).
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// [`SpanRefType`].
    #[prost(enumeration = "SpanRefType", tag = "3")]
    pub ref_type: i32,
}

/// `jaeger.api_v2.Process`: the service that emitted spans.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Process {
    /// The service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// Process tags (host name, client version, ...).
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValue>,
}

/// `jaeger.api_v2.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16 bytes, big-endian high then low half (8 bytes are read as a 64-bit id).
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// The operation name.
    #[prost(string, tag = "3")]
    pub operation_name: String,
    /// Parent (first `CHILD_OF` in the same trace) and other references.
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<SpanRef>,
    /// Bit 1 sampled, bit 2 debug.
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    /// Start time.
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<Timestamp>,
    /// Duration.
    #[prost(message, optional, tag = "7")]
    pub duration: Option<Duration>,
    /// Span tags.
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValue>,
    /// Logs.
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<Log>,
    /// The span's own process; when absent the batch's process applies.
    #[prost(message, optional, tag = "10")]
    pub process: Option<Process>,
    /// Used only inside Jaeger's query answers; ignored here.
    #[prost(string, tag = "11")]
    pub process_id: String,
    /// Jaeger's own warnings; ignored here.
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// `jaeger.api_v2.Batch`: spans and the process they share.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Batch {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<Span>,
    /// The process of every span that has none of its own.
    #[prost(message, optional, tag = "2")]
    pub process: Option<Process>,
}

/// `jaeger.api_v2.PostSpansRequest`, the `CollectorService/PostSpans` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansRequest {
    /// The batch.
    #[prost(message, optional, tag = "1")]
    pub batch: Option<Batch>,
}

/// `jaeger.api_v2.PostSpansResponse`: empty.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct PostSpansResponse {}
