//! Block identifiers: 128 bits, time-ordered like a ULID.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// A block id: 48 bits of milliseconds since the Unix epoch followed by 80 random bits,
/// written as 32 lowercase hex digits. Ids sort by creation time (to the millisecond),
/// and two processes creating blocks in the same millisecond collide with probability
/// about 2^-80.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub [u8; 16]);

impl BlockId {
    /// A new id for the current time.
    pub fn generate() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0);
        Self::from_parts(millis, rand::random::<u128>())
    }

    /// An id from a millisecond timestamp (low 48 bits used) and random bits (low 80 used).
    pub fn from_parts(unix_millis: u64, random: u128) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&unix_millis.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&random.to_be_bytes()[6..]);
        BlockId(bytes)
    }

    /// The creation time in milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> u64 {
        let mut millis = [0u8; 8];
        millis[2..].copy_from_slice(&self.0[..6]);
        u64::from_be_bytes(millis)
    }
}

/// Why a string is not a block id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block id {0:?} is not 32 hex digits")]
pub struct BlockIdError(pub String);

impl FromStr for BlockId {
    type Err = BlockIdError;

    /// Parses exactly 32 hex digits (any case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.as_bytes();
        if digits.len() != 32 {
            return Err(BlockIdError(text.to_owned()));
        }
        let mut bytes = [0u8; 16];
        for (index, pair) in digits.chunks_exact(2).enumerate() {
            let high = hex_value(pair[0]).ok_or_else(|| BlockIdError(text.to_owned()))?;
            let low = hex_value(pair[1]).ok_or_else(|| BlockIdError(text.to_owned()))?;
            bytes[index] = (high << 4) | low;
        }
        Ok(BlockId(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({self})")
    }
}

impl serde::Serialize for BlockId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BlockId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex_and_keep_their_time() {
        let id = BlockId::from_parts(1_700_000_000_123, u128::MAX);
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<BlockId>(), Ok(id));
        assert_eq!(id.unix_millis(), 1_700_000_000_123);
        assert_eq!(text.to_uppercase().parse::<BlockId>(), Ok(id));
    }

    #[test]
    fn ids_sort_by_time() {
        let early = BlockId::from_parts(1000, u128::MAX);
        let late = BlockId::from_parts(1001, 0);
        assert!(early < late);
        assert!(early.to_string() < late.to_string());
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!("".parse::<BlockId>().is_err());
        assert!("zz".repeat(16).parse::<BlockId>().is_err());
        assert!("0".repeat(31).parse::<BlockId>().is_err());
        assert!(
            ".tmp-0000000000000000000000000000"
                .parse::<BlockId>()
                .is_err()
        );
    }
}
