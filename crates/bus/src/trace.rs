//! W3C trace context across NATS: the publisher writes `traceparent`/`tracestate` headers from the current span,
//! the consumer continues the trace from them, so one trace runs from a file row to an advisor's queue.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The current span's context as `(traceparent, tracestate)` header values; empty when there is no sampled trace.
pub fn current_headers() -> HashMap<String, String> {
    let mut carrier = Carrier::default();
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.0
}

/// Makes `span` a child of the context carried in `headers`, if any.
pub fn continue_from(span: &tracing::Span, headers: &HashMap<String, String>) {
    let carrier = Carrier(headers.clone());
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

#[derive(Default)]
struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
