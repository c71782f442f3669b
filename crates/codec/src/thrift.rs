//! A bounded reader for the Thrift binary and compact protocols: just what decoding
//! Zipkin v1 and Jaeger Thrift needs, with every length checked against the input so
//! garbage cannot make it allocate or recurse without bound.
