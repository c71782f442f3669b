//! Validation and limits in front of the ingester: sizes, attribute lengths, spans per trace.
