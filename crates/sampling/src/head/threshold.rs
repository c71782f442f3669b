//! OpenTelemetry consistent probability sampling arithmetic (OTEP 235, specification
//! `trace/tracestate-probability-sampling.md`): 56-bit randomness, 56-bit rejection
//! thresholds, and their `rv` / `th` encodings.

use weft_model::TraceId;

/// 2^56: the number of distinct randomness values, and the threshold that rejects all.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;

/// Hex digits in a full-precision threshold or randomness value (56 bits).
pub const HEX_DIGITS: usize = 14;

/// The smallest sampling probability the scheme can express, 2^-56.
pub const MIN_SAMPLING_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

/// The precision OpenTelemetry SDKs are recommended to encode thresholds with.
pub const DEFAULT_PRECISION_HEX_DIGITS: u32 = 4;

const RANDOMNESS_MASK: u64 = MAX_ADJUSTED_COUNT - 1;

/// A 56-bit rejection threshold: a span is kept when its randomness is greater than or
/// equal to it. 0 keeps everything; [`Threshold::NEVER`] (2^56) keeps nothing and has no
/// `th` encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold(u64);

/// Why a probability has no threshold.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ProbabilityError {
    /// Outside `[2^-56, 1]` (zero is expressed as [`Threshold::NEVER`] by the caller).
    #[error("sampling probability {0} is outside [2^-56, 1]")]
    OutOfRange(f64),
    /// Precision must be 1 to 12 hex digits (what an IEEE-754 double can carry).
    #[error("threshold precision {0} is outside 1 to 12 hex digits")]
    Precision(u32),
}

impl Threshold {
    /// Keeps every span (`th:0`).
    pub const ALWAYS: Threshold = Threshold(0);
    /// Keeps no span: the threshold of a zero ratio.
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    /// The threshold for a sampling probability, rounded to `precision_hex_digits`
    /// significant hex digits exactly as the specification's reference algorithm does
    /// (precision grows by one digit per factor of 16 below 1/16, so small probabilities
    /// keep their significant digits).
    pub fn from_probability(
        probability: f64,
        precision_hex_digits: u32,
    ) -> Result<Threshold, ProbabilityError> {
        if !(1..=12).contains(&precision_hex_digits) {
            return Err(ProbabilityError::Precision(precision_hex_digits));
        }
        if !(MIN_SAMPLING_PROBABILITY..=1.0).contains(&probability) {
            return Err(ProbabilityError::OutOfRange(probability));
        }
        if probability == 1.0 {
            return Ok(Threshold::ALWAYS);
        }
        let exponent = frexp_exponent(probability);
        let raised = i64::from(precision_hex_digits) + (f64::from(exponent) / -4.0).floor() as i64;
        let precision = raised.clamp(1, 12) as usize;
        // 2 - p maps (0, 1) onto (1, 2), where the 52-bit mantissa holds 13 hex digits of
        // the rejection probability; half a final digit is added so truncation rounds.
        let rejection = 2.0 - probability + 2f64.powi(-1 - 4 * precision as i32);
        let digits = if rejection >= 2.0 {
            String::from("fffffffffffff")
        } else {
            format!("{:013x}", rejection.to_bits() & ((1u64 << 52) - 1))
        };
        let kept = digits[..precision].trim_end_matches('0');
        Ok(Threshold::from_th(kept).unwrap_or(Threshold::ALWAYS))
    }

    /// Parses a `th` value: 1 to 14 lowercase hex digits, with the omitted trailing
    /// digits taken as zeros. `None` for anything else.
    pub fn from_th(text: &str) -> Option<Threshold> {
        if text.is_empty() || text.len() > HEX_DIGITS || !is_lower_hex(text) {
            return None;
        }
        let value = u64::from_str_radix(text, 16).ok()?;
        Some(Threshold(value << (4 * (HEX_DIGITS - text.len()))))
    }

    /// The `th` encoding: hex with trailing zeros removed, `0` for [`Threshold::ALWAYS`];
    /// `None` for [`Threshold::NEVER`], which has none.
    pub fn to_th(self) -> Option<String> {
        match self.0 {
            0 => Some(String::from("0")),
            MAX_ADJUSTED_COUNT => None,
            value => Some(format!("{value:014x}").trim_end_matches('0').to_owned()),
        }
    }

    /// The threshold as an integer in `[0, 2^56]`.
    pub fn unsigned(self) -> u64 {
        self.0
    }

    /// The probability of keeping a span, `(2^56 - threshold) / 2^56`; its inverse is the
    /// span's adjusted count.
    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    /// True when `randomness` passes: randomness >= threshold.
    pub fn should_sample(self, randomness: Randomness) -> bool {
        randomness.0 >= self.0
    }
}

/// 56 bits of trace randomness: the `rv` value, or the low 56 bits of the trace id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Randomness(u64);

impl Randomness {
    /// The least-significant 56 bits (last 7 bytes) of the trace id.
    pub fn from_trace_id(trace_id: &TraceId) -> Randomness {
        Randomness(trace_id.low_u64() & RANDOMNESS_MASK)
    }

