//! The advisors' and supervisors' pages of the web console (`/console/`), rendered from the same views and actions
//! as the JSON API, behind the same gate and scope. Forms post with htmx (the session's CSRF token rides in every
//! request's header) and get back the part of the page they change; the desk stream refreshes the rest.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Extension;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use recaudo_access::browser::CurrentSession;
use recaudo_access::{Permission, Principal, Role, Team};
use recaudo_console::{lang_of, Lang, Pages, LANG_COOKIE};
use recaudo_runtime::{ApiError, Routes};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::actions::{self, AwayRequest, OutcomeRequest};
use crate::api::{self, parse_id};
use crate::{cases, Router};

pub const TEMPLATES: &[(&str, &str)] = &[
    ("queue.html", include_str!("../templates/queue.html")),
    ("queue_items.html", include_str!("../templates/queue_items.html")),
    ("case.html", include_str!("../templates/case.html")),
    ("case_panel.html", include_str!("../templates/case_panel.html")),
    ("supervisor.html", include_str!("../templates/supervisor.html")),
    ("supervisor_panel.html", include_str!("../templates/supervisor_panel.html")),
    ("home.html", include_str!("../templates/home.html")),
];

const OUTCOME_KINDS: [&str; 10] = [
    "promise",
    "claimed_payment",
    "dispute",
    "call_back",
    "cant_pay",
    "wont_pay",
    "wrong_number",
    "refinancing_request",
    "legal_representation",
    "deceased",
];

struct Console {
    r: Arc<Router>,
    pages: Pages,
}

