//! The Twilio SMS client.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::twilio::wire::CreateMessageForm;
use crate::twilio::{response, webhook, TwilioConfig, TwilioConfigError, API_VERSION};
use crate::{
    InboundMessage, OutboundSms, ProviderError, ProviderReceipt, SmsProvider, StatusUpdate, WebhookError,
    WebhookRequest,
};

/// Long enough for Twilio's usual sub-second answers under load, short enough that a stuck request does not hold a
/// dispatch worker; past it the outcome is unknown and reported as such.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct TwilioSms {
    config: TwilioConfig,
    messages_url: String,
    http: reqwest::Client,
}

impl TwilioSms {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioConfigError> {
        let config = config.validated()?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Twilio does not redirect its API; following one would resend the credentials somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TwilioConfigError::HttpClient(e.to_string()))?;
        let messages_url = format!("{}/{API_VERSION}/Accounts/{}/Messages.json", config.base_url, config.account_sid);
        Ok(Self { config, messages_url, http })
    }

    pub fn account_sid(&self) -> &str {
        &self.config.account_sid
    }

    async fn create_message(&self, msg: &OutboundSms) -> Result<ProviderReceipt, ProviderError> {
        // Twilio's Messages API has no idempotency key, so `msg.idempotency_key` cannot be passed on: a retry after
        // `Unavailable` may send twice, which is why that variant says the outcome is unknown.
        let form = CreateMessageForm {
            to: &msg.to,
            from: self.config.from.as_deref(),
            messaging_service_sid: self.config.messaging_service_sid.as_deref(),
            body: &msg.body,
            status_callback: msg.status_callback.as_deref(),
        };
        let sent = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Err(unavailable(error)),
        };
        let http_status = response.status().as_u16();
        let body = response.bytes().await.map_err(unavailable)?;
        let outcome = response::interpret(http_status, &body);
        log_outcome(http_status, &outcome);
        outcome
    }
}

impl SmsProvider for TwilioSms {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, msg: &'a OutboundSms) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>> {
        self.create_message(msg).boxed()
    }

    fn parse_status_webhook(&self, req: &WebhookRequest<'_>) -> Result<StatusUpdate, WebhookError> {
        webhook::parse_status(&self.config, req)
    }

    fn parse_inbound_webhook(&self, req: &WebhookRequest<'_>) -> Result<InboundMessage, WebhookError> {
        webhook::parse_inbound(&self.config, req)
    }
}

/// Describes a transport failure with its causes (reqwest's own message is only "error sending request"). The URL
/// is left out: it is ours, and the causes are what an operator needs.
fn unavailable(error: reqwest::Error) -> ProviderError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let error = error.without_url();
    let mut description = format!("Twilio request {kind}: {error}");
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        description.push_str(": ");
        description.push_str(&inner.to_string());
        cause = inner.source();
    }
    ProviderError::Unavailable(description)
}

/// Logs codes and statuses only: Twilio's error messages can quote the phone number.
fn log_outcome(http_status: u16, outcome: &Result<ProviderReceipt, ProviderError>) {
    match outcome {
        Ok(receipt) => tracing::debug!(
            provider = "twilio",
            http_status,
            message_sid = %receipt.provider_message_id,
            status = %receipt.status,
            "message accepted"
        ),
        Err(ProviderError::Rejected { code, .. }) => tracing::warn!(
            provider = "twilio",
            http_status,
            code = code.as_deref().unwrap_or("none"),
            "message rejected"
        ),
        Err(ProviderError::Unavailable(reason)) => {
            tracing::warn!(provider = "twilio", http_status, %reason, "outcome unknown")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: String) -> TwilioConfig {
        TwilioConfig {
            base_url,
            account_sid: "AC11111111111111111111111111111111".into(),
            auth_token: "22222222222222222222222222222222".into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
        }
    }

    #[test]
    fn builds_the_messages_url_from_base_url_and_account() {
        let client = TwilioSms::new(config("http://127.0.0.1:9/sim/twilio/".into())).expect("valid config");
        assert_eq!(
            client.messages_url,
            "http://127.0.0.1:9/sim/twilio/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json"
        );
        assert_eq!(client.name(), "twilio");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable_not_rejected() {
        // Bind then drop a listener to get a local port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let client = TwilioSms::new(config(format!("http://127.0.0.1:{port}"))).expect("valid config");
        let msg = OutboundSms {
            to: "+573001234567".into(),
            body: "Hola".into(),
            status_callback: None,
            idempotency_key: "attempt-1".into(),
        };
        let result = client.send(&msg).await;
        assert!(
            matches!(result, Err(ProviderError::Unavailable(ref reason)) if reason.contains("could not connect")),
            "{result:?}"
        );
    }
}
