//! What every provider client does alike with a failed request and with the outcome of a send: tell "nothing left
//! this machine" (a refused connection: safe to try again) from "it may have reached the provider" (anything
//! else: unknown), describe the failure for an operator, and log codes and statuses only (providers' error
//! messages can quote the phone number or address).

use crate::{ProviderError, ProviderReceipt};

/// A failure before `provider` answered.
pub(crate) fn transport(provider: &str, error: reqwest::Error) -> ProviderError {
    let connect = error.is_connect();
    let description = describe(provider, error);
    if connect {
        ProviderError::NotSent { reason: description, retry_after: None }
    } else {
        ProviderError::Unavailable(description)
    }
}

/// Describes a transport failure with its causes (reqwest's own message is only "error sending request"). The URL
/// is left out: it is ours, and the causes are what an operator needs.
pub(crate) fn describe(provider: &str, error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let error = error.without_url();
    let mut description = format!("{provider} request {kind}: {error}");
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        description.push_str(": ");
        description.push_str(&inner.to_string());
        cause = inner.source();
    }
    description
}

/// Logs the outcome of a send by its codes and statuses only.
pub(crate) fn log_outcome(provider: &str, http_status: u16, outcome: &Result<ProviderReceipt, ProviderError>) {
    match outcome {
        Ok(receipt) => tracing::debug!(
            provider,
            http_status,
            message_id = %receipt.provider_message_id,
            status = %receipt.status,
            "message accepted"
        ),
        Err(ProviderError::Rejected { code, .. }) => {
            tracing::warn!(provider, http_status, code = code.as_deref().unwrap_or("none"), "message rejected")
        }
        Err(ProviderError::Unavailable(reason)) => tracing::warn!(provider, http_status, %reason, "outcome unknown"),
        Err(ProviderError::NotSent { reason, .. }) => {
            tracing::warn!(provider, http_status, %reason, "not sent; may be tried again")
        }
    }
}
