//! Applying payments: partial, full and excess. A payment goes first to the overdue balance; once nothing is
//! overdue the credit is no longer past due, and a credit paid in full is closed.

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_domain::DebtorId;
use recaudo_events::{PaymentApplied, PaymentOutcome, PaymentReceived, PaymentRejected};
use recaudo_runtime::Clock;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::{snapshot, SCHEMA};

const CONSUMER: &str = "portfolio-payments";
/// How much of an unusable reference a rejection repeats.
const REFERENCE_SHOWN: usize = recaudo_events::payment::REFERENCE_MAX_CHARS;

pub struct PaymentHandler {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: Clock,
}

/// The balances after a payment.
#[derive(Debug, PartialEq, Eq)]
pub struct Allocation {
    pub applied_to_overdue: Decimal,
    pub excess: Decimal,
    pub total_after: Decimal,
    pub overdue_after: Decimal,
    pub outcome: PaymentOutcome,
}

pub fn allocate(amount: Decimal, total: Decimal, overdue: Decimal) -> Allocation {
    // Floors at zero keep the amounts' scale, so "0.00" stays "0.00" in the currency's minor units.
    let floor = |d: Decimal| if d.is_sign_negative() { Decimal::new(0, d.scale()) } else { d };
    let applied_to_overdue = amount.min(overdue);
    let total_after = floor(total - amount);
    let excess = floor(amount - total);
    let overdue_after = (overdue - applied_to_overdue).min(total_after);
    let outcome = if excess > Decimal::ZERO {
        PaymentOutcome::Excess
    } else if total_after.is_zero() {
        PaymentOutcome::Full
    } else {
        PaymentOutcome::Partial
    };
    Allocation { applied_to_overdue, excess, total_after, overdue_after, outcome }
}

impl Handler for PaymentHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let p = msg.envelope.decode::<PaymentReceived>()?.data;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        // Ingestion refuses such payments at the edge; one from elsewhere is rejected with the reason instead of
        // failing until it is dead-lettered (PostgreSQL cannot store a NUL, say).
        let mut problems = recaudo_events::payment::text_problems(&p.method, &p.reference);
        if let Err(e) = recaudo_domain::calendar::check_date(p.paid_on) {
            problems.push(("paid_on", e));
        }
        if !problems.is_empty() {
            let reason: Vec<String> = problems.iter().map(|(field, why)| format!("{field} {why}")).collect();
            let event = PaymentRejected {
                payment_id: p.payment_id,
                reference: p.reference.chars().filter(|c| !c.is_control()).take(REFERENCE_SHOWN).collect(),
                credit_id: p.credit_id.clone(),
                reason: reason.join("; "),
            };
            self.outbox.enqueue(&mut tx, now, event).await?;
            tx.commit().await?;
            self.outbox.wake();
            return Ok(());
        }
        // A reference rejected earlier (its credit was not imported yet) may be sent again and applied.
        let seen: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM portfolio.payments WHERE reference = $1 AND outcome <> 'rejected')",
        )
        .bind(&p.reference)
        .fetch_one(&mut *tx)
        .await?;
        if seen {
            tx.commit().await?;
            return Ok(());
        }
        let credit: Option<(String, String, Decimal, Decimal)> = sqlx::query_as(
            "SELECT debtor_id, currency, balance_total, balance_overdue FROM portfolio.credits WHERE id = $1 FOR UPDATE",
        )
        .bind(p.credit_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((debtor_id, currency, total, overdue)) = credit else {
            record(&mut tx, &p, "rejected", Decimal::ZERO, now).await?;
            let event = PaymentRejected {
                payment_id: p.payment_id,
                reference: p.reference.clone(),
                credit_id: p.credit_id.clone(),
                reason: "no such credit in the portfolio".into(),
            };
            self.outbox.enqueue(&mut tx, now, event).await?;
            tx.commit().await?;
            self.outbox.wake();
            return Ok(());
        };
        let a = allocate(p.amount, total, overdue);
        sqlx::query(
            "UPDATE portfolio.credits SET balance_total = $2, balance_overdue = $3,
                    days_past_due = CASE WHEN $3 = 0 THEN 0 ELSE days_past_due END,
                    status = CASE WHEN $2 = 0 THEN 'closed' ELSE status END, updated_at = $4,
                    version = version + 1
             WHERE id = $1",
        )
        .bind(p.credit_id.as_str())
        .bind(a.total_after)
        .bind(a.overdue_after)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let outcome = match a.outcome {
            PaymentOutcome::Partial => "partial",
            PaymentOutcome::Full => "full",
            PaymentOutcome::Excess => "excess",
        };
        record(&mut tx, &p, outcome, a.excess, now).await?;
        let event = PaymentApplied {
            payment_id: p.payment_id,
            reference: p.reference.clone(),
            credit_id: p.credit_id.clone(),
            debtor_id: DebtorId::parse(&debtor_id).map_err(HandleError::reject)?,
            currency: currency.parse().map_err(HandleError::reject)?,
            amount: p.amount,
            outcome: a.outcome,
            applied_to_overdue: a.applied_to_overdue,
            excess: a.excess,
            balance_total_after: a.total_after,
            balance_overdue_after: a.overdue_after,
            paid_on: p.paid_on,
        };
        self.outbox.enqueue(&mut tx, now, event).await?;
        crate::promises::settle_kept(&mut tx, &self.outbox, p.credit_id.as_str(), now).await?;
        snapshot::publish_accounts(&mut tx, &self.outbox, now, &[p.credit_id.to_string()]).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}

async fn record(
    conn: &mut sqlx::PgConnection,
    p: &PaymentReceived,
    outcome: &str,
    excess: Decimal,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO portfolio.payments (id, reference, credit_id, paid_on, amount, method, outcome, excess, applied_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (reference) DO UPDATE SET id = EXCLUDED.id, credit_id = EXCLUDED.credit_id,
             paid_on = EXCLUDED.paid_on, amount = EXCLUDED.amount, method = EXCLUDED.method, outcome = EXCLUDED.outcome,
             excess = EXCLUDED.excess, applied_at = EXCLUDED.applied_at",
    )
    .bind(p.payment_id)
    .bind(&p.reference)
    .bind(p.credit_id.as_str())
    .bind(p.paid_on)
    .bind(p.amount)
    .bind(&p.method)
    .bind(outcome)
    .bind(excess)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn partial_payments_go_to_the_overdue_balance_first() {
        let a = allocate(d("30"), d("100"), d("50"));
        assert_eq!(
            (a.applied_to_overdue, a.overdue_after, a.total_after, a.outcome),
            (d("30"), d("20"), d("70"), PaymentOutcome::Partial)
        );
        let a = allocate(d("60"), d("100"), d("50"));
        assert_eq!((a.overdue_after, a.total_after, a.outcome), (d("0"), d("40"), PaymentOutcome::Partial));
    }

    #[test]
    fn full_and_excess_payments_clear_the_credit() {
        let a = allocate(d("100"), d("100"), d("50"));
        assert_eq!(
            (a.total_after, a.overdue_after, a.excess, a.outcome),
            (d("0"), d("0"), d("0"), PaymentOutcome::Full)
        );
        let a = allocate(d("120.50"), d("100"), d("50"));
        assert_eq!((a.total_after, a.excess, a.outcome), (d("0"), d("20.50"), PaymentOutcome::Excess));
    }
}
