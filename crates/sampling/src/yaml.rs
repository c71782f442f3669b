//! Reading one part of a YAML document with serde-saphyr, positions kept.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// Deserializes one key of a mapping with `inner` and skips every other key, so the
/// rest of a Collector file (receivers, exporters, other processors) is never typed.
pub(crate) struct PickKey<'a, S> {
    pub key: &'a str,
    pub inner: S,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for PickKey<'_, S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for PickKey<'_, S> {
    type Value = Option<S::Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a mapping with key {}", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut inner = Some(self.inner);
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            match (key == self.key, inner.take()) {
                (true, Some(seed)) => found = Some(map.next_value_seed(seed)?),
                (_, seed) => {
                    inner = seed;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// Runs `seed` over the YAML document in `text`.
pub(crate) fn from_str_seed<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
) -> Result<S::Value, serde_saphyr::Error> {
    serde_saphyr::with_deserializer_from_str(text, |deserializer| seed.deserialize(deserializer))
}

/// The seed for a plain `Deserialize` type.
pub(crate) fn typed<T>() -> PhantomData<T> {
    PhantomData
}
