//! Payment intake: the payments file and the signed `POST /api/payments` both end as `payment.received` events.
//! Applying them (and ignoring a repeated reference) is portfolio's business.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Json;
use chrono::NaiveDate;
use recaudo_access::{Permission, Principal};
use recaudo_bus::outbox::Outbox;
use recaudo_domain::CreditId;
use recaudo_events::{PaymentReceived, PaymentSource};
use recaudo_runtime::{ApiError, Clock, Routes};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::file::payments::PaymentRecord;
use crate::signature::{self, SignatureError};

#[derive(Clone)]
pub struct PaymentIntake {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: Clock,
    /// Shared secret of `POST /api/payments`: when set, a signature is required beside the credential.
    pub secret: Option<String>,
    pub tolerance_secs: i64,
}

impl PaymentIntake {
    /// Publishes the payments in one transaction; returns their ids in order.
    pub async fn publish(&self, records: &[PaymentRecord], source: PaymentSource) -> Result<Vec<Uuid>, sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(records.len());
        for r in records {
            let payment_id = Uuid::now_v7();
            let event = PaymentReceived {
                payment_id,
                credit_id: r.credit_id.clone(),
                paid_on: r.paid_on,
                amount: r.amount,
                method: r.method.clone(),
                reference: r.reference.clone(),
                source,
                received_at: now,
            };
            self.outbox.enqueue(&mut tx, now, event).await?;
            ids.push(payment_id);
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(ids)
    }
}

pub fn routes(intake: Arc<PaymentIntake>) -> Routes {
    Routes::new().protected("/api/payments", post(receive)).with_state(intake)
}

/// One payment as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentInput {
    credit_id: String,
    paid_on: NaiveDate,
    /// A decimal string ("1234.50"); numbers are accepted too but strings avoid floating-point surprises.
    amount: serde_json::Value,
    #[serde(default)]
    method: String,
    reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Body {
    Many(Vec<PaymentInput>),
    One(PaymentInput),
}

/// `POST /api/payments`: one payment object or an array of them, by a caller with `payments:write` (a service
/// credential, a manager, an admin); also signed (`Recaudo-Signature`) when `RECAUDO_PAYMENTS_SECRET` is set. All
/// or nothing: a body with an invalid payment is refused whole, with every problem listed.
async fn receive(
    State(intake): State<Arc<PaymentIntake>>,
    who: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    who.require(Permission::PaymentsWrite)?;
    if let Some(secret) = &intake.secret {
        let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
        signature::verify(secret, header, &body, intake.clock.now(), intake.tolerance_secs).map_err(|e| match e {
            SignatureError::Malformed => ApiError::bad_request("malformed_signature", e.to_string()),
            other => ApiError::Unauthorized(other.to_string()),
        })?;
    }
    let inputs = match serde_json::from_slice::<Body>(&body) {
        Ok(Body::Many(list)) => list,
        Ok(Body::One(one)) => vec![one],
        Err(e) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("expected a payment object or an array of them: {e}"),
            ))
        }
    };
    if inputs.is_empty() {
        return Err(ApiError::bad_request("invalid_body", "no payments in the body"));
    }
    let mut records = Vec::with_capacity(inputs.len());
    let mut problems = Vec::new();
    for (i, p) in inputs.into_iter().enumerate() {
        match validate(p) {
            Ok(r) => records.push(r),
            Err(list) => problems.extend(
                list.into_iter().map(|(field, reason)| json!({ "index": i, "field": field, "reason": reason })),
            ),
        }
    }
    if !problems.is_empty() {
        let message =
            format!("{} problem(s) in the payments; nothing was accepted: {}", problems.len(), json!(problems));
        return Err(ApiError::bad_request("invalid_payments", message));
    }
    let ids = intake.publish(&records, PaymentSource::Api).await?;
    let accepted: Vec<_> =
        ids.iter().zip(&records).map(|(id, r)| json!({ "payment_id": id, "reference": r.reference })).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted.len(), "payments": accepted }))))
}

fn validate(p: PaymentInput) -> Result<PaymentRecord, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let credit_id = CreditId::parse(&p.credit_id).map_err(|e| problems.push(("credit_id", e.to_string()))).ok();
    let amount = match &p.amount {
        serde_json::Value::String(s) => s.trim().parse::<Decimal>().ok(),
        serde_json::Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
        _ => None,
    };
    let amount = match amount {
        Some(a) if a > Decimal::ZERO => Some(a),
        Some(a) => {
            problems.push(("amount", format!("must be positive, got {a}")));
            None
        }
        None => {
            problems.push(("amount", "must be a decimal number such as \"1234.50\"".into()));
            None
        }
    };
    problems.extend(recaudo_events::payment::text_problems(&p.method, &p.reference));
    if let Err(e) = recaudo_domain::calendar::check_date(p.paid_on) {
        problems.push(("paid_on", e));
    }
    match (credit_id, amount) {
        (Some(credit_id), Some(amount)) if problems.is_empty() => Ok(PaymentRecord {
            line: 0,
            credit_id,
            paid_on: p.paid_on,
            amount,
            method: p.method,
            reference: p.reference.trim().to_string(),
        }),
        _ => Err(problems),
    }
}
