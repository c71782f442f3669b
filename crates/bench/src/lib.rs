//! `weft bench`: a deterministic, realistic trace generator and a load driver.
//!
//! The [`generator`] builds traces the way real microservice systems look: a catalogue of
//! services with their operations, a heavy-tailed fan-out, depth up to ten, client and
//! server halves of every remote call, database and messaging leaves, OpenTelemetry
//! semantic-convention attributes, and random 128-bit ids, all from one seed.
//! The [`driver`] pre-encodes every request before the clock starts, then sends them over
//! one protocol from several concurrent connections and reports spans per second and
//! acknowledgement latency.

pub mod driver;
pub mod generator;
pub mod random;

pub use driver::{LoadReport, LoadSettings, Protocol};
pub use generator::{GeneratorSettings, TraceGenerator};
