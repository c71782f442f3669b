//! Counting the spans of a Zipkin or Jaeger body before decoding it, so that a request
//! over the span limit is refused before it is paid for (an empty JSON object `{}` is 3
//! bytes on the wire and hundreds once decoded). Each counter reads the body once and
//! builds nothing; for a body the decoder would refuse, it counts at least what the
//! decoder would build before failing (or fails as the decoder would).

use weft_codec::DecodeError;
use weft_codec::thrift::{FieldType, Reader};

/// Spans of a Zipkin v1 or v2 JSON list: its top-level elements.
pub(crate) fn zipkin_json(body: &[u8]) -> Result<u64, DecodeError> {
    Ok(weft_codec::otlp::count_json_array_elements(body))
}

/// Spans of a Zipkin v2 proto3 `ListOfSpans` (`repeated Span spans = 1`).
pub(crate) fn zipkin_proto(body: &[u8]) -> Result<u64, DecodeError> {
    weft_codec::otlp::count_protobuf_path(body, &[1])
}

/// Spans of a Zipkin v1 Thrift body: the size in its `list<Span>` header (which the
/// reader holds to at most the bytes left). A body without a readable header counts 0:
/// the decoder refuses it.
pub(crate) fn zipkin_thrift(body: &[u8]) -> Result<u64, DecodeError> {
    let declared = Reader::binary(body)
        .read_list_begin()
        .map_or(0, |(_, length)| length);
    Ok(declared as u64)
}

/// Spans of a Jaeger `PostSpansRequest` (`Batch batch = 1` with `repeated Span spans =
/// 1`).
pub(crate) fn jaeger_proto(body: &[u8]) -> Result<u64, DecodeError> {
    weft_codec::otlp::count_protobuf_path(body, &[1, 1])
}

/// Spans of a binary-Thrift Jaeger `Batch`: the sizes of its `spans` lists (field 2),
/// with every other field skipped. Broken Thrift stops the count where it breaks; the
/// decoder refuses the body there too.
pub(crate) fn jaeger_thrift_batch(body: &[u8]) -> Result<u64, DecodeError> {
    let mut reader = Reader::binary(body);
    let mut spans = 0u64;
    let mut walk = || -> Result<(), weft_codec::thrift::ThriftError> {
        reader.read_struct_begin()?;
        while let Some((field_type, field_id)) = reader.read_field_begin()? {
            if (field_id, field_type) == (2, FieldType::List) {
                let (element_type, length) = reader.read_list_begin()?;
                spans = spans.saturating_add(length as u64);
                for _ in 0..length {
                    reader.skip(element_type)?;
                }
            } else {
                reader.skip(field_type)?;
            }
        }
        Ok(())
    };
    // Broken Thrift: the decoder names the error; what was counted bounds what it builds.
    let _ = walk();
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipkin_counts_list_elements_in_every_format() {
        assert_eq!(zipkin_json(b"[{},{},{}]"), Ok(3));
        assert_eq!(zipkin_json(b"{}"), Ok(0));
        // ListOfSpans { spans {} spans {} } with an unknown field between.
        assert_eq!(zipkin_proto(&[0x0a, 0x00, 0x10, 0x01, 0x0a, 0x00]), Ok(2));
        // list<struct> of 3 (binary protocol: type 12, i32 size).
        assert_eq!(zipkin_thrift(&[12, 0, 0, 0, 3, 0, 0, 0]), Ok(3));
        assert_eq!(zipkin_thrift(&[]), Ok(0));
    }

    #[test]
    fn jaeger_counts_spans_of_batches() {
        // PostSpansRequest { batch { spans {} spans {} process {} } }
        assert_eq!(
            jaeger_proto(&[0x0a, 0x06, 0x0a, 0x00, 0x0a, 0x00, 0x12, 0x00]),
            Ok(2)
        );
        // Batch { 1: Process { 1: "" } 2: list<struct> [ {}, {} ] }
        let thrift = [
            12, 0, 1, 11, 0, 1, 0, 0, 0, 0, 0, // process with an empty service name
            15, 0, 2, 12, 0, 0, 0, 2, 0, 0, // two empty spans
            0, // end of batch
        ];
        assert_eq!(jaeger_thrift_batch(&thrift), Ok(2));
    }
}
