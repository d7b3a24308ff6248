//! Contact events: the scheduler requests a contact, the channel's dispatcher attempts it and reports the
//! provider's delivery statuses.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_domain::{AdvisorId, Country, CreditId, Currency, DebtorId, PhoneNumber};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Channel, Event};

/// The scheduler decided to contact a debtor. Carries everything the dispatcher needs to render and send, so the
/// dispatcher keeps no portfolio projection of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactRequested {
    pub contact_id: Uuid,
    pub channel: Channel,
    pub strategy: String,
    /// The strategy version, stage, step and A/B variant that made the decision.
    #[serde(default, flatten)]
    pub decision: Decision,
    pub template: String,
    /// The template as a manager saved it, carried so every dispatcher renders the very version the scheduler
    /// checked when it decided. Absent for the built-in catalogue's templates, which travel by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_source: Option<TemplateSource>,
    /// Address on the channel: E.164 for sms/whatsapp/voice.
    pub to: String,
    pub country: Country,
    pub debtor: ContactDebtor,
    pub credit: ContactCredit,
    pub advisor: Option<ContactAdvisor>,
    /// The debtor's IANA time zone as the scheduler resolved it (country and city): the dispatcher re-checks the
    /// send window in it. Absent in requests from before it existed: the country's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The promise to pay a promise reminder is about (the `promise.*` tags); absent on every other contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promise: Option<ContactPromise>,
    pub requested_at: DateTime<Utc>,
}

/// A promise to pay in force, as a reminder the day before it is due names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactPromise {
    pub credit_id: CreditId,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub due_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactDebtor {
    pub id: DebtorId,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactCredit {
    pub id: CreditId,
    pub product: String,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_overdue: Decimal,
    pub days_past_due: u32,
    /// The instalment's due date, when the client file gives it (the `credit.due_date` tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactAdvisor {
    pub id: AdvisorId,
    pub first_name: String,
    pub last_name: String,
    pub phone: PhoneNumber,
}

/// A message template: its body and, by channel, an email's subject or the WhatsApp template Meta approved.
/// Bodies, subjects and parameters are Jinja-style templates over the tags `recaudo-templates` documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSource {
    /// The saved version (0 for the built-in catalogue).
    #[serde(default)]
    pub version: i32,
    pub channel: Channel,
    /// The text of an SMS, of a WhatsApp message inside the 24-hour window, of an email, or a call task's note.
    pub body: String,
    /// An email's subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// How the provider knows the approved WhatsApp template, the only kind of message allowed outside the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappApproval>,
}

/// A WhatsApp template as approved at Meta (or registered at Twilio's Content API), and how its body
/// parameters `{{1}}`, `{{2}}`, ... are filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappApproval {
    /// The template's name at Meta: lower-case letters, digits and underscores.
    pub meta_name: String,
    /// Meta's language code of the approved translation (`es`, `es_MX`, `en_US`, ...).
    pub language: String,
    /// Each body parameter, in order, as a template over the same tags.
    #[serde(default)]
    pub params: Vec<String>,
    /// Payloads of the template's quick-reply buttons, in order.
    #[serde(default)]
    pub quick_replies: Vec<String>,
    /// The body as approved, with its `{{1}}`..`{{n}}` placeholders: when given, its placeholders must match
    /// `params` one for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_body: Option<String>,
    /// The same template's `ContentSid` (`HX` and 32 hex digits) for Twilio's WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sid: Option<String>,
}

impl Event for ContactRequested {
    const TYPE: &'static str = "recaudo.contact.requested.v1";
    fn subject_suffix(&self) -> String {
        format!("contact.requested.{}", self.channel)
    }
    fn entity(&self) -> String {
        self.contact_id.to_string()
    }
}

/// Which part of which strategy decided a contact. Empty in events from before strategies (and for a contact no
/// strategy made).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A planned contact that the policy engine stopped, with the rule that stopped it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactSuppressed {
    pub contact_id: Uuid,
    pub channel: Channel,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    pub rule: String,
    pub detail: String,
    /// The strategy (`name`) and the part of it whose contact was stopped, when a strategy made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(default, flatten)]
    pub decision: Decision,
}

impl Event for ContactSuppressed {
    const TYPE: &'static str = "recaudo.contact.suppressed.v1";
    fn subject_suffix(&self) -> String {
        "contact.suppressed".into()
    }
    fn entity(&self) -> String {
        self.contact_id.to_string()
    }
}

/// The scheduler withdraws a contact it requested that may not have been sent yet (a hold, an opt-out, a payment
/// that cleared the debt since). Published on a subject of the contact's own, `contact.cancelled.<channel>.<id>`:
/// the channel's dispatcher looks it up in the stream just before the provider call and suppresses the request;
/// one already attempted is not affected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactCancelled {
    pub contact_id: Uuid,
    pub channel: Channel,
    pub debtor_id: DebtorId,
    /// The rule that stops it (`hold.deceased`, `consent.withdrawn`, ...).
    pub rule: String,
    pub detail: String,
    pub cancelled_at: DateTime<Utc>,
    /// The withdrawn request's strategy and decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(default, flatten)]
    pub decision: Decision,
}

