//! "May I contact this debtor now, on this channel?" and "when is the next allowed instant?": one answer for the
//! scheduler (before it requests a contact), the dispatcher (again, just before the provider is called) and manual
//! contacts. Every no names its rule, its legal source and a reason a person can read.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use recaudo_domain::Country;

use crate::holidays;
use crate::preset::{Medium, Preset};

/// A channel as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Sms,
    Whatsapp,
    Email,
    Voice,
    Letter,
    /// An advisor's call.
    Call,
}

impl From<recaudo_events::Channel> for Channel {
    fn from(c: recaudo_events::Channel) -> Self {
        match c {
            recaudo_events::Channel::Sms => Channel::Sms,
            recaudo_events::Channel::Whatsapp => Channel::Whatsapp,
            recaudo_events::Channel::Email => Channel::Email,
            recaudo_events::Channel::Voice => Channel::Voice,
            recaudo_events::Channel::Letter => Channel::Letter,
            recaudo_events::Channel::Call => Channel::Call,
        }
    }
}

impl Channel {
    pub const ALL: [Channel; 6] =
        [Channel::Sms, Channel::Whatsapp, Channel::Email, Channel::Voice, Channel::Letter, Channel::Call];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Call => "call",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
            Channel::Voice => "voice",
            Channel::Letter => "letter",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The channel as the event contracts name it.
    pub fn event_channel(self) -> recaudo_events::Channel {
        match self {
            Channel::Sms => recaudo_events::Channel::Sms,
            Channel::Whatsapp => recaudo_events::Channel::Whatsapp,
            Channel::Email => recaudo_events::Channel::Email,
            Channel::Voice => recaudo_events::Channel::Voice,
            Channel::Letter => recaudo_events::Channel::Letter,
            Channel::Call => recaudo_events::Channel::Call,
        }
    }

    pub fn medium(self) -> Medium {
        match self {
            Channel::Sms | Channel::Whatsapp => Medium::Message,
            Channel::Email => Medium::Email,
            Channel::Voice | Channel::Call => Medium::Call,
            Channel::Letter => Medium::Letter,
        }
    }
}

/// Do-not-contact states, as outcomes and events set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    Dispute,
    PromiseInForce,
    /// The debtor asked to be called back at an instant; nothing before it.
    CallBack,
    CantPay,
    /// The debtor says they paid: nothing until the payment is verified.
    ClaimedPayment,
    /// The lender is considering the debtor's request to refinance.
    Refinancing,
    /// The phone number reaches someone else: no phone channel until the number changes.
    WrongNumber,
    LegalRepresentation,
    Deceased,
}

impl HoldKind {
    pub const ALL: [HoldKind; 9] = [
        HoldKind::Dispute,
        HoldKind::PromiseInForce,
        HoldKind::CallBack,
        HoldKind::CantPay,
        HoldKind::ClaimedPayment,
        HoldKind::Refinancing,
        HoldKind::WrongNumber,
        HoldKind::LegalRepresentation,
        HoldKind::Deceased,
    ];

    /// The rule name a suppression by this hold carries (`hold.dispute`).
    pub fn rule(self) -> &'static str {
        match self {
            HoldKind::Dispute => "hold.dispute",
            HoldKind::PromiseInForce => "hold.promise_in_force",
            HoldKind::CallBack => "hold.call_back",
            HoldKind::CantPay => "hold.cant_pay",
            HoldKind::ClaimedPayment => "hold.claimed_payment",
            HoldKind::Refinancing => "hold.refinancing",
            HoldKind::WrongNumber => "hold.wrong_number",
            HoldKind::LegalRepresentation => "hold.legal_representation",
            HoldKind::Deceased => "hold.deceased",
        }
    }

    /// The hold's stored name: its rule without the `hold.` prefix.
    pub fn as_str(self) -> &'static str {
        &self.rule()["hold.".len()..]
    }

    pub fn parse(s: &str) -> Option<HoldKind> {
        HoldKind::ALL.into_iter().find(|k| k.as_str() == s || k.rule() == s)
    }

    /// The channels a hold of this kind stops; every channel unless it is about one address.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            HoldKind::WrongNumber => &[Channel::Sms, Channel::Whatsapp, Channel::Voice, Channel::Call],
            _ => &Channel::ALL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub kind: HoldKind,
    /// `None`: until it is lifted.
    pub until: Option<DateTime<Utc>>,
}