pub fn routes(r: Arc<Router>) -> Routes {
    let c = Arc::new(Console { r, pages: Pages::new(TEMPLATES) });
    Routes::new()
        .protected("/console/", get(home))
        .protected("/console/advisors/{id}", get(advisor_page))
        .protected("/console/advisors/{id}/queue", get(advisor_fragment))
        .protected("/console/advisors/{id}/away", post(away))
        .protected("/console/supervisors/{id}", get(supervisor_page))
        .protected("/console/supervisors/{id}/panel", get(supervisor_fragment))
        .protected("/console/cases/{id}", get(case_page))
        .protected("/console/cases/{id}/panel", get(case_fragment))
        .protected("/console/cases/{id}/{action}", post(case_action))
        .with_state(c)
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

/// What every full page gets: language, CSRF token, navigation.
fn shell(who: &Principal, session: Option<&CurrentSession>, lang: Lang, title_key: &str, current: &str) -> Value {
    let mut nav = vec![];
    match who.team() {
        Team::Advisor(me) => {
            let href = format!("/console/advisors/{me}");
            nav.push(json!({ "href": href, "key": "nav.queue", "current": current == href }));
        }
        Team::Supervisor(me) => {
            let href = format!("/console/supervisors/{me}");
            nav.push(json!({ "href": href, "key": "nav.team", "current": current == href }));
        }
        Team::Everyone => {
            nav.push(json!({ "href": "/console/", "key": "nav.home", "current": current == "/console/" }))
        }
    }
    json!({
        "title": recaudo_console_title(lang, title_key),
        "csrf": session.map(|s| s.csrf_token.as_str()).unwrap_or(""),
        "nav": nav,
        "who_label": who.role().map(Role::as_str).unwrap_or("service"),
    })
}

fn recaudo_console_title(lang: Lang, key: &str) -> String {
    recaudo_console::text(lang, key).to_string()
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A full page, remembering a language chosen with `?lang=`.
fn page(c: &Console, template: &str, lang: Lang, chosen: bool, ctx: Value) -> Response {
    let mut response = c.pages.page(template, lang, ctx);
    if chosen {
        let cookie = format!("{LANG_COOKIE}={}; Path=/console; SameSite=Lax; Max-Age=31536000", lang.code());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    response
}

fn error_page(c: &Console, lang: Lang, e: ApiError) -> Response {
    // A console page answers the API's status; the body is a page, not JSON.
    let status = e.into_response().status();
    let html = c.pages.render(
        "home.html",
        lang,
        json!({ "title": status.canonical_reason().unwrap_or("Error"), "advisors": [] }),
    );
    (status, axum::response::Html(html.unwrap_or_default())).into_response()
}

async fn home(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let suffix = q.lang.as_deref().map(|l| format!("?lang={}", Lang::from_code(l).code())).unwrap_or_default();
    match who.team() {
        Team::Advisor(me) => Redirect::to(&format!("/console/advisors/{me}{suffix}")).into_response(),
        Team::Supervisor(me) => Redirect::to(&format!("/console/supervisors/{me}{suffix}")).into_response(),
        Team::Everyone => {
            let lang = lang_of(&headers, q.lang.as_deref());
            if let Err(e) = who.require(Permission::QueuesRead) {
                return error_page(&c, lang, e);
            }
            let advisors: Vec<Value> = match sqlx::query_as::<_, (Uuid, String, String)>(
                "SELECT id, first_name, last_name FROM reply_router.advisors ORDER BY last_name, first_name, id",
            )
            .fetch_all(&c.r.pool)
            .await
            {
                Ok(rows) => {
                    rows.into_iter().map(|(id, f, l)| json!({ "id": id, "first_name": f, "last_name": l })).collect()
                }
                Err(e) => return error_page(&c, lang, e.into()),
            };
            let ctx = merge(
                shell(&who, None, lang, "title.home", "/console/"),
                json!({ "advisors": advisors, "live": false }),
            );
            page(&c, "home.html", lang, q.lang.is_some(), ctx)
        }
    }
}

async fn advisor_page(
    State(c): State<Arc<Console>>,
    who: Principal,
    session: Option<Extension<CurrentSession>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let result = async {
        let advisor = parse_id("an advisor", &id)?;
        let items = api::advisor_queue_items(&c.r, &who, advisor).await?;
        let own = matches!(who.team(), Team::Advisor(me) if me.0 == advisor);
        let title = if own { "title.queue" } else { "title.advisor_queue" };
        let here = format!("/console/advisors/{advisor}");
        let shell = shell(&who, session.as_deref(), lang, title, &here);
        Ok::<_, ApiError>(merge(shell, json!({ "items": items, "fragment": format!("{here}/queue") })))
    }
    .await;
    match result {
        Ok(ctx) => page(&c, "queue.html", lang, q.lang.is_some(), ctx),
        Err(e) => error_page(&c, lang, e),
    }
}

async fn advisor_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = lang_of(&headers, None);
    let result = async {
        let advisor = parse_id("an advisor", &id)?;
        api::advisor_queue_items(&c.r, &who, advisor).await
    }
    .await;
    match result {
        Ok(items) => c.pages.page("queue_items.html", lang, json!({ "items": items })),
        Err(e) => e.into_response(),
    }
}

async fn supervisor_context(c: &Console, who: &Principal, id: Uuid) -> Result<Value, ApiError> {
    let team = api::team_members(&c.r, who, id).await?;
    let items = api::supervisor_queue_items(&c.r, who, id).await?;
    Ok(json!({ "team": team, "items": items, "fragment": format!("/console/supervisors/{id}/panel") }))
}

async fn supervisor_page(
    State(c): State<Arc<Console>>,
    who: Principal,
    session: Option<Extension<CurrentSession>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let result = async {
        let id = parse_id("a supervisor", &id)?;
        let ctx = supervisor_context(&c, &who, id).await?;
        Ok::<_, ApiError>(merge(
            shell(&who, session.as_deref(), lang, "title.team", &format!("/console/supervisors/{id}")),
            ctx,
        ))
    }
    .await;
    match result {
        Ok(ctx) => page(&c, "supervisor.html", lang, q.lang.is_some(), ctx),
        Err(e) => error_page(&c, lang, e),
    }
}

async fn supervisor_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = lang_of(&headers, None);
    let result = async {
        let id = parse_id("a supervisor", &id)?;
        supervisor_context(&c, &who, id).await
    }
    .await;
    match result {
        Ok(ctx) => c.pages.page("supervisor_panel.html", lang, ctx),
        Err(e) => e.into_response(),
    }
}

/// The case page's data: the view, plus the advisors a supervisor may transfer it to.
async fn case_context(c: &Console, who: &Principal, id: Uuid) -> Result<Value, ApiError> {
    let view = api::case_view(&c.r, who, id).await?;
    let advisors = match (who.may(Permission::TeamsManage), view.case.supervisor_id) {
        (true, Some(sup)) => api::team_members(&c.r, who, sup).await.unwrap_or_default(),
        _ => Vec::new(),
    };
    let channel = view.reply_channel.clone().unwrap_or_else(|| "whatsapp".into());
    let outcome: Option<String> = sqlx::query_scalar("SELECT outcome FROM reply_router.cases WHERE id = $1")
        .bind(id)
        .fetch_one(&c.r.pool)
        .await?;
    let mut ctx = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    // The view flattens the case; the template reads it as `case`.
    let case = serde_json::to_value(&view.case).map_err(|e| ApiError::Internal(e.into()))?;
    ctx = merge(
        ctx,
        json!({
            "case": case,
            "advisors": advisors,
            "reply_channel": channel,
            "default_template": format!("{channel}_reminder_v1"),
            "outcome_kinds": OUTCOME_KINDS,
            "outcome": outcome,
        }),
    );
    Ok(ctx)
}

async fn case_page(
    State(c): State<Arc<Console>>,
    who: Principal,
    session: Option<Extension<CurrentSession>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let result = async {
        let id = parse_id("a case", &id)?;
        let ctx = case_context(&c, &who, id).await?;
        let here = format!("/console/cases/{id}");
        Ok::<_, ApiError>(merge(shell(&who, session.as_deref(), lang, "title.case", &here), ctx))
    }
    .await;
    match result {
        Ok(ctx) => page(&c, "case.html", lang, q.lang.is_some(), ctx),
        Err(e) => error_page(&c, lang, e),
    }
}

async fn case_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = lang_of(&headers, None);
    let result = async {
        let id = parse_id("a case", &id)?;
        case_context(&c, &who, id).await
    }
    .await;
    match result {
        Ok(ctx) => c.pages.page("case_panel.html", lang, ctx),
        Err(e) => e.into_response(),
    }
}

