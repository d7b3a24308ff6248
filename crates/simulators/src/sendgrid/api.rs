//! `POST /v3/mail/send`: the bearer key, SendGrid's validation and error body, `202` with `X-Message-Id`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::sendgrid::{events, lock, new_message_id, Fault, SendGridSimulator, SimMail};

/// One entry of SendGrid's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: Option<String>,
    pub(crate) message: &'static str,
}

fn errors(status: StatusCode, errors: &[FieldError]) -> Response {
    let errors: Vec<Value> =
        errors.iter().map(|e| json!({ "message": e.message, "field": e.field, "help": null })).collect();
    (status, Json(json!({ "errors": errors }))).into_response()
}

pub(crate) async fn mail_send(State(sim): State<SendGridSimulator>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = sim.next_fault();
    if let Some(Fault::Latency(wait)) = &fault {
        tokio::time::sleep(*wait).await;
    }
    if !authorized(&sim.config().api_key, &headers) {
        let unauthorized =
            FieldError { field: None, message: "The provided authorization grant is invalid, expired, or revoked" };
        return errors(StatusCode::UNAUTHORIZED, &[unauthorized]);
    }
    match &fault {
        Some(Fault::ServerError) => {
            return errors(StatusCode::INTERNAL_SERVER_ERROR, &[FieldError { field: None, message: "Internal error" }])
        }
        Some(Fault::RateLimited { retry_after }) => {
            let mut response =
                errors(StatusCode::TOO_MANY_REQUESTS, &[FieldError { field: None, message: "too many requests" }]);
            let reset = Utc::now().timestamp() + retry_after.as_secs() as i64;
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
            headers.insert("X-RateLimit-Limit", HeaderValue::from_static("600"));
            headers.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
            headers.insert("X-RateLimit-Reset", HeaderValue::from(reset));
            return response;
        }
        _ => {}
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, &[FieldError { field: None, message: "Bad Request" }]);
    };
    let mail = match validate(&request) {
        Ok(mail) => mail,
        Err(found) => return errors(StatusCode::BAD_REQUEST, &found),
    };
    lock(&sim.shared.mails).push(mail.clone());
    tracing::info!(message_id = %mail.message_id, recipients = mail.to.len(), "simulated SendGrid accepted a mail");
    events::spawn(sim.clone(), mail.clone(), fault);
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(id) = HeaderValue::from_str(&mail.message_id) {
        response.headers_mut().insert("X-Message-Id", id);
    }
    response
}

fn authorized(api_key: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => {
            recaudo_providers::constant_time_eq(key.trim().as_bytes(), api_key.as_bytes())
        }
        _ => false,
    }
}

/// SendGrid's checks, each failure naming its field as SendGrid does (`personalizations.0.to.0.email`). All are
/// reported at once, as SendGrid reports them.
pub(crate) fn validate(request: &Value) -> Result<SimMail, Vec<FieldError>> {
    let mut found = Vec::new();
    let mut fail = |field: String, message: &'static str| found.push(FieldError { field: Some(field), message });

    let mut to = Vec::new();
    let personalizations = request["personalizations"].as_array().filter(|p| !p.is_empty());
    match personalizations {
        None => fail(
            "personalizations".into(),
            "The personalizations field is required and must have at least one personalization.",
        ),
        Some(list) => {
            for (i, personalization) in list.iter().enumerate() {
                match personalization["to"].as_array().filter(|t| !t.is_empty()) {
                    None => fail(
                        format!("personalizations.{i}.to"),
                        "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
                    ),
                    Some(recipients) => {
                        for (j, recipient) in recipients.iter().enumerate() {
                            match recipient["email"].as_str().filter(|e| is_address(e)) {
                                Some(email) => to.push(email.to_string()),
                                None => fail(format!("personalizations.{i}.to.{j}.email"), "Does not contain a valid address."),
                            }
                        }
                    }
                }
            }
        }
    }
    let from = request["from"]["email"].as_str().filter(|e| is_address(e));
    if from.is_none() {
        fail("from.email".into(), "The from email does not contain a valid address.");
    }
    let subject = request["subject"].as_str().filter(|s| !s.is_empty());
    let every_personalization_has_one =
        personalizations.is_some_and(|list| list.iter().all(|p| p["subject"].as_str().is_some_and(|s| !s.is_empty())));
    if subject.is_none() && !every_personalization_has_one {
        fail(
            "subject".into(),
            "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
        );
    }
    let (mut text, mut html) = (None, None);
    match request["content"].as_array().filter(|c| !c.is_empty()) {
        None => fail(
            "content".into(),
            "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.",
        ),
        Some(parts) => {
            let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap_or_default()).collect();
            if kinds.iter().skip(1).any(|k| *k == "text/plain") {
                fail("content".into(), "If present, text/plain content must be first, followed by text/html, followed by any other content.");
            }
            for (k, part) in parts.iter().enumerate() {
                if kinds[k].is_empty() {
                    fail(format!("content.{k}.type"), "The content type cannot contain ';', or CRLF characters, and must be at least one character.");
                }
                match part["value"].as_str().filter(|v| !v.is_empty()) {
                    None => fail(format!("content.{k}.value"), "The content value must be a string at least one character in length."),
                    Some(value) if kinds[k] == "text/plain" => text = Some(value.to_string()),
                    Some(value) if kinds[k] == "text/html" => html = Some(value.to_string()),
                    Some(_) => {}
                }
            }
        }
    }
    let mut custom_args = strings(&request["custom_args"], "custom_args", &mut fail);
    if let Some(first) = personalizations.and_then(|list| list.first()) {
        custom_args.extend(strings(&first["custom_args"], "personalizations.0.custom_args", &mut fail));
    }
    let headers = strings(&request["headers"], "headers", &mut fail);
    if !found.is_empty() {
        return Err(found);
    }
    Ok(SimMail {
        message_id: new_message_id(),
        to,
        from: from.unwrap_or_default().to_string(),
        from_name: request["from"]["name"].as_str().map(str::to_string),
        subject: subject.unwrap_or_default().to_string(),
        text,
        html,
        headers,
        custom_args,
        received_at: Utc::now(),
    })
}

