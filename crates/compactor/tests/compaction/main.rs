//! The compactor against a real block store on local disk.

mod crash;
mod merging;
mod retention;
mod support;
