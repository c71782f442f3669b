//! Immutable on-disk trace blocks behind the BlockStore trait, block catalog and retention.