impl Event for ContactCancelled {
    const TYPE: &'static str = "recaudo.contact.cancelled.v1";
    fn subject_suffix(&self) -> String {
        cancelled_subject(self.channel, self.contact_id)
    }
    fn entity(&self) -> String {
        self.contact_id.to_string()
    }
}

/// The subject suffix of a contact's cancellation.
pub fn cancelled_subject(channel: Channel, contact_id: Uuid) -> String {
    format!("contact.cancelled.{channel}.{contact_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    /// The provider accepted the message.
    Sent,
    /// The provider refused it, or it was certainly not sent.
    Failed,
    /// Cut off before the provider answered (a timeout after the request left, a crash), and the provider's
    /// records could not tell: it may have reached the debtor. Never resent on a guess, and no fallback follows it;
    /// a later status report settles it, or the provider's records prove it never arrived (`contact.not_sent`).
    Unknown,
}

/// The dispatcher recorded an attempt and is about to call the provider: the attempt's reply link works from now
/// on, so that every message that reaches a debtor carries a link that answers, even one whose send was cut off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactPrepared {
    pub attempt_id: Uuid,
    pub contact_id: Uuid,
    pub channel: Channel,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    /// Token of the attempt's click-to-reply link (`/r/{token}`).
    pub reply_token: String,
    pub prepared_at: DateTime<Utc>,
}

impl Event for ContactPrepared {
    const TYPE: &'static str = "recaudo.contact.prepared.v1";
    fn subject_suffix(&self) -> String {
        format!("contact.prepared.{}", self.channel)
    }
    fn entity(&self) -> String {
        self.attempt_id.to_string()
    }
}

/// The dispatcher called the provider (at most once per attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactAttempted {
    pub attempt_id: Uuid,
    pub contact_id: Uuid,
    pub channel: Channel,
    /// The request's strategy and decision, so that results can be compared by variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(default, flatten)]
    pub decision: Decision,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    pub advisor_id: Option<AdvisorId>,
    pub outcome: AttemptOutcome,
    pub provider: String,
    pub provider_message_id: Option<String>,
    /// The rendered message as sent.
    pub body: String,
    /// Token of the attempt's click-to-reply link (`/r/{token}`).
    pub reply_token: String,
    pub error: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

impl Event for ContactAttempted {
    const TYPE: &'static str = "recaudo.contact.attempted.v1";
    fn subject_suffix(&self) -> String {
        format!("contact.attempted.{}", self.channel)
    }
    fn entity(&self) -> String {
        self.attempt_id.to_string()
    }
}

/// An attempt cut off before the provider answered (published `unknown`) that the provider's own records prove it
/// never received: settled as not sent, and its request decided again by the dispatcher (the send window and
/// caps checked anew; a new attempt, or a suppression). Only on proof: a complete search of the provider's records
/// made after the request could no longer arrive, twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactNotSent {
    pub attempt_id: Uuid,
    pub contact_id: Uuid,
    pub channel: Channel,
    /// The attempt's strategy and decision, as on its `contact.attempted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(default, flatten)]
    pub decision: Decision,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    pub provider: String,
    /// What the provider's records showed, in words (which search, how often, how long after the cut-off).
    pub evidence: String,
    pub settled_at: DateTime<Utc>,
}

impl Event for ContactNotSent {
    const TYPE: &'static str = "recaudo.contact.not_sent.v1";
    fn subject_suffix(&self) -> String {
        format!("contact.not_sent.{}", self.channel)
    }
    fn entity(&self) -> String {
        self.attempt_id.to_string()
    }
}

/// A delivery status reported by the provider's webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactStatus {
    pub attempt_id: Uuid,
    pub channel: Channel,
    /// The attempt's strategy and decision, as on its `contact.attempted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(default, flatten)]
    pub decision: Decision,
    pub provider_message_id: String,
    /// The normalised status: `queued`, `sent`, `delivered`, `read`, `failed` or `undelivered`.
    pub status: String,
    /// The provider's own word for it (`bounce`, `dropped`, `canceled`, ...) and its error code, as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    pub error_code: Option<String>,
    /// No later report changes the outcome (delivered, read, failed, undelivered): after a final failure the
    /// strategy's fallback channel follows at once.
    #[serde(default)]
    pub is_final: bool,
    pub reported_at: DateTime<Utc>,
}

impl Event for ContactStatus {
    const TYPE: &'static str = "recaudo.contact.status.v1";
    fn subject_suffix(&self) -> String {
        format!("contact.status.{}", self.channel)
    }
    fn entity(&self) -> String {
        self.attempt_id.to_string()
    }
}
