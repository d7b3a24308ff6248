//! A local simulator of SendGrid's v3 Mail Send API and of the webhooks SendGrid posts, speaking SendGrid's wire
//! format closely enough that `recaudo_providers::sendgrid::SendGrid` cannot tell it from SendGrid: bearer API
//! keys, the Mail Send JSON and its error body, `202` with `X-Message-Id`, then Event Webhook posts signed with the
//! simulator's own P-256 key exactly as SendGrid signs, and Inbound Parse multipart posts with Basic credentials.
//!
//! Magic recipient domains: `bounce.example` bounces (5.1.1), `dropped.example` is dropped; any other address is
//! delivered.
//!
//! [`SendGridSimulator::router`] holds only SendGrid's own route, relative so it can be nested under any prefix
//! (point the client's `base_url` at that prefix). [`SendGridSimulator::control_router`] holds the simulator's
//! control route (a simulated reply), to be mounted separately behind access control.

mod api;
mod events;
mod inbound;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use p256::ecdsa::SigningKey;

pub use inbound::{InboundError, SimulatedInbound};

/// Recipients at this domain bounce with 5.1.1.
pub const BOUNCE_DOMAIN: &str = "bounce.example";
/// Recipients at this domain are dropped.
pub const DROPPED_DOMAIN: &str = "dropped.example";

#[derive(Clone)]
pub struct SendGridSimConfig {
    /// The API key Mail Send requests must carry as `Authorization: Bearer …`.
    pub api_key: String,
    /// Where Event Webhook posts go (the app's `/webhooks/sendgrid/events`); `None` posts no events.
    pub events_url: Option<String>,
    /// Where simulated replies are posted (the app's `/webhooks/sendgrid/inbound`), set here and never taken from a
    /// request, so the control route cannot be used to make the simulator post elsewhere.
    pub inbound_url: Option<String>,
    /// The Basic credentials SendGrid would take from the Inbound Parse URL.
    pub inbound_user: String,
    pub inbound_password: String,
    /// Delay before each batch of events (`processed`, then the outcome).
    pub event_delay: Duration,
}

impl SendGridSimConfig {
    /// Fixed demo credentials, so the app and the simulator agree without configuration. They are not secrets:
    /// nothing but the simulator accepts them.
    pub fn demo() -> Self {
        Self {
            api_key: "SG.recaudo-simulator-0000.0000000000000000000000000000000000000000000".to_string(),
            events_url: None,
            inbound_url: None,
            inbound_user: "sendgrid".to_string(),
            inbound_password: "simulator-inbound".to_string(),
            event_delay: Duration::from_millis(200),
        }
    }
}

// Hand-written so the API key and the inbound password do not reach a log through `{:?}`.
impl std::fmt::Debug for SendGridSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendGridSimConfig")
            .field("api_key", &"<redacted>")
            .field("events_url", &self.events_url)
            .field("inbound_url", &self.inbound_url)
            .field("inbound_user", &self.inbound_user)
            .field("inbound_password", &"<redacted>")
            .field("event_delay", &self.event_delay)
            .finish()
    }
}

/// A misbehaviour for the next Mail Send requests, set with [`SendGridSimulator::fail_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer HTTP 500 and keep nothing.
    ServerError,
    /// Answer HTTP 429 with this `Retry-After` (whole seconds) and keep nothing.
    RateLimited { retry_after: Duration },
    /// Wait this long, then answer normally.
    Latency(Duration),
    /// Accept, and post every event batch twice (SendGrid delivers at least once).
    DuplicateEvents,
    /// Accept, and post the outcome (`delivered`, ...) before `processed`.
    OutOfOrderEvents,
}

/// A Mail Send request the simulator accepted, one per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMail {
    /// The `X-Message-Id` it was answered with.
    pub message_id: String,
    pub to: Vec<String>,
    pub from: String,
    pub from_name: Option<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The request's `headers` object, as sent.
    pub headers: BTreeMap<String, String>,
    /// The request's `custom_args`, with the first personalization's over them, as events echo them.
    pub custom_args: BTreeMap<String, String>,
    pub received_at: DateTime<Utc>,
}

/// The simulator: cheap to clone, every clone sees the same messages, faults and key.
#[derive(Clone)]
pub struct SendGridSimulator {
    shared: Arc<Shared>,
}

struct Shared {
    config: SendGridSimConfig,
    signing_key: SigningKey,
    mails: Mutex<Vec<SimMail>>,
    faults: Mutex<VecDeque<Fault>>,
    /// One client for every webhook post, so connections are reused.
    http: reqwest::Client,
}

impl SendGridSimulator {
    /// A simulator with a fresh signing key of its own.
    pub fn new(config: SendGridSimConfig) -> Self {
        Self::with_signing_key(config, SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng))
    }

    /// A simulator that signs events with `signing_key` (to keep one verification key across restarts).
    pub fn with_signing_key(config: SendGridSimConfig, signing_key: SigningKey) -> Self {
        let shared = Shared {
            config,
            signing_key,
            mails: Mutex::default(),
            faults: Mutex::default(),
            http: reqwest::Client::new(),
        };
        Self { shared: Arc::new(shared) }
    }

    pub fn config(&self) -> &SendGridSimConfig {
        &self.shared.config
    }

    /// The verification key as SendGrid shows it (base64 DER SubjectPublicKeyInfo): the app's
    /// `webhook_public_key`.
    pub fn public_key_base64(&self) -> String {
        recaudo_providers::sendgrid::signature::public_key_base64(self.shared.signing_key.verifying_key())
    }

    /// SendGrid's own route: `POST /v3/mail/send`.
    pub fn router(&self) -> Router {
        Router::new().route("/v3/mail/send", post(api::mail_send)).with_state(self.clone())
    }

    /// The simulator's control route, not SendGrid's: `POST /inbound` `{from, to, subject, text, in_reply_to?}`
    /// plays a debtor's reply (see [`SendGridSimulator::inbound`]). Mount it behind access control.
    pub fn control_router(&self) -> Router {
        Router::new().route("/inbound", post(inbound::control_inbound)).with_state(self.clone())
    }

    /// The next `n` Mail Send requests misbehave as `fault` says (after any faults already queued).
    pub fn fail_next(&self, n: usize, fault: Fault) {
        lock(&self.shared.faults).extend(std::iter::repeat_n(fault, n));
    }

    /// Every Mail Send request accepted, oldest first.
    pub fn messages(&self) -> Vec<SimMail> {
        lock(&self.shared.mails).clone()
    }

    /// Posts an Inbound Parse request for a reply from `from` to `to`, with the Basic credentials, to the configured
    /// inbound URL. `in_reply_to` is the `X-Message-Id` of the mail it answers, written into `In-Reply-To` and
    /// `References` as a mail client would.
    pub async fn inbound(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        text: &str,
        in_reply_to: Option<&str>,
    ) -> Result<SimulatedInbound, InboundError> {
        inbound::post(self, from, to, subject, text, in_reply_to).await
    }

    fn next_fault(&self) -> Option<Fault> {
        lock(&self.shared.faults).pop_front()
    }
}

// Nothing done under these locks can panic halfway through a change, so a poisoned lock still guards whole values.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new `X-Message-Id`: 22 URL-safe base64 characters, like SendGrid's, and never a "." (events append their
/// own suffix after one).
fn new_message_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// The Message-ID header the simulator gives a mail it sends, which a reply's `In-Reply-To` quotes.
fn rfc822_message_id(message_id: &str) -> String {
    format!("<{message_id}@sim.sendgrid.invalid>")
}