/// An object of string values (`custom_args`, `headers`); SendGrid refuses any other value type.
fn strings(value: &Value, field: &str, fail: &mut impl FnMut(String, &'static str)) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(map) = value.as_object() {
        for (key, value) in map {
            match value.as_str() {
                Some(text) => {
                    out.insert(key.clone(), text.to_string());
                }
                None => fail(format!("{field}.{key}"), "Invalid type. Expected: string."),
            }
        }
    } else if !value.is_null() {
        fail(field.to_string(), "Invalid type. Expected: object.");
    }
    out
}

/// One `@` with something on each side and nothing that cannot be in a bare address.
fn is_address(s: &str) -> bool {
    matches!(s.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        && !s.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "personalizations": [{"to": [{"email": "deudor@example.com"}], "custom_args": {"attempt_id": "a-1"}}],
            "from": {"email": "cobranza@recaudo.example", "name": "Recaudo"},
            "subject": "Su cuota",
            "content": [{"type": "text/plain", "value": "Hola"}, {"type": "text/html", "value": "<p>Hola</p>"}],
            "headers": {"List-Unsubscribe": "<https://recaudo.example/u>"},
            "custom_args": {"attempt_id": "a-0", "batch": "b"}
        })
    }

    #[test]
    fn accepts_a_valid_request_and_keeps_its_fields() {
        let mail = validate(&valid()).expect("valid");
        assert_eq!(mail.to, ["deudor@example.com"]);
        assert_eq!((mail.text.as_deref(), mail.html.as_deref()), (Some("Hola"), Some("<p>Hola</p>")));
        assert_eq!(mail.custom_args.get("attempt_id").map(String::as_str), Some("a-1"));
        assert_eq!(mail.custom_args.get("batch").map(String::as_str), Some("b"));
        assert_eq!(mail.message_id.len(), 22);
        assert!(!mail.message_id.contains('.'));
    }

    fn fields(request: Value) -> Vec<String> {
        validate(&request).expect_err("invalid").into_iter().filter_map(|e| e.field).collect()
    }

    #[test]
    fn names_the_field_of_each_problem() {
        let mut bad = valid();
        bad["personalizations"][0]["to"][0]["email"] = json!("not an address");
        bad["from"] = json!({});
        bad["subject"] = json!("");
        bad["content"] = json!([{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": ""}]);
        assert_eq!(
            fields(bad),
            ["personalizations.0.to.0.email", "from.email", "subject", "content", "content.1.value"]
        );
        assert_eq!(fields(json!({"personalizations": [{"to": []}]}))[..2], ["personalizations.0.to", "from.email"]);
        assert_eq!(fields(json!({}))[0], "personalizations");
        let mut numeric = valid();
        numeric["custom_args"]["attempt_id"] = json!(7);
        assert_eq!(fields(numeric), ["custom_args.attempt_id"]);
    }
}
