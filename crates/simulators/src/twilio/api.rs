//! The Twilio REST routes: create, fetch and list messages.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::twilio::auth::authorize;
use crate::twilio::channel::Channel;
use crate::twilio::errors::ApiError;
use crate::twilio::resource::{message_json, Page};
use crate::twilio::store::{new_message_sid, SimMessage};
use crate::twilio::validation::{validate, CreateParams, MessageContent, ValidRequest};
use crate::twilio::webhooks::Plan;
use crate::twilio::{webhooks, TwilioSimulator};

/// Twilio's default page size, and its maximum.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
pub(crate) async fn create_message(
    State(sim): State<TwilioSimulator>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = sim.config();
    authorize(config, &headers, &account_sid)?;
    // Form decoding is lossy rather than failing; what cannot be read ends up missing and is reported as such.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let request = validate(CreateParams::from_pairs(pairs))?;

    let now = Utc::now();
    let plan = plan_for(&sim, &request, now);
    // Without a sender of its own, a Messaging Service first "accepts" the message and picks a sender later.
    let status = if request.from.is_none() { "accepted" } else { "queued" };
    let body = request.content.readable();
    let message = SimMessage {
        sid: new_message_sid(),
        direction: "outbound-api".to_string(),
        num_segments: num_segments(request.channel, &body),
        content_sid: request.content.content_sid().map(str::to_string),
        from: request.from,
        to: request.to,
        body,
        messaging_service_sid: request.messaging_service_sid,
        status: status.to_string(),
        error_code: None,
        status_callback: request.status_callback,
        date_created: now,
        date_updated: now,
        date_sent: None,
    };
    sim.shared.store.insert(message.clone());
    tracing::info!(message_sid = %message.sid, status, ?plan, "simulated Twilio accepted a message");
    let created = message_json(&config.account_sid, &message);
    if config.callbacks_before_response {
        webhooks::deliver(sim.clone(), message.sid.clone(), plan).await;
    } else {
        webhooks::spawn_delivery(sim.clone(), message.sid.clone(), plan);
    }
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// WhatsApp lets a business send free-form messages only within 24 hours of the user's last message; templates may
/// start a conversation. Twilio does not refuse the request for it: the message is created and fails afterwards.
fn plan_for(sim: &TwilioSimulator, request: &ValidRequest, now: DateTime<Utc>) -> Plan {
    let free_form = matches!(request.content, MessageContent::Body(_));
    let window_open = || sim.shared.store.window_open(&request.to, request.from.as_deref(), now);
    if request.channel == Channel::Whatsapp && free_form && !window_open() {
        Plan::OutsideWindow
    } else {
        Plan::Deliver
    }
}

/// WhatsApp carries a message whole, so only SMS is split into segments.
pub(crate) fn num_segments(channel: Channel, body: &str) -> u32 {
    match channel {
        Channel::Sms => recaudo_domain::sms::count(body).segments as u32,
        Channel::Whatsapp => 1,
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`
pub(crate) async fn fetch_message(
    State(sim): State<TwilioSimulator>,
    Path((account_sid, message_file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let config = sim.config();
    authorize(config, &headers, &account_sid)?;
    let requested = format!("/2010-04-01/Accounts/{account_sid}/Messages/{message_file}");
    let message = message_file
        .strip_suffix(".json")
        .and_then(|sid| sim.shared.store.get(sid))
        .ok_or_else(|| ApiError::not_found(&requested))?;
    Ok(Json(message_json(&config.account_sid, &message)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "From")]
    from: Option<String>,
    #[serde(rename = "PageSize")]
    page_size: Option<usize>,
    #[serde(rename = "Page")]
    page: Option<usize>,
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages.json`, filtered by `To` and `From`, paged by `PageSize`/`Page`.
pub(crate) async fn list_messages(
    State(sim): State<TwilioSimulator>,
    Path(account_sid): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let config = sim.config();
    authorize(config, &headers, &account_sid)?;
    let to = query.to.map(restore_plus);
    let from = query.from.map(restore_plus);
    let mut matching: Vec<SimMessage> = sim
        .shared
        .store
        .all()
        .into_iter()
        .filter(|m| to.as_ref().is_none_or(|to| &m.to == to))
        .filter(|m| from.as_ref().is_none_or(|from| m.from.as_ref() == Some(from)))
        .collect();
    matching.reverse();

    let filters = [("To", to), ("From", from)].into_iter().filter_map(|(name, value)| Some((name, value?))).collect();
    let page = Page {
        account_sid: &config.account_sid,
        filters,
        page: query.page.unwrap_or(0),
        page_size: query.page_size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
        matching,
    };
    Ok(Json(page.to_json()))
}

/// A `+` sent unencoded in a query string decodes as a space; put it back so `To=+57…` (and
/// `To=whatsapp:+57…`) still matches.
fn restore_plus(address: String) -> String {
    let (channel, number) = Channel::of(&address);
    match number.strip_prefix(' ') {
        Some(rest) => format!("{}+{rest}", channel.prefix()),
        None => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unencoded_plus_is_restored_behind_the_whatsapp_prefix_too() {
        assert_eq!(restore_plus(" 573001234567".into()), "+573001234567");
        assert_eq!(restore_plus("whatsapp: 573001234567".into()), "whatsapp:+573001234567");
        assert_eq!(restore_plus("whatsapp:+573001234567".into()), "whatsapp:+573001234567");
    }
}