/// An action's failure, shown above the case (htmx swaps it into the alert region): the API's message, which names
/// the field or the rule.
fn refusal(target: &str, message: &str) -> Response {
    let html = format!(
        "<p class=\"alert\">{}</p>",
        message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    );
    let mut r = axum::response::Html(html).into_response();
    r.headers_mut().insert("hx-retarget", HeaderValue::from_str(target).unwrap_or(HeaderValue::from_static("body")));
    r.headers_mut().insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    r
}

/// The message of an error answer, as the API would give it.
async fn message_of(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().unwrap_or("error").to_string();
    match v["error"]["rule"].as_str() {
        Some(rule) => format!("{message} [{rule}]"),
        None => message,
    }
}

/// A local date-time from a form (`2026-11-24T10:00`) in the debtor's time zone; or an RFC 3339 instant.
fn local_instant(text: &str, tz: chrono_tz::Tz, field: &str) -> Result<DateTime<Utc>, ApiError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .map_err(|_| ApiError::bad_request("invalid_body", format!("{field}: {text:?} is not a date and time")))?;
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc)).ok_or_else(|| {
        ApiError::bad_request("invalid_body", format!("{field}: {text} does not exist in that time zone"))
    })
}

fn field<'a>(form: &'a std::collections::HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(String::as_str).map(str::trim).filter(|v| !v.is_empty())
}

fn required<'a>(form: &'a std::collections::HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    field(form, name).ok_or_else(|| ApiError::bad_request("invalid_body", format!("{name}: required")))
}

async fn case_action(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&headers, None);
    let id = match parse_id("a case", &id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let r = &c.r;
    let done = async {
        match action.as_str() {
            "claim" => actions::claim(r, &who, id).await,
            "notes" => actions::note(r, &who, id, form.get("text").map(String::as_str).unwrap_or("")).await,
            "snooze" => {
                let tz = case_zone(r, id).await?;
                actions::snooze(r, &who, id, local_instant(required(&form, "until")?, tz, "until")?).await
            }
            "transfer" => {
                let to = parse_id("an advisor", required(&form, "advisor_id")?)?;
                actions::transfer(r, &who, id, to).await
            }
            "outcomes" => {
                let tz = case_zone(r, id).await?;
                actions::outcome(r, &who, id, outcome_from(&form, tz)?).await.map(|_| ())
            }
            "reply" => {
                let req = api::ReplyRequest {
                    channel: field(&form, "channel").map(str::to_string),
                    template: required(&form, "template")?.to_string(),
                };
                let answer = crate::reply::send(r, &who, id, req, &headers).await?;
                if !answer.status().is_success() {
                    return Err(ApiError::Conflict(message_of(answer).await));
                }
                Ok(())
            }
            other => Err(ApiError::NotFound(format!("no action {other}"))),
        }
    }
    .await;
    if let Err(e) = done {
        let message = message_of(e.into_response()).await;
        return refusal("#case-errors", &message);
    }
    match case_context(&c, &who, id).await {
        Ok(ctx) => {
            let mut response = c.pages.page("case_panel.html", lang, ctx);
            // Clears an earlier refusal.
            response.headers_mut().insert("hx-trigger", HeaderValue::from_static("case-action-done"));
            response
        }
        // Transferred out of the caller's scope, say: back to the queue.
        Err(_) => {
            let mut response = axum::response::Html(String::new()).into_response();
            response.headers_mut().insert("hx-redirect", HeaderValue::from_static("/console/"));
            response
        }
    }
}

