//! `recaudo simulators`: the providers' simulators (Twilio, Meta's WhatsApp Cloud API, SendGrid) in a process of
//! their own, for a dispatcher configured as for the real providers (`RECAUDO_SMS_PROVIDER=twilio`, ...) with its
//! base URLs pointed here. It survives the dispatcher's restarts, as a provider does (the benchmark and crash tests
//! kill the dispatcher, never the provider). Webhooks go to `--app-url`, signed with the same settings the
//! dispatcher verifies with; every secret must be set, so no default can forge a webhook.

use std::net::SocketAddr;
use std::time::Duration;

use recaudo_runtime::{ConfigError, Env};
use recaudo_simulators::meta::{MetaSimConfig, MetaSimulator};
use recaudo_simulators::sendgrid::{SendGridSimConfig, SendGridSimulator};
use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};

/// Where each simulator's API is served: point `RECAUDO_TWILIO_BASE_URL`, `RECAUDO_META_BASE_URL` and
/// `RECAUDO_SENDGRID_BASE_URL` at `http://<addr>` followed by these.
pub const TWILIO_PATH: &str = "/twilio";
pub const META_PATH: &str = "/meta";
pub const SENDGRID_PATH: &str = "/sendgrid";

pub async fn serve(env: &Env, addr: SocketAddr, app_url: &str) -> anyhow::Result<()> {
    let app_url = app_url.trim_end_matches('/');
    let required = |var: &str| -> Result<String, ConfigError> {
        env.raw(var).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).ok_or_else(|| {
            ConfigError::new(var, "", "is required: the simulators sign with what the dispatcher verifies")
        })
    };
    // Callbacks after a short delay, as providers send them (milliseconds; the benchmark shortens it).
    let delay = Duration::from_millis(env.get("RECAUDO_SIMULATOR_CALLBACK_DELAY_MS", 200u64)?);
    let twilio = TwilioSimulator::new(SimConfig {
        account_sid: required("RECAUDO_TWILIO_ACCOUNT_SID")?,
        auth_token: required("RECAUDO_TWILIO_AUTH_TOKEN")?,
        status_delay: delay,
        inbound_webhook_url: Some(format!("{app_url}/webhooks/twilio/sms/inbound")),
        whatsapp_inbound_webhook_url: Some(format!("{app_url}/webhooks/twilio/whatsapp/inbound")),
        ..SimConfig::demo()
    });
    let meta = MetaSimulator::new(MetaSimConfig {
        phone_number_id: required("RECAUDO_META_PHONE_NUMBER_ID")?,
        access_token: required("RECAUDO_META_ACCESS_TOKEN")?,
        app_secret: required("RECAUDO_META_APP_SECRET")?,
        webhook_url: Some(format!("{app_url}{}", recaudo_providers::meta::WEBHOOK_PATH)),
        status_delay: delay,
        ..MetaSimConfig::demo()
    });
    let sendgrid = SendGridSimulator::new(SendGridSimConfig {
        api_key: required("RECAUDO_SENDGRID_API_KEY")?,
        events_url: Some(format!("{app_url}/webhooks/sendgrid/events")),
        inbound_url: Some(format!("{app_url}/webhooks/sendgrid/inbound")),
        inbound_user: required("RECAUDO_SENDGRID_INBOUND_USER")?,
        inbound_password: required("RECAUDO_SENDGRID_INBOUND_PASSWORD")?,
        event_delay: delay,
    });
    let router = axum::Router::new()
        .nest(TWILIO_PATH, twilio.router())
        .nest(META_PATH, meta.router())
        .nest(SENDGRID_PATH, sendgrid.router());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (--addr): {e}"))?;
    // The one thing the dispatcher needs that is not a shared setting: the key SendGrid's events are signed with.
    println!("RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY={}", sendgrid.public_key_base64());
    eprintln!(
        "simulators on http://{} (twilio {TWILIO_PATH}, meta {META_PATH}, sendgrid {SENDGRID_PATH})",
        listener.local_addr()?
    );
    let shutdown = recaudo_runtime::shutdown::on_signal();
    axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await }).await?;
    Ok(())
}
