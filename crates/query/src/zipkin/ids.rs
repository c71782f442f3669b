//! Zipkin's trace-id rules for the read API (`Span.normalizeTraceId`).
//!
//! Zipkin ids are lower-case hex: shorter than 16 characters pads to 16, 17 to 31 pads to
//! 32, and a 32-character id whose high half is zero is the 64-bit id. Upper case, a
//! prefix such as `0x`, more than 32 characters and all zeros are rejected with Zipkin's
//! messages. Matching is strict: a 64-bit id never matches a 128-bit trace that shares its
//! low half (`strictTraceId=true`, Zipkin's default).

use weft_model::TraceId;

use crate::QueryError;

/// The most trace ids one `traceMany` request may name. Zipkin splits the parameter with a
/// limit of 1000, so more than that cannot be meant.
pub const MAX_TRACE_IDS_PER_REQUEST: usize = 1000;

/// Parses a trace id the way Zipkin's `/api/v2/trace/{traceId}` does.
///
/// Errors (Zipkin's exact texts): `traceId is empty`, `traceId.length > 32`,
/// `<id> should be lower-hex encoded with no prefix`, `traceId is all zeros`.
/// The id's Zipkin form is [`TraceId::to_zipkin_hex`] (16 characters when the high half is
/// zero, else 32), which is what the `"<id> not found"` answer names.
pub fn normalize_trace_id(text: &str) -> Result<TraceId, QueryError> {
    if text.is_empty() {
        return Err(QueryError::invalid("traceId is empty"));
    }
    if text.len() > 32 {
        return Err(QueryError::invalid("traceId.length > 32"));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(QueryError::invalid(format!(
            "{text} should be lower-hex encoded with no prefix"
        )));
    }
    TraceId::from_hex(text).map_err(|_| QueryError::invalid("traceId is all zeros"))
}

/// Parses the `traceIds` parameter of `/api/v2/traceMany`: a comma-separated list of at
/// least two distinct ids (after normalisation), in request order.
///
/// Errors (Zipkin's exact texts): `traceIds parameter is empty`, `redundant traceId: <id>`
/// (naming the id as given), `Use /api/v2/trace/{traceId} endpoint to retrieve a single
/// trace`, any [`normalize_trace_id`] error, and `traceIds has more than 1000 ids` when
/// over [`MAX_TRACE_IDS_PER_REQUEST`].
pub fn parse_trace_ids(text: &str) -> Result<Vec<TraceId>, QueryError> {
    if text.is_empty() {
        return Err(QueryError::invalid("traceIds parameter is empty"));
    }
    let mut ids: Vec<TraceId> = Vec::new();
    for (position, part) in text.split(',').enumerate() {
        if position >= MAX_TRACE_IDS_PER_REQUEST {
            return Err(QueryError::invalid(format!(
                "traceIds has more than {MAX_TRACE_IDS_PER_REQUEST} ids"
            )));
        }
        let id = normalize_trace_id(part)?;
        if ids.contains(&id) {
            return Err(QueryError::invalid(format!("redundant traceId: {part}")));
        }
        ids.push(id);
    }
    if ids.len() == 1 {
        return Err(QueryError::invalid(
            "Use /api/v2/trace/{traceId} endpoint to retrieve a single trace",
        ));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<impl std::fmt::Debug, QueryError>) -> String {
        match result {
            Err(error) => error.to_string(),
            Ok(value) => panic!("expected an error, got {value:?}"),
        }
    }

    #[test]
    fn ids_are_padded_and_a_zero_high_half_is_dropped() {
        let short = normalize_trace_id("a").expect("valid");
        assert_eq!(short.to_zipkin_hex(), "000000000000000a");
        let padded = normalize_trace_id("1a03ee8fff1dcd9b9").expect("valid");
        assert_eq!(
            padded.to_zipkin_hex(),
            "00000000000000001a03ee8fff1dcd9b9"[1..]
        );
        let zero_high = normalize_trace_id("0000000000000000a03ee8fff1dcd9b9").expect("valid");
        assert_eq!(zero_high.to_zipkin_hex(), "a03ee8fff1dcd9b9");
        assert_eq!(
            zero_high,
            normalize_trace_id("a03ee8fff1dcd9b9").expect("valid")
        );
    }

    #[test]
    fn invalid_ids_get_zipkins_messages() {
        assert_eq!(message(normalize_trace_id("")), "traceId is empty");
        assert_eq!(
            message(normalize_trace_id(&"a".repeat(33))),
            "traceId.length > 32"
        );
        assert_eq!(
            message(normalize_trace_id("48485A3953BB6124")),
            "48485A3953BB6124 should be lower-hex encoded with no prefix"
        );
        assert_eq!(
            message(normalize_trace_id("0x12")),
            "0x12 should be lower-hex encoded with no prefix"
        );
        assert_eq!(message(normalize_trace_id("0000")), "traceId is all zeros");
    }

    #[test]
    fn trace_many_needs_two_distinct_ids() {
        assert_eq!(message(parse_trace_ids("")), "traceIds parameter is empty");
        assert_eq!(
            message(parse_trace_ids("a")),
            "Use /api/v2/trace/{traceId} endpoint to retrieve a single trace"
        );
        assert_eq!(
            message(parse_trace_ids("a,000000000000000a")),
            "redundant traceId: 000000000000000a"
        );
        assert_eq!(message(parse_trace_ids("a,")), "traceId is empty");
        let ids = parse_trace_ids("b,a").expect("valid");
        assert_eq!(
            ids,
            [TraceId::from_halves(0, 0xb), TraceId::from_halves(0, 0xa)]
        );
    }
}
