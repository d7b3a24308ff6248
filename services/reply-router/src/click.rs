//! `GET /r/{token}`: the click-to-reply link of an attempt. Records the click, puts the debtor in their current
//! advisor's queue and sends them to the advisor's WhatsApp with a prefilled message (or to a page with the
//! advisor's contacts when the advisor has no WhatsApp).
//!
//! Messaging apps fetch links to draw a preview before anyone taps them. Such a fetch (a link-preview robot's
//! user agent, or a `HEAD` request) gets a neutral page and changes nothing: otherwise every delivered message would
//! look like a click and open a queue item nobody asked for.

use recaudo_domain::text::html_escape;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use recaudo_domain::{AdvisorId, CreditId, DebtorId};
use recaudo_events::{Channel, ReplyClicked, ReplyKind, ReplyRouted};
use recaudo_runtime::ApiError;
use sqlx::FromRow;
use uuid::Uuid;

use crate::Router;

/// Public: the unguessable token is the credential.
pub fn routes(r: Arc<Router>) -> recaudo_runtime::Routes {
    recaudo_runtime::Routes::new().public("/r/{token}", get(click)).with_state(r)
}

#[derive(FromRow)]
struct Target {
    attempt_id: Uuid,
    channel: String,
    debtor_id: String,
    credit_id: String,
    debtor_first_name: Option<String>,
    debtor_last_name: Option<String>,
    advisor_id: Option<Uuid>,
    advisor_first_name: Option<String>,
    advisor_last_name: Option<String>,
    advisor_phone: Option<String>,
    advisor_whatsapp: Option<String>,
    supervisor_id: Option<Uuid>,
}

/// User-agent fragments (lowercase) of the robots that fetch links to preview them.
const PREVIEW_AGENTS: &[&str] = &[
    "whatsapp/",
    "facebookexternalhit",
    "facebot",
    "telegrambot",
    "twitterbot",
    "slackbot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "applebot",
    "googlebot",
    "bingbot",
    "embedly",
    "iframely",
];

/// Whether the request is a link preview or a probe rather than a person opening the link.
fn is_preview(method: &Method, headers: &HeaderMap) -> bool {
    if method == Method::HEAD {
        return true;
    }
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    PREVIEW_AGENTS.iter().any(|robot| agent.contains(robot))
}

