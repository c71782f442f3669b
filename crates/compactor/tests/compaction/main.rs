//! The compactor against a real block store on local disk.

mod crash;
mod indexes;
mod merging;
mod retention;
mod support;