async fn case_zone(r: &Router, id: Uuid) -> Result<chrono_tz::Tz, ApiError> {
    let debtor: Option<String> = sqlx::query_scalar("SELECT debtor_id FROM reply_router.cases WHERE id = $1")
        .bind(id)
        .fetch_optional(&r.pool)
        .await?;
    let Some(debtor) = debtor else { return Err(ApiError::NotFound(format!("no case {id}"))) };
    let mut conn = r.pool.acquire().await?;
    Ok(cases::country_of(&mut conn, &debtor).await?.time_zone())
}

fn outcome_from(
    form: &std::collections::HashMap<String, String>,
    tz: chrono_tz::Tz,
) -> Result<OutcomeRequest, ApiError> {
    let text = |n: &str| field(form, n).map(str::to_string);
    Ok(match required(form, "kind")? {
        "promise" => OutcomeRequest::Promise {
            credit_id: required(form, "credit_id")?.to_string(),
            amount: required(form, "amount")?.to_string(),
            date: required(form, "date")?.to_string(),
        },
        "claimed_payment" => OutcomeRequest::ClaimedPayment { amount: text("amount"), date: text("date") },
        "dispute" => OutcomeRequest::Dispute { reason: required(form, "reason")?.to_string() },
        "call_back" => OutcomeRequest::CallBack { at: local_instant(required(form, "at")?, tz, "at")?.to_rfc3339() },
        "cant_pay" => OutcomeRequest::CantPay,
        "wont_pay" => OutcomeRequest::WontPay,
        "wrong_number" => OutcomeRequest::WrongNumber,
        "refinancing_request" => OutcomeRequest::RefinancingRequest,
        "legal_representation" => OutcomeRequest::LegalRepresentation,
        "deceased" => OutcomeRequest::Deceased,
        other => return Err(ApiError::bad_request("invalid_outcome", format!("kind: {other:?} is not an outcome"))),
    })
}

async fn away(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&headers, None);
    let result = async {
        let advisor = parse_id("an advisor", &id)?;
        let req = AwayRequest {
            away: field(&form, "away") == Some("true"),
            reason: field(&form, "reason").map(str::to_string),
            until: None,
        };
        actions::set_away(&c.r, &who, advisor, req).await?;
        let supervisor = api::supervisor_of(&c.r, advisor).await?.flatten();
        let supervisor = supervisor.ok_or_else(|| ApiError::NotFound(format!("no supervisor of advisor {advisor}")))?;
        supervisor_context(&c, &who, supervisor).await
    }
    .await;
    match result {
        Ok(ctx) => c.pages.page("supervisor_panel.html", lang, ctx),
        Err(e) => {
            let message = message_of(e.into_response()).await;
            refusal("#team-errors", &message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_every_fixed_word_exists_in_both_languages() {
        let _ = Pages::new(TEMPLATES);
        let key = regex_free_keys();
        assert!(!key.is_empty());
        for k in key {
            assert!(recaudo_console::known(&k), "the console has no words for {k:?}");
        }
        for k in OUTCOME_KINDS {
            assert!(recaudo_console::known(&format!("outcome.{k}")), "outcome.{k}");
        }
        for k in ["reply", "click", "call", "broken_promise", "escalated"] {
            assert!(recaudo_console::known(&format!("reason.{k}")), "reason.{k}");
        }
    }

    /// The literal keys of `t("...")` and `t('...')` in the templates.
    fn regex_free_keys() -> Vec<String> {
        let mut keys = Vec::new();
        for (_, source) in TEMPLATES {
            for quote in ['"', '\''] {
                let open = format!("t({quote}");
                let mut rest = *source;
                while let Some(i) = rest.find(&open) {
                    rest = &rest[i + open.len()..];
                    if let Some(end) = rest.find(quote) {
                        keys.push(rest[..end].to_string());
                    }
                }
            }
        }
        keys
    }
}