async fn click(
    State(r): State<Arc<Router>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Tokens are short base64url strings; anything else (a NUL byte, say) is no link and never reaches a query.
    if token.is_empty()
        || token.len() > 128
        || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request("invalid_token", "token: not a reply link token"));
    }
    if is_preview(&method, &headers) {
        return Ok(Html(page("Hable con su asesor", "Abra este enlace para escribir a su asesor.")).into_response());
    }
    // The advisor is the credit's advisor *now*, not the one when the message was sent.
    let target: Option<Target> = sqlx::query_as(
        "SELECT l.attempt_id, l.channel, l.debtor_id, l.credit_id, a.debtor_first_name, a.debtor_last_name,
                v.id AS advisor_id, v.first_name AS advisor_first_name, v.last_name AS advisor_last_name,
                v.phone AS advisor_phone, v.whatsapp AS advisor_whatsapp, v.supervisor_id
         FROM reply_router.links l
         LEFT JOIN reply_router.accounts a ON a.credit_id = l.credit_id
         LEFT JOIN reply_router.advisors v ON v.id = a.advisor_id
         WHERE l.token = $1",
    )
    .bind(&token)
    .fetch_optional(&r.pool)
    .await?;
    let Some(t) = target else {
        return Ok((
            StatusCode::NOT_FOUND,
            Html(page("Enlace no válido", "Este enlace no existe o ya no está activo.")),
        )
            .into_response());
    };
    let now = r.clock.now();
    let debtor_id =
        DebtorId::parse(&t.debtor_id).map_err(|e| ApiError::Internal(anyhow::anyhow!("stored debtor id: {e}")))?;
    let credit_id =
        CreditId::parse(&t.credit_id).map_err(|e| ApiError::Internal(anyhow::anyhow!("stored credit id: {e}")))?;
    let channel: Channel = t.channel.parse().map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;

    let click_id = Uuid::now_v7();
    let mut tx = r.pool.begin().await?;
    let mut queue_item = None;
    if let Some(advisor_id) = t.advisor_id {
        let arrival = crate::cases::Arrival {
            advisor_id,
            supervisor_id: t.supervisor_id,
            reason: crate::cases::Reason::Click,
            debtor_id: &debtor_id,
            credit_id: &credit_id,
            message: None,
        };
        let item_id = crate::cases::land(&mut tx, &r, arrival, now).await?;
        let routed = ReplyRouted {
            queue_item_id: item_id,
            kind: ReplyKind::Click,
            debtor_id: debtor_id.clone(),
            credit_id: credit_id.clone(),
            advisor_id: AdvisorId(advisor_id),
            routed_at: now,
        };
        r.outbox.enqueue(&mut tx, now, routed).await?;
        queue_item = Some(item_id);
    }
    let detail =
        serde_json::json!({ "channel": channel.as_str(), "attempt_id": t.attempt_id, "credit_id": credit_id.as_str() });
    crate::timeline::add(&mut tx, debtor_id.as_str(), queue_item, now, "click", None, detail).await?;
    sqlx::query("INSERT INTO reply_router.clicks (id, token, advisor_id, queue_item_id, clicked_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(click_id)
        .bind(&token)
        .bind(t.advisor_id)
        .bind(queue_item)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let clicked = ReplyClicked { click_id, attempt_id: t.attempt_id, channel, debtor_id, credit_id, clicked_at: now };
    r.outbox.enqueue(&mut tx, now, clicked).await?;
    tx.commit().await?;
    r.outbox.wake();

    Ok(match (&t.advisor_whatsapp, &t.advisor_id) {
        (Some(whatsapp), Some(_)) => {
            let url = whatsapp_link(whatsapp, &prefilled(&t));
            (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
        }
        (None, Some(_)) => Html(page(
            "Su asesor",
            &format!(
                "Su asesor {} {} le contactará. Teléfono: {}",
                html_escape(t.advisor_first_name.as_deref().unwrap_or("")),
                html_escape(t.advisor_last_name.as_deref().unwrap_or("")),
                html_escape(t.advisor_phone.as_deref().unwrap_or(""))
            ),
        ))
        .into_response(),
        _ => Html(page("Gracias", "Recibimos su solicitud; un asesor le contactará pronto.")).into_response(),
    })
}

/// The message the debtor sends their advisor, naming themselves and the credit.
fn prefilled(t: &Target) -> String {
    let advisor = t.advisor_first_name.as_deref().unwrap_or("");
    let name =
        format!("{} {}", t.debtor_first_name.as_deref().unwrap_or(""), t.debtor_last_name.as_deref().unwrap_or(""));
    format!(
        "Hola {advisor}, soy {} (cliente {}). Quiero hablar sobre mi crédito {}.",
        name.trim(),
        t.debtor_id,
        t.credit_id
    )
}

/// `https://wa.me/<digits>?text=<message>`, as WhatsApp's click-to-chat documents it.
pub fn whatsapp_link(e164: &str, text: &str) -> String {
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    let encoded = percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC);
    format!("https://wa.me/{digits}?text={encoded}")
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head><body><h1>{title}</h1><p>{message}</p></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_previews_and_probes_are_told_apart_from_people() {
        let with_agent = |ua: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, ua.parse().unwrap());
            h
        };
        assert!(is_preview(&Method::GET, &with_agent("WhatsApp/2.23.20.0 A")));
        assert!(is_preview(
            &Method::GET,
            &with_agent("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
        ));
        assert!(is_preview(&Method::GET, &with_agent("TelegramBot (like TwitterBot)")));
        assert!(is_preview(&Method::HEAD, &HeaderMap::new()));
        let phone = "Mozilla/5.0 (Linux; Android 13; SM-A135M) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile Safari/537.36";
        assert!(!is_preview(&Method::GET, &with_agent(phone)));
        assert!(!is_preview(&Method::GET, &HeaderMap::new()));
    }

    #[test]
    fn whatsapp_links_carry_digits_and_an_encoded_message() {
        assert_eq!(
            whatsapp_link("+525544939092", "Hola Ana, soy José (cliente C1)."),
            "https://wa.me/525544939092?text=Hola%20Ana%2C%20soy%20Jos%C3%A9%20%28cliente%20C1%29%2E"
        );
    }
}
