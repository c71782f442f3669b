//! Write-ahead log, in-memory head indexed by trace, block cutting and the TraceReader over head and blocks.
