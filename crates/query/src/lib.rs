//! Query semantics above TraceReader: Zipkin search rules, dependency links, trace assembly.