    /// Parses an `rv` value: exactly 14 lowercase hex digits. `None` for anything else.
    pub fn from_rv(text: &str) -> Option<Randomness> {
        if text.len() != HEX_DIGITS || !is_lower_hex(text) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(Randomness)
    }

    /// The value as an integer below 2^56.
    pub fn unsigned(self) -> u64 {
        self.0
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The exponent `e` with `value = m * 2^e`, `m` in `[0.5, 1)` (C's `frexp`), for a
/// positive normal `value`; every probability this module accepts is normal.
fn frexp_exponent(value: f64) -> i32 {
    ((value.to_bits() >> 52) & 0x7ff) as i32 - 1022
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(probability: f64, precision: u32) -> String {
        Threshold::from_probability(probability, precision)
            .expect("valid probability")
            .to_th()
            .expect("encodable")
    }

    /// The 1-in-N table of the specification ("Converting floating-point probability
    /// to threshold value"), precisions 3, 4 and 5.
    #[test]
    fn probability_to_threshold_matches_the_specification_table() {
        let table: [(f64, [&str; 3]); 13] = [
            (1.0, ["0", "0", "0"]),
            (0.5, ["8", "8", "8"]),
            (1.0 / 3.0, ["aab", "aaab", "aaaab"]),
            (0.25, ["c", "c", "c"]),
            (0.2, ["ccd", "cccd", "ccccd"]),
            (0.125, ["e", "e", "e"]),
            (0.1, ["e66", "e666", "e6666"]),
            (0.0625, ["f", "f", "f"]),
            (0.01, ["fd71", "fd70a", "fd70a4"]),
            (0.001, ["ffbe7", "ffbe77", "ffbe76d"]),
            (0.0001, ["fff972", "fff9724", "fff97247"]),
            (0.00001, ["ffff584", "ffff583a", "ffff583a5"]),
            (0.000001, ["ffffef4", "ffffef39", "ffffef391"]),
        ];
        for (probability, expected) in table {
            for (precision, want) in (3..=5).zip(expected) {
                assert_eq!(
                    th(probability, precision),
                    want,
                    "p={probability} precision={precision}"
                );
            }
        }
    }

    /// Also from the table: the actual probability a threshold gives.
    #[test]
    fn threshold_probability_matches_the_specification_table() {
        let actual = |text: &str| Threshold::from_th(text).expect("valid th").probability();
        assert_eq!(actual("aaab"), 0.3333282470703125);
        assert_eq!(actual("e666"), 0.100006103515625);
        assert_eq!(actual("fd70a"), 0.010000228881835938);
        assert_eq!(actual("0"), 1.0);
        assert_eq!(actual("8"), 0.5);
    }

    /// The specification's worked example: 1% with 5 digits is 0xfd70a400000000.
    #[test]
    fn th_values_pad_with_trailing_zeros() {
        assert_eq!(
            Threshold::from_th("fd70a4").map(Threshold::unsigned),
            Some(0xfd70a400000000)
        );
        assert_eq!(
            Threshold::from_th("fd70a400000000"),
            Threshold::from_th("fd70a4")
        );
        assert_eq!(
            Threshold::from_th("ffffffffffffff").map(Threshold::unsigned),
            Some(MAX_ADJUSTED_COUNT - 1)
        );
        assert_eq!(
            Threshold(0xfd70a400000000).to_th().as_deref(),
            Some("fd70a4")
        );
        for bad in ["", "FD", "fd70a4000000000", "0x8", "g", "8 "] {
            assert_eq!(Threshold::from_th(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn randomness_comes_from_rv_or_the_last_seven_trace_id_bytes() {
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        assert_eq!(
            Randomness::from_trace_id(&trace_id).unsigned(),
            0xce929d0e0e4736
        );
        assert_eq!(
            Randomness::from_rv("00000000000001").map(Randomness::unsigned),
            Some(1)
        );
        for bad in ["1", "0000000000000000", "ABCDEFABCDEFAB", "0000000000000g"] {
            assert_eq!(Randomness::from_rv(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keep_when_randomness_is_at_least_the_threshold() {
        let half = Threshold::from_th("8").expect("th");
        let rv = |text: &str| Randomness::from_rv(text).expect("rv");
        assert!(half.should_sample(rv("80000000000000")));
        assert!(!half.should_sample(rv("7fffffffffffff")));
        assert!(Threshold::ALWAYS.should_sample(rv("00000000000000")));
        assert!(!Threshold::NEVER.should_sample(rv("ffffffffffffff")));
        assert_eq!(Threshold::NEVER.to_th(), None);
    }

    #[test]
    fn out_of_range_probabilities_and_precisions_are_refused() {
        for bad in [0.0, -0.5, 1.5, f64::NAN, MIN_SAMPLING_PROBABILITY / 2.0] {
            assert!(Threshold::from_probability(bad, 4).is_err(), "{bad}");
        }
        assert!(Threshold::from_probability(MIN_SAMPLING_PROBABILITY, 4).is_ok());
        assert_eq!(
            Threshold::from_probability(0.5, 13),
            Err(ProbabilityError::Precision(13))
        );
    }
}
