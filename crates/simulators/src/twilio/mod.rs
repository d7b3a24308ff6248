//! A local simulator of Twilio's Messages API (REST API 2010-04-01), speaking Twilio's wire format closely enough
//! that `recaudo_providers::twilio::TwilioSms` cannot tell it from Twilio: basic auth, form-encoded requests, the
//! Message resource and error JSON, test "magic numbers", and signed status callbacks and inbound webhooks.
//!
//! It carries SMS and WhatsApp as Twilio does, on the same API: `whatsapp:` addresses, content templates
//! (`ContentSid`, `ContentVariables`), and WhatsApp's 24-hour customer-service window, outside which a free-form
//! message is accepted and then fails with 63016.
//!
//! Routes are relative, so the router can be nested under any prefix (e.g. `/sim/twilio`); point the client's
//! `base_url` at that prefix. Resource `uri` fields stay relative Twilio paths, as Twilio's are.
//!
//! The control route that makes a simulated debtor reply is not Twilio's; it is on a router of its own
//! ([`TwilioSimulator::control_router`]) for the app to mount behind access control (see [`control`]).

mod api;
mod auth;
mod channel;
pub mod control;
mod errors;
mod resource;
mod store;
mod validation;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

pub use channel::Channel;
pub use store::SimMessage;

#[derive(Clone)]
pub struct SimConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// Delay before each status callback (`sent`, then `delivered`).
    pub status_delay: Duration,
    /// Play the message's whole life, status callbacks included, before answering the request that created it: the
    /// race where the provider's callbacks overtake its own API response, which real networks produce now and then.
    pub callbacks_before_response: bool,
    /// Where simulated inbound messages are posted: the incoming-message webhook of the process that serves the
    /// simulator, and nowhere else.
    pub inbound_webhook_url: Option<String>,
    /// Where simulated inbound WhatsApp messages are posted: the incoming-message webhook of the WhatsApp sender,
    /// which Twilio configures apart from the SMS number's.
    pub whatsapp_inbound_webhook_url: Option<String>,
}

impl SimConfig {
    /// A sender the simulator accepts; it is Twilio's own magic "valid From" test number.
    pub const DEMO_FROM: &'static str = "+15005550006";

    /// Fixed demo credentials, so the app and the simulator agree without configuration. They are not secrets:
    /// nothing but the simulator accepts them.
    pub fn demo() -> Self {
        Self {
            // "recaudo" and "simulator" in hex, padded to Twilio's 32 hex digits.
            account_sid: "AC7265636175646f000000000000000000".to_string(),
            auth_token: "73696d756c61746f7200000000000000".to_string(),
            status_delay: Duration::from_millis(200),
            callbacks_before_response: false,
            inbound_webhook_url: None,
            whatsapp_inbound_webhook_url: None,
        }
    }
}

// Hand-written so the auth token does not reach a log through `{:?}`.
impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("status_delay", &self.status_delay)
            .finish()
    }
}

/// The simulator: cheap to clone, every clone sees the same messages.
#[derive(Clone)]
pub struct TwilioSimulator {
    shared: Arc<Shared>,
}

struct Shared {
    config: SimConfig,
    store: store::MessageStore,
    /// One client for every callback and webhook, so connections are reused.
    http: reqwest::Client,
}

impl TwilioSimulator {
    pub fn new(config: SimConfig) -> Self {
        let shared = Shared { config, store: store::MessageStore::default(), http: reqwest::Client::new() };
        Self { shared: Arc::new(shared) }
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/2010-04-01/Accounts/{account_sid}/Messages.json",
                post(api::create_message).get(api::list_messages),
            )
            .route("/2010-04-01/Accounts/{account_sid}/Messages/{message_file}", get(api::fetch_message))
            .with_state(self.clone())
    }

    /// The simulator's own controls (`POST /inbound`), for the app to mount behind access control.
    pub fn control_router(&self) -> Router {
        Router::new().route("/inbound", post(control::simulate_inbound)).with_state(self.clone())
    }

    /// Every message the simulator holds, outbound and inbound, oldest first, as it stands now.
    pub fn messages(&self) -> Vec<SimMessage> {
        self.shared.store.all()
    }
}
