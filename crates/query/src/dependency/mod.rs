//! Service dependency links, with Zipkin's `DependencyLinker` semantics.
//!
//! The linker lives in [`weft_model::dependency`] so that storage can precompute a
//! block's links when the block is written (`weft-storage` must not depend on this
//! crate); it is re-exported here under its old path.

pub use weft_model::dependency::{DependencyLink, DependencyLinker, LinkSpan, dependency_links};
