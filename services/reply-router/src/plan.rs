//! The debtor's contact plan on the case page. The plan is the scheduler's (strategy, stage, next contacts, what the
//! law holds back): the page asks the scheduler's `GET /api/debtors/{id}/plan` with the caller's own credentials, as
//! a case reply does, so the scheduler applies its own scope and audit. A scheduler that does not answer leaves the
//! rest of the case page working.

use axum::http::HeaderMap;
use recaudo_access::{scope, Principal, Resource};
use recaudo_runtime::ApiError;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{reply, views, Router};

/// The plan of the case's debtor, or `None` when the scheduler cannot give it now.
pub async fn of_case(r: &Router, who: &Principal, id: Uuid, headers: &HeaderMap) -> Result<Option<Value>, ApiError> {
    let item = views::item(&r.pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    scope::require(&r.pool, who, Resource::Case(item.holder()), &format!("case {id}")).await?;
    let request = r.http.get(format!("{}/api/debtors/{}/plan", r.scheduler_url, item.debtor_id));
    let answer = match reply::with_credentials(request, headers).send().await {
        Ok(answer) if answer.status().is_success() => answer,
        Ok(answer) => {
            tracing::warn!(status = answer.status().as_u16(), "the scheduler refused a case's plan");
            return Ok(None);
        }
        Err(e) => {
            tracing::warn!(error = %e, "the scheduler did not answer for a case's plan");
            return Ok(None);
        }
    };
    Ok(answer.json::<Value>().await.ok().map(with_refusals_grouped))
}

/// One line per rule that holds contacts back, with the channels it holds: a frequency cap refuses every channel
/// with the same words, which the page should say once.
fn with_refusals_grouped(mut plan: Value) -> Value {
    let mut held: Vec<Value> = Vec::new();
    for s in plan["suppressions"].as_array().into_iter().flatten() {
        match held.iter_mut().find(|h| h["rule"] == s["rule"] && h["reason"] == s["reason"]) {
            Some(h) => h["channels"].as_array_mut().expect("built below").push(s["channel"].clone()),
            None => held.push(json!({ "rule": s["rule"], "reason": s["reason"], "channels": [s["channel"]] })),
        }
    }
    plan["held"] = Value::Array(held);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_that_refuses_several_channels_alike_is_one_line() {
        let plan = json!({ "suppressions": [
            { "channel": "sms", "rule": "co.one_contact_a_day", "reason": "1 contact already" },
            { "channel": "email", "rule": "co.one_contact_a_day", "reason": "1 contact already" },
            { "channel": "whatsapp", "rule": "consent.withdrawn", "reason": "opted out" },
        ]});
        let held = with_refusals_grouped(plan)["held"].clone();
        assert_eq!(
            held,
            json!([
                { "rule": "co.one_contact_a_day", "reason": "1 contact already", "channels": ["sms", "email"] },
                { "rule": "consent.withdrawn", "reason": "opted out", "channels": ["whatsapp"] },
            ])
        );
    }
}
