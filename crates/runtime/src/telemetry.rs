//! Logs, traces and metrics. Logs are JSON lines on stdout; traces go to an OTLP collector when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and always carry W3C context across NATS); metrics are rendered at
//! `/metrics` in the Prometheus text format.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();
static TRACER: OnceLock<SdkTracerProvider> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Installs the global subscriber and metrics recorder. Idempotent: later calls (tests running several apps in one
/// process) keep the first installation.
pub fn init(service_name: &str, format: LogFormat) {
    init_metrics();
    if TRACER.get().is_some() {
        return;
    }
    let mut builder = SdkTracerProvider::builder();
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.is_empty()) {
        // The exporter reads the endpoint (and headers, timeout) from the standard OTEL_* variables.
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(e) => eprintln!("OTLP exporter disabled: {e}"),
        }
    }
    let provider = builder
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_string()).build())
        .build();
    let tracer = provider.tracer("recaudo");
    let _ = TRACER.set(provider);

    let filter =
        EnvFilter::try_from_env("RECAUDO_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn"));
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
}

fn init_metrics() {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    });
}

pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS.get()
}

/// Flushes spans still buffered for the collector.
pub fn shutdown() {
    if let Some(p) = TRACER.get() {
        let _ = p.shutdown();
    }
}
