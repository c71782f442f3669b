//! Ingest listeners: OTLP gRPC and HTTP, Zipkin HTTP. Decode with weft-codec and hand batches to a SpanSink.
