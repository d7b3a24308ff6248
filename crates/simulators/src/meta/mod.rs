//! A local simulator of Meta's WhatsApp Cloud API, speaking its wire format closely enough that
//! `recaudo_providers::meta::MetaWhatsapp` cannot tell it from Meta: bearer auth, the Messages request and answer,
//! Graph API error JSON, the 24-hour customer-service window (free-form messages outside it fail with 131047,
//! reported asynchronously as Meta does), and status and inbound webhooks signed with `X-Hub-Signature-256`.
//!
//! Routes are relative, so [`MetaSimulator::router`] can be nested under any prefix (e.g. `/sim/meta`); point the
//! client's `base_url` at that prefix. Webhooks go only to the configured URL, never to one named in a request.
//!
//! What is not Meta's: [`MetaSimulator::control_router`] (`POST /inbound`, a debtor replying), fault injection
//! ([`MetaSimulator::fail_next`]) and [`MetaSimulator::messages`], for demos and tests.

mod api;
mod control;
mod errors;
mod faults;
mod store;
mod validation;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::Router;

pub use faults::Fault;
pub use store::{Direction, SimMessage};
pub use webhooks::InboundError;

#[derive(Clone)]
pub struct MetaSimConfig {
    /// The business phone number's id, the only one the API accepts in its path.
    pub phone_number_id: String,
    /// Our number as Meta shows it in webhooks' metadata (digits).
    pub display_phone_number: String,
    /// The WhatsApp Business Account id, the `entry[].id` of webhooks.
    pub business_account_id: String,
    pub access_token: String,
    /// Signs every webhook, as Meta signs with the app secret.
    pub app_secret: String,
    /// Where status and inbound webhooks go; `None` keeps them to the simulator.
    pub webhook_url: Option<String>,
    /// Delay before each status webhook (`sent`, then `delivered`).
    pub status_delay: Duration,
}

impl MetaSimConfig {
    /// Fixed demo credentials, so the app and the simulator agree without configuration. They are not secrets:
    /// nothing but the simulator accepts them.
    pub fn demo() -> Self {
        Self {
            phone_number_id: "100000000000001".to_string(),
            display_phone_number: "15550001111".to_string(),
            business_account_id: "200000000000002".to_string(),
            access_token: "EAAsimulator-recaudo-0000000000000000000000000".to_string(),
            app_secret: "73696d756c61746f7200000000000000".to_string(),
            webhook_url: None,
            status_delay: Duration::from_millis(200),
        }
    }
}

// Hand-written so the token and the app secret do not reach a log through `{:?}`.
impl std::fmt::Debug for MetaSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaSimConfig")
            .field("phone_number_id", &self.phone_number_id)
            .field("display_phone_number", &self.display_phone_number)
            .field("business_account_id", &self.business_account_id)
            .field("access_token", &"<redacted>")
            .field("app_secret", &"<redacted>")
            .field("webhook_url", &self.webhook_url)
            .field("status_delay", &self.status_delay)
            .finish()
    }
}

/// The simulator: cheap to clone, every clone sees the same messages and faults.
#[derive(Clone)]
pub struct MetaSimulator {
    shared: Arc<Shared>,
}

struct Shared {
    config: MetaSimConfig,
    store: store::Store,
    faults: faults::Faults,
    /// One client for every webhook, so connections are reused.
    http: reqwest::Client,
}

impl MetaSimulator {
    pub fn new(config: MetaSimConfig) -> Self {
        let shared = Shared {
            config,
            store: store::Store::default(),
            faults: faults::Faults::default(),
            http: reqwest::Client::new(),
        };
        Self { shared: Arc::new(shared) }
    }

    pub fn config(&self) -> &MetaSimConfig {
        &self.shared.config
    }

    /// Meta's API: `POST /{version}/{phone_number_id}/messages`.
    pub fn router(&self) -> Router {
        Router::new().route("/{version}/{phone_number_id}/messages", post(api::send_message)).with_state(self.clone())
    }

    /// `POST /inbound {"from": "+57…", "body": "…", "button": "PAYLOAD"?}`: a debtor writes, or taps a quick reply.
    /// It plays a debtor, so the app mounts it behind access control.
    pub fn control_router(&self) -> Router {
        Router::new().route("/inbound", post(control::simulate_inbound)).with_state(self.clone())
    }

    /// The next `n` sends meet `fault`, after any faults already queued.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.shared.faults.push(n, fault);
    }

    /// A debtor writes `text`: recorded (opening their 24-hour window) and posted as a signed `messages` webhook.
    /// Returns the inbound message's id; the message is kept even when the webhook does not take it.
    pub async fn inbound(&self, from: &str, text: &str) -> Result<String, InboundError> {
        webhooks::inbound(self, from, text, None).await
    }

    /// A debtor taps a template's quick-reply button showing `title`, whose payload is `payload`.
    pub async fn tap(&self, from: &str, payload: &str, title: &str) -> Result<String, InboundError> {
        webhooks::inbound(self, from, title, Some(payload)).await
    }

    /// Every message the simulator holds, outbound and inbound, oldest first, as it stands now.
    pub fn messages(&self) -> Vec<SimMessage> {
        self.shared.store.all()
    }
}
