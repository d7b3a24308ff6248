//! The advisors' and supervisors' pages of the web console (`/console/`), rendered from the same views and actions
//! as the JSON API, behind the same gate and scope. Forms post with htmx (the session's CSRF token rides in every
//! request's header) and get back the part of the page they change; the desk stream refreshes the rest.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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
    ("case_plan.html", include_str!("../templates/case_plan.html")),
    ("supervisor.html", include_str!("../templates/supervisor.html")),
    ("supervisor_panel.html", include_str!("../templates/supervisor_panel.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("refusal.html", include_str!("../templates/refusal.html")),
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
        .protected("/console/cases/{id}/plan", get(plan_fragment))
        .protected("/console/cases/{id}/{action}", post(case_action))
        .with_state(c)
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

/// Who asks for a full page, and in which language.
struct Viewer {
    who: Principal,
    csrf: String,
    lang: Lang,
    /// The language was chosen with `?lang=` and is remembered in a cookie.
    chosen: bool,
}

impl Viewer {
    fn new(who: Principal, session: Option<Extension<CurrentSession>>, headers: &HeaderMap, q: &PageQuery) -> Viewer {
        Viewer {
            who,
            csrf: session.map(|s| s.csrf_token.clone()).unwrap_or_default(),
            lang: lang_of(headers, q.lang.as_deref()),
            chosen: q.lang.is_some(),
        }
    }

    /// What every full page gets: title, CSRF token, navigation, the caller's role.
    fn shell(&self, title_key: &str, here: &str) -> Value {
        let (href, key) = match self.who.team() {
            Team::Advisor(me) => (format!("/console/advisors/{me}"), "nav.queue"),
            Team::Supervisor(me) => (format!("/console/supervisors/{me}"), "nav.team"),
            Team::Everyone => ("/console/".to_string(), "nav.home"),
        };
        json!({
            "title": recaudo_console::text(self.lang, title_key),
            "csrf": self.csrf,
            "nav": [{ "href": href, "key": key, "current": href == here }],
            "role": self.who.role().map(Role::as_str).unwrap_or("service"),
        })
    }
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A full page (the shell, titled `title_key`, around `template`), or a page that says what went wrong, with the
/// API's status. A language chosen with `?lang=` is remembered.
fn full_page(
    c: &Console,
    v: &Viewer,
    template: &str,
    title_key: &str,
    here: &str,
    data: Result<Value, ApiError>,
) -> Response {
    let mut response = match data {
        Ok(data) => c.pages.page(template, v.lang, merge(v.shell(title_key, here), data)),
        Err(e) => {
            let (status, message) = status_and_message(e);
            let ctx = merge(v.shell("error.title", here), json!({ "message": message, "live": false }));
            (status, c.pages.page("error.html", v.lang, ctx)).into_response()
        }
    };
    if v.chosen {
        let cookie = format!("{LANG_COOKIE}={}; Path=/console; SameSite=Lax; Max-Age=31536000", v.lang.code());
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

/// A part of a page for htmx to swap in; an error is the API's JSON answer, which htmx leaves unswapped.
fn fragment(c: &Console, headers: &HeaderMap, template: &str, data: Result<Value, ApiError>) -> Response {
    match data {
        Ok(data) => c.pages.page(template, lang_of(headers, None), data),
        Err(e) => e.into_response(),
    }
}

/// The status and message an error answers with, logging an internal one as the API does.
fn status_and_message(e: ApiError) -> (StatusCode, String) {
    if let ApiError::Internal(inner) = &e {
        tracing::error!(error = %format!("{inner:#}"), "internal error");
    }
    (e.status(), e.public_message())
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
            let data = async {
                who.require(Permission::QueuesRead)?;
                let advisors: Vec<(Uuid, String, String)> = sqlx::query_as(
                    "SELECT id, first_name, last_name FROM reply_router.advisors ORDER BY last_name, first_name, id",
                )
                .fetch_all(&c.r.pool)
                .await?;
                let advisors: Vec<Value> = advisors
                    .into_iter()
                    .map(|(id, f, l)| json!({ "id": id, "first_name": f, "last_name": l }))
                    .collect();
                Ok(json!({ "advisors": advisors, "live": false }))
            }
            .await;
            let v = Viewer::new(who, None, &headers, &q);
            full_page(&c, &v, "home.html", "title.home", "/console/", data)
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
    let here = format!("/console/advisors/{id}");
    let advisor = parse_id("an advisor", &id);
    let own = matches!((who.team(), &advisor), (Team::Advisor(me), Ok(a)) if me.0 == *a);
    let data = async {
        let items = api::advisor_queue_items(&c.r, &who, advisor?).await?;
        Ok(json!({ "items": items, "fragment": format!("{here}/queue") }))
    }
    .await;
    let title = if own { "title.queue" } else { "title.advisor_queue" };
    full_page(&c, &Viewer::new(who, session, &headers, &q), "queue.html", title, &here, data)
}

async fn advisor_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let data = async {
        let items = api::advisor_queue_items(&c.r, &who, parse_id("an advisor", &id)?).await?;
        Ok(json!({ "items": items }))
    }
    .await;
    fragment(&c, &headers, "queue_items.html", data)
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
    let data = async { supervisor_context(&c, &who, parse_id("a supervisor", &id)?).await }.await;
    let here = format!("/console/supervisors/{id}");
    full_page(&c, &Viewer::new(who, session, &headers, &q), "supervisor.html", "title.team", &here, data)
}

async fn supervisor_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let data = async { supervisor_context(&c, &who, parse_id("a supervisor", &id)?).await }.await;
    fragment(&c, &headers, "supervisor_panel.html", data)
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
    Ok(json!({
        "case": view.case,
        "debtor": view.debtor,
        "credits": view.credits,
        "timeline": view.timeline,
        "advisors": advisors,
        "reply_channel": channel,
        "default_template": format!("{channel}_reminder_v1"),
        "outcome_kinds": recaudo_events::Outcome::KINDS,
        "outcome": outcome,
    }))
}

async fn case_page(
    State(c): State<Arc<Console>>,
    who: Principal,
    session: Option<Extension<CurrentSession>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let data = async { case_context(&c, &who, parse_id("a case", &id)?).await }.await;
    let here = format!("/console/cases/{id}");
    full_page(&c, &Viewer::new(who, session, &headers, &q), "case.html", "title.case", &here, data)
}

async fn case_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let data = async { case_context(&c, &who, parse_id("a case", &id)?).await }.await;
    fragment(&c, &headers, "case_panel.html", data)
}

/// The debtor's contact plan, loaded by the case page once it is shown (the scheduler may be another process).
async fn plan_fragment(
    State(c): State<Arc<Console>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let data = async {
        let id = parse_id("a case", &id)?;
        let plan = crate::plan::of_case(&c.r, &who, id, &headers).await?;
        Ok(json!({ "plan": plan }))
    }
    .await;
    fragment(&c, &headers, "case_plan.html", data)
}

/// The part of a page an action changed; an `action-done` event clears an earlier refusal.
fn action_done(c: &Console, headers: &HeaderMap, template: &str, data: Value) -> Response {
    let mut response = c.pages.page(template, lang_of(headers, None), data);
    response.headers_mut().insert("hx-trigger", HeaderValue::from_static("action-done"));
    response
}

/// An action's refusal, swapped by htmx into the alert region `target`: the API's message, which names the field
/// or the rule.
fn refusal(c: &Console, headers: &HeaderMap, target: &'static str, message: &str) -> Response {
    let mut r = c.pages.page("refusal.html", lang_of(headers, None), json!({ "message": message }));
    r.headers_mut().insert("hx-retarget", HeaderValue::from_static(target));
    r.headers_mut().insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    r
}

/// The message of the scheduler's answer to a refused reply, with the rule that refused it.
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
        return refusal(&c, &headers, "#case-errors", &status_and_message(e).1);
    }
    match case_context(&c, &who, id).await {
        Ok(ctx) => action_done(&c, &headers, "case_panel.html", ctx),
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
    let result = async {
        let advisor = parse_id("an advisor", &id)?;
        let req = AwayRequest {
            away: field(&form, "away") == Some("true"),
            reason: field(&form, "reason").map(str::to_string),
            until: None,
        };
        actions::set_away(&c.r, &who, advisor, req).await?;
        let supervisor = cases::supervisor_of(&c.r.pool, advisor).await?.flatten();
        let supervisor = supervisor.ok_or_else(|| ApiError::NotFound(format!("no supervisor of advisor {advisor}")))?;
        supervisor_context(&c, &who, supervisor).await
    }
    .await;
    match result {
        Ok(ctx) => action_done(&c, &headers, "supervisor_panel.html", ctx),
        Err(e) => refusal(&c, &headers, "#team-errors", &status_and_message(e).1),
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
        // A key ending in `.` is a family completed at render time (`t("reason." ~ c.reason)`); the families are
        // checked below with every value they take.
        for k in key.iter().filter(|k| !k.ends_with('.')) {
            assert!(recaudo_console::known(k), "the console has no words for {k:?}");
        }
        let families: [(&str, &[&str]); 8] = [
            ("state", &["open", "claimed", "snoozed", "closed"]),
            ("queue", &["advisor", "supervisor", "pool"]),
            ("channel", &["sms", "whatsapp", "email", "voice", "letter", "call"]),
            ("attempt", &["sent", "failed", "unknown"]),
            ("status", &["queued", "sent", "delivered", "read", "failed", "undelivered"]),
            ("role", &["admin", "manager", "supervisor", "advisor", "auditor", "service"]),
            (
                "tl",
                &[
                    "case_opened",
                    "click",
                    "reply",
                    "call_task",
                    "attempt",
                    "status",
                    "outcome",
                    "note",
                    "claim",
                    "transfer",
                    "escalation",
                    "warning",
                    "snooze",
                    "woken",
                    "reply_sent",
                    "promise_made",
                    "promise_kept",
                    "promise_broken",
                ],
            ),
            ("reason", &["reply", "click", "call", "broken_promise", "escalated"]),
        ];
        for (family, values) in families {
            for v in values {
                assert!(recaudo_console::known(&format!("{family}.{v}")), "{family}.{v}");
            }
        }
        for k in recaudo_events::Outcome::KINDS {
            assert!(recaudo_console::known(&format!("outcome.{k}")), "outcome.{k}");
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
