//! The few `google.rpc` and `google.protobuf` messages a failure answer carries, defined
//! here with prost rather than pulling in a crate for four messages: receivers write them,
//! clients (the OTLP forwarder) read the retry delay back.

use std::time::Duration;

use prost::Message;

/// `google.rpc.Status`: the body of an OTLP/HTTP failure and the `grpc-status-details-bin`
/// of a gRPC one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` number.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    /// `type.googleapis.com/<full message name>`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// How long to wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds on top of `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The type URL of [`RetryInfo`] inside an `Any`.
pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Builds a status whose details hold a `RetryInfo` when `retry_after_seconds` is given.
pub fn rpc_status(code: i32, message: &str, retry_after_seconds: Option<u32>) -> RpcStatus {
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

/// The `RetryInfo` delay in `details`, the bytes of a `google.rpc.Status` (a gRPC
/// `grpc-status-details-bin` or an OTLP/HTTP failure body); `None` when it has none or
/// the bytes are not a status.
pub fn retry_delay(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let retry = status
        .details
        .iter()
        .find(|detail| detail.type_url == RETRY_INFO_TYPE_URL)?;
    let delay = RetryInfo::decode(retry.value.as_slice())
        .ok()?
        .retry_delay?;
    Some(Duration::new(
        u64::try_from(delay.seconds).ok()?,
        u32::try_from(delay.nanos).ok()?,
    ))
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
        assert_eq!(retry_delay(&bytes), Some(Duration::from_secs(7)));
    }

    #[test]
    fn no_retry_delay_without_retry_info_or_in_garbage() {
        assert_eq!(
            retry_delay(&rpc_status(8, "full", None).encode_to_vec()),
            None
        );
        assert_eq!(retry_delay(b"\xff\xff\xff"), None);
        assert_eq!(retry_delay(&[]), None);
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