/// What the engine needs to know of the debtor.
#[derive(Debug, Clone)]
pub struct Debtor {
    pub country: Country,
    pub zone: Tz,
    /// Channels the debtor gave (the file's phone and email, an opt-in): what Colombia's "authorised" means.
    pub authorised: Vec<Channel>,
    /// Channels whose consent was withdrawn (STOP, unsubscribe).
    pub withdrawn: Vec<Channel>,
    pub holds: Vec<Hold>,
}

impl Debtor {
    pub fn new(country: Country, zone: Tz) -> Self {
        Debtor { country, zone, authorised: Channel::ALL.to_vec(), withdrawn: Vec::new(), holds: Vec::new() }
    }
}

/// A contact already made: when, on which channel, and whether it became a conversation (a call answered by the
/// debtor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Past {
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub conversation: bool,
}

/// Why not now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Stable rule name, carried by `contact.suppressed`.
    pub rule: &'static str,
    /// The legal source, or Recaudo's, of the rule.
    pub source: &'static str,
    pub reason: String,
}

/// A preset with a lender's extra holidays (see [`crate::tighten`] for tighter hours and caps).
#[derive(Debug, Clone)]
pub struct Policy {
    pub preset: Preset,
    pub extra_holidays: Vec<NaiveDate>,
}

/// How far ahead `next_allowed` looks before it gives up.
const HORIZON_DAYS: i64 = 400;

impl Policy {
    pub fn for_country(country: Country) -> Policy {
        Policy { preset: Preset::for_country(country), extra_holidays: Vec::new() }
    }

    /// `Ok` when a contact on `channel` may be made at `at`, given what was sent before.
    pub fn check(
        &self,
        debtor: &Debtor,
        history: &[Past],
        channel: Channel,
        at: DateTime<Utc>,
    ) -> Result<(), Suppression> {
        self.check_state(debtor, channel, at)?;
        self.check_time(debtor, channel, at)?;
        self.check_caps(debtor, history, channel, at)
    }

    /// Holds and consent: whatever the hour.
    pub fn check_state(&self, debtor: &Debtor, channel: Channel, at: DateTime<Utc>) -> Result<(), Suppression> {
        for h in &debtor.holds {
            if h.kind.channels().contains(&channel) && h.until.is_none_or(|until| at < until) {
                let until = h.until.map(|u| format!(" until {}", local(debtor.zone, u))).unwrap_or_default();
                return Err(Suppression {
                    rule: h.kind.rule(),
                    source: "the debtor's case",
                    reason: format!("the debtor's case is on hold ({:?}){until}", h.kind),
                });
            }
        }
        if debtor.withdrawn.contains(&channel) {
            return Err(Suppression {
                rule: "consent.withdrawn",
                source: "the debtor's opt-out",
                reason: format!("the debtor withdrew consent for {channel:?}"),
            });
        }
        if let Some((rule, source)) = self.preset.authorised_channels_only {
            if !debtor.authorised.contains(&channel) {
                return Err(Suppression { rule, source, reason: format!("the debtor has not authorised {channel:?}") });
            }
        }
        Ok(())
    }

    /// Hours, weekdays and holidays of the channel's medium, in the debtor's local time.
    pub fn check_time(&self, debtor: &Debtor, channel: Channel, at: DateTime<Utc>) -> Result<(), Suppression> {
        let window = self.preset.window(channel.medium());
        let t = at.with_timezone(&debtor.zone);
        let date = t.date_naive();
        let closed = |reason: String| Suppression { rule: window.rule, source: window.source, reason };
        if window.closed_on_holidays {
            if let Some(name) = self.holiday(debtor.country, date) {
                return Err(closed(format!("{date} is a holiday in {} ({name})", debtor.country.code())));
            }
        }
        match window.on(date.weekday()) {
            None => Err(closed(format!("no {:?} contacts on {}s", channel.medium(), date.weekday()))),
            Some(h) if t.time() < h.open || t.time() >= h.close => Err(closed(format!(
                "local time {} ({}) is outside {}–{} on {}s",
                t.format("%H:%M"),
                debtor.zone.name(),
                h.open.format("%H:%M"),
                h.close.format("%H:%M"),
                date.weekday()
            ))),
            Some(_) => Ok(()),
        }
    }

