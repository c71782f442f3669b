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
//!
//! For the storage and soak benchmarks (`weft bench storage|query|soak`): [`layout`]
//! spreads a corpus over time slices and blocks, [`id_file`] is the sampled-trace-id file
//! between the storage and query benchmarks, [`search_cases`] are searches known to match
//! the corpus, [`soak`] sends at a paced rate ([`pacing`]) through an [`exporter`] that
//! tells refusals from failures, with a [`giant`] trace beside and the server's memory
//! read by [`rss`], and [`stats`] has the percentiles and trend fits.
//!
//! For `weft bench pull`: [`pull`] simulates many scrape targets (weft-client rings fed
//! by the generator) or pushes the same spans over OTLP, [`pull_config`] writes the
//! scrape configuration and reads the server's counters, and [`cpu`] reads a process's
//! CPU time.
//!
//! For `weft bench logs`: [`logs`] generates a realistic log corpus (nginx, JSON, CRI,
//! logfmt) and pushes it as Loki push requests.

pub mod cpu;
pub mod driver;
pub mod exporter;
pub mod generator;
pub mod giant;
pub mod id_file;
pub mod jaeger_encode;
pub mod layout;
pub mod logs;
pub mod pacing;
pub mod pull;
pub mod pull_config;
pub mod random;
pub mod rss;
pub mod search_cases;
pub mod soak;
pub mod stats;
mod thrift_write;
pub mod traceql_cases;
pub mod udp;
pub mod zipkin_thrift_encode;

pub use driver::{LoadReport, LoadSettings, Protocol};
pub use generator::{GeneratorPosition, GeneratorSettings, TraceGenerator};
