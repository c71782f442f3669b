//! The few `google.rpc` and `google.protobuf` messages a failure answer carries, defined
//! here with prost rather than pulling in a crate for four messages.

use prost::Message;

/// `google.rpc.Status`: the body of an OTLP/HTTP failure and the `grpc-status-details-bin`
/// of a gRPC one.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    /// A `google.rpc.Code` number.
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    /// `type.googleapis.com/<full message name>`.
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    /// How long to wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    /// Nanoseconds on top of `seconds`.
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

/// The type URL of [`RetryInfo`] inside an `Any`.
pub(crate) const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Builds a status whose details hold a `RetryInfo` when `retry_after_seconds` is given.
pub(crate) fn rpc_status(code: i32, message: &str, retry_after_seconds: Option<u32>) -> RpcStatus {
    let details = retry_after_seconds
        .map(|seconds| ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.to_owned(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: i64::from(seconds),
                    nanos: 0,
                }),
            }
            .encode_to_vec(),
        })
        .into_iter()
        .collect();
    RpcStatus {
        code,
        message: message.to_owned(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_through_status_details() {
        let bytes = rpc_status(8, "slow down", Some(7)).encode_to_vec();
        let status = RpcStatus::decode(bytes.as_slice()).expect("valid status");
        assert_eq!(status.code, 8);
        assert_eq!(status.message, "slow down");
        assert_eq!(status.details.len(), 1);
        assert_eq!(status.details[0].type_url, RETRY_INFO_TYPE_URL);
        let retry = RetryInfo::decode(status.details[0].value.as_slice()).expect("retry info");
        assert_eq!(retry.retry_delay.map(|d| d.seconds), Some(7));
    }

    #[test]
    fn status_without_retry_has_no_details() {
        let status = rpc_status(3, "bad", None);
        assert!(status.details.is_empty());
        // Field 1 varint 3, field 2 length-delimited "bad": the exact google.rpc.Status bytes.
        assert_eq!(
            status.encode_to_vec(),
            vec![0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd']
        );
    }
}