    fn holiday(&self, country: Country, date: NaiveDate) -> Option<&'static str> {
        if self.extra_holidays.contains(&date) {
            return Some("a day the lender closed");
        }
        if !holidays::covers(date) {
            // Unknown years are treated as holidays: the engine never guesses in the debtor's disfavour.
            return Some("the holiday calendar does not cover this year");
        }
        holidays::holiday(country, date)
    }

    /// Frequency caps, the one-channel rule and waiting periods, over local calendar days.
    pub fn check_caps(
        &self,
        debtor: &Debtor,
        history: &[Past],
        channel: Channel,
        at: DateTime<Utc>,
    ) -> Result<(), Suppression> {
        let day = |t: DateTime<Utc>| t.with_timezone(&debtor.zone).date_naive();
        let today = day(at);
        let past: Vec<(NaiveDate, &Past)> = history.iter().filter(|p| p.at <= at).map(|p| (day(p.at), p)).collect();
        let medium = channel.medium();
        for cap in self.preset.caps.iter().filter(|c| c.applies_to(medium)) {
            let counted: Vec<NaiveDate> = past
                .iter()
                .filter(|(_, p)| cap.applies_to(p.channel.medium()))
                .map(|(d, _)| *d)
                .filter(|d| (today - *d).num_days() < cap.days as i64)
                .collect();
            if counted.len() as u32 >= cap.max {
                return Err(Suppression {
                    rule: cap.rule,
                    source: cap.source,
                    reason: format!(
                        "{} contact(s) already in the last {} local day(s) (at most {})",
                        counted.len(),
                        cap.days,
                        cap.max
                    ),
                });
            }
            if cap.min_gap_days > 0 {
                let near = past
                    .iter()
                    .filter(|(_, p)| cap.applies_to(p.channel.medium()))
                    .any(|(d, _)| (today - *d).num_days() < cap.min_gap_days as i64);
                if near {
                    return Err(Suppression {
                        rule: cap.rule,
                        source: cap.source,
                        reason: format!("the last contact was less than {} local days ago", cap.min_gap_days),
                    });
                }
            }
        }
        if let Some((max, days, rule, source)) = self.preset.channels_per_window {
            let mut used: Vec<Channel> =
                past.iter().filter(|(d, _)| (today - *d).num_days() < days as i64).map(|(_, p)| p.channel).collect();
            used.push(channel);
            used.sort();
            used.dedup();
            if used.len() as u32 > max {
                return Err(Suppression {
                    rule,
                    source,
                    reason: format!("another channel was used in the last {days} local days (at most {max})"),
                });
            }
        }
        if let (Medium::Call, Some((days, rule, source))) = (medium, self.preset.call_wait_after_conversation_days) {
            let talked = past.iter().any(|(d, p)| {
                p.conversation && p.channel.medium() == Medium::Call && (today - *d).num_days() <= days as i64
            });
            if talked {
                return Err(Suppression {
                    rule,
                    source,
                    reason: format!("a telephone conversation took place within the last {days} days"),
                });
            }
        }
        Ok(())
    }

    /// The first instant at or after `after` at which [`Policy::check`] allows the contact; `None` when none comes
    /// within 400 days (a permanent hold, withdrawn consent).
    pub fn next_allowed(
        &self,
        debtor: &Debtor,
        history: &[Past],
        channel: Channel,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // What the rules depend on changes only at a window's opening, at local midnight (caps, holidays) and when a
        // hold ends; so the earliest allowed instant is `after` itself or one of those.
        let mut candidates = vec![after];
        candidates.extend(debtor.holds.iter().filter_map(|h| h.until).filter(|u| *u > after));
        let start = after.with_timezone(&debtor.zone).date_naive();
        let window = self.preset.window(channel.medium());
        for offset in 0..HORIZON_DAYS {
            let Some(date) = start.checked_add_signed(Duration::days(offset)) else { break };
            if let Some(h) = window.on(date.weekday()) {
                if let Some(t) = first_instant(debtor.zone, date.and_time(h.open)) {
                    candidates.push(t);
                }
            }
        }
        candidates.retain(|t| *t >= after);
        candidates.sort();
        candidates.dedup();
        // A hold that ends mid-day is its own candidate: the window then opens at its end.
        candidates.into_iter().find(|t| self.check(debtor, history, channel, *t).is_ok())
    }

    /// The debtor's local calendar date at `at` (what daily caps count by).
    pub fn local_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&zone).date_naive()
    }
}

/// The first real instant at or after a local wall-clock time (a DST gap moves it forward).
fn first_instant(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut t = local;
    for _ in 0..=180 {
        if let Some(x) = zone.from_local_datetime(&t).earliest() {
            return Some(x.with_timezone(&Utc));
        }
        t += Duration::minutes(1);
    }
    None
}

fn local(zone: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// The instant of a local wall-clock time on `date` in `zone` (a time a DST change skips moves forward).
pub fn local_instant(zone: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    first_instant(zone, date.and_time(time))
}

/// Midnight at the start of `date` in `zone`, as an instant.
pub fn start_of_day(zone: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    first_instant(zone, date.and_time(NaiveTime::MIN))
}
