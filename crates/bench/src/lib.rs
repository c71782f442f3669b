//! `weft bench`: a deterministic, realistic trace generator and a load driver.
//!
//! The [`generator`] builds traces the way real microservice systems look: a catalogue of
//! services with their operations, a heavy-tailed fan-out, depth up to ten, client and
//! server halves of every remote call, database and messaging leaves, OpenTelemetry
//! semantic-convention attributes, and random 128-bit ids, all from one seed.
//! The [`driver`] pre-encodes every request before the clock starts, then sends them over
//! one protocol from several concurrent connections and reports spans per second and
//! acknowledgement latency. Jaeger agent UDP has no acknowledgement: the [`udp`] driver
//! sends datagrams as fast as one socket takes them and reads from the server's `/metrics`
//! how many spans arrived, so loss under overload is part of the report.
//! [`jaeger_encode`] and [`zipkin_thrift_encode`] write the classic Thrift formats.

pub mod driver;
pub mod generator;
pub mod jaeger_encode;
pub mod random;
mod thrift_write;
pub mod udp;
pub mod zipkin_thrift_encode;

pub use driver::{LoadReport, LoadSettings, Protocol};
pub use generator::{GeneratorSettings, TraceGenerator};
