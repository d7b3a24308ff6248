//! The presets against the law as the issue states it, written here a second time as a plain oracle; property tests
//! over random debtors, instants (every DST change of 2025–2030 in Santiago, Mexico City, Tijuana and New York among
//! them) and contact histories: the engine never allows what a preset forbids, and its next allowed instant is
//! allowed (and nothing earlier is).

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use recaudo_domain::Country;
use recaudo_policy::tighten::{DayHours, Tightening};
use recaudo_policy::{holidays, Channel, Debtor, Hold, HoldKind, Past, Policy};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn debtor(country: Country) -> Debtor {
    Debtor::new(country, country.time_zone())
}

fn allowed(country: Country, channel: Channel, at: &str) -> Result<(), &'static str> {
    Policy::for_country(country).check(&debtor(country), &[], channel, utc(at)).map_err(|s| s.rule)
}

#[test]
fn colombia_ley_2300() {
    // Monday 23 Nov 2026; Bogotá is UTC-5 all year.
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-23T12:00:00Z"), Ok(()), "07:00");
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-23T11:59:00Z"), Err("co.hours"), "06:59");
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-23T23:59:00Z"), Ok(()), "18:59");
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-24T00:00:00Z"), Err("co.hours"), "19:00");
    // Saturday 28 Nov: 08:00–15:00.
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-28T19:59:00Z"), Ok(()), "Sat 14:59");
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-28T20:00:00Z"), Err("co.hours"), "Sat 15:00");
    assert_eq!(allowed(Country::Colombia, Channel::Voice, "2026-11-28T12:30:00Z"), Err("co.hours"), "Sat 07:30");
    // Never on Sundays nor on holidays (Monday 16 Nov 2026, Independence of Cartagena).
    assert_eq!(allowed(Country::Colombia, Channel::Email, "2026-11-29T15:00:00Z"), Err("co.hours"));
    assert_eq!(allowed(Country::Colombia, Channel::Sms, "2026-11-16T15:00:00Z"), Err("co.hours"));
    // One contact a day and one channel a week, after the first.
    let p = Policy::for_country(Country::Colombia);
    let d = debtor(Country::Colombia);
    let sent = [Past { at: utc("2026-11-23T14:00:00Z"), channel: Channel::Sms, conversation: false }];
    assert_eq!(p.check(&d, &sent, Channel::Sms, utc("2026-11-23T20:00:00Z")).unwrap_err().rule, "co.one_contact_a_day");
    assert!(p.check(&d, &sent, Channel::Sms, utc("2026-11-24T14:00:00Z")).is_ok());
    let other = p.check(&d, &sent, Channel::Whatsapp, utc("2026-11-27T14:00:00Z")).unwrap_err();
    assert_eq!(other.rule, "co.one_channel_a_week");
    assert!(p.check(&d, &sent, Channel::Whatsapp, utc("2026-11-30T14:00:00Z")).is_ok(), "7 local days later");
    // Only authorised channels.
    let mut only_phone = debtor(Country::Colombia);
    only_phone.authorised = vec![Channel::Sms, Channel::Voice];
    assert_eq!(
        p.check(&only_phone, &[], Channel::Email, utc("2026-11-23T15:00:00Z")).unwrap_err().rule,
        "co.authorised_channels"
    );
}

#[test]
fn mexico_chile_peru_us_and_the_default() {
    // Mexico City (UTC-6): 07:00–22:00 every day.
    assert_eq!(allowed(Country::Mexico, Channel::Sms, "2026-11-29T13:00:00Z"), Ok(()), "Sunday 07:00");
    assert_eq!(allowed(Country::Mexico, Channel::Sms, "2026-11-24T04:00:00Z"), Err("mx.hours"), "22:00");
    // Santiago (UTC-3 in November): Monday–Saturday 08:00–20:00.
    assert_eq!(allowed(Country::Chile, Channel::Sms, "2026-11-23T11:00:00Z"), Ok(()), "08:00");
    assert_eq!(allowed(Country::Chile, Channel::Sms, "2026-11-29T15:00:00Z"), Err("cl.hours"), "Sunday");
    let cl = Policy::for_country(Country::Chile);
    let d = debtor(Country::Chile);
    let call = [Past { at: utc("2026-11-23T14:00:00Z"), channel: Channel::Voice, conversation: false }];
    assert_eq!(
        cl.check(&d, &call, Channel::Call, utc("2026-11-28T14:00:00Z")).unwrap_err().rule,
        "cl.calls_once_a_week"
    );
    assert!(cl.check(&d, &call, Channel::Call, utc("2026-11-30T14:00:00Z")).is_ok());
    let sms = [Past { at: utc("2026-11-23T14:00:00Z"), channel: Channel::Sms, conversation: false }];
    assert_eq!(
        cl.check(&d, &sms, Channel::Email, utc("2026-11-24T14:00:00Z")).unwrap_err().rule,
        "cl.messages_twice_a_week"
    );
    assert!(cl.check(&d, &sms, Channel::Email, utc("2026-11-25T14:00:00Z")).is_ok(), "two days apart");
    let two = [sms[0], Past { at: utc("2026-11-25T14:00:00Z"), channel: Channel::Email, conversation: false }];
    assert_eq!(
        cl.check(&d, &two, Channel::Sms, utc("2026-11-28T14:00:00Z")).unwrap_err().rule,
        "cl.messages_twice_a_week"
    );
    // Lima: no calls 20:00–07:00, nor on Saturdays.
    assert_eq!(allowed(Country::Peru, Channel::Voice, "2026-11-23T12:00:00Z"), Ok(()), "07:00");
    assert_eq!(allowed(Country::Peru, Channel::Voice, "2026-11-28T15:00:00Z"), Err("pe.call_hours"), "Saturday");
    assert_eq!(allowed(Country::Peru, Channel::Sms, "2026-11-28T15:00:00Z"), Ok(()), "messages keep the default");
    // New York (UTC-5 in November): 08:00–21:00; 7 calls in 7 days; none within 7 days of a conversation.
    assert_eq!(allowed(Country::UnitedStates, Channel::Sms, "2026-11-24T01:59:00Z"), Ok(()), "20:59");
    assert_eq!(allowed(Country::UnitedStates, Channel::Sms, "2026-11-24T02:00:00Z"), Err("us.hours"), "21:00");
    let us = Policy::for_country(Country::UnitedStates);
    let d = debtor(Country::UnitedStates);
    let talked = [Past { at: utc("2026-11-23T15:00:00Z"), channel: Channel::Call, conversation: true }];
    assert_eq!(
        us.check(&d, &talked, Channel::Voice, utc("2026-11-30T15:00:00Z")).unwrap_err().rule,
        "us.wait_after_conversation"
    );
    assert!(us.check(&d, &talked, Channel::Sms, utc("2026-11-24T15:00:00Z")).is_ok(), "only calls wait");
    let calls: Vec<Past> = (0..7)
        .map(|i| Past {
            at: utc("2026-11-23T15:00:00Z") + Duration::hours(i),
            channel: Channel::Voice,
            conversation: false,
        })
        .collect();
    assert_eq!(
        us.check(&d, &calls, Channel::Voice, utc("2026-11-29T15:00:00Z")).unwrap_err().rule,
        "us.seven_calls_in_seven_days"
    );
    assert!(us.check(&d, &calls, Channel::Voice, utc("2026-11-30T15:00:00Z")).is_ok());
    assert!(Policy::for_country(Country::UnitedStates).preset.opt_out_required);
    // Anywhere else: 08:00–20:00 Monday–Saturday, one a day.
    assert_eq!(allowed(Country::Argentina, Channel::Sms, "2026-11-29T15:00:00Z"), Err("default.hours"), "Sunday");
    assert_eq!(allowed(Country::Argentina, Channel::Sms, "2026-11-23T15:00:00Z"), Err("default.hours"), "a holiday");
    assert_eq!(allowed(Country::Argentina, Channel::Sms, "2026-11-24T15:00:00Z"), Ok(()));
}

#[test]
fn holds_and_withdrawn_consent_stop_contacts() {
    let p = Policy::for_country(Country::Mexico);
    let mut d = debtor(Country::Mexico);
    let at = utc("2026-11-23T18:00:00Z");
    d.withdrawn = vec![Channel::Sms];
    assert_eq!(p.check(&d, &[], Channel::Sms, at).unwrap_err().rule, "consent.withdrawn");
    assert!(p.check(&d, &[], Channel::Email, at).is_ok());
    assert_eq!(p.next_allowed(&d, &[], Channel::Sms, at), None);
    d.holds = vec![Hold { kind: HoldKind::CallBack, until: Some(utc("2026-11-25T17:30:00Z")) }];
    assert_eq!(p.check(&d, &[], Channel::Email, at).unwrap_err().rule, "hold.call_back");
    assert_eq!(p.next_allowed(&d, &[], Channel::Email, at), Some(utc("2026-11-25T17:30:00Z")));
    d.holds = vec![Hold { kind: HoldKind::Deceased, until: None }];
    assert_eq!(p.next_allowed(&d, &[], Channel::Email, at), None);
}

#[test]
fn next_allowed_skips_nights_weekends_and_holidays() {
    let p = Policy::for_country(Country::Colombia);
    let d = debtor(Country::Colombia);
    // Friday 13 Nov 2026 at 19:30 → Saturday 08:00 (13:00Z).
    assert_eq!(p.next_allowed(&d, &[], Channel::Sms, utc("2026-11-14T00:30:00Z")), Some(utc("2026-11-14T13:00:00Z")));
    // Saturday 14 Nov at 16:00 → not Sunday, not Monday 16 (a holiday): Tuesday 17 at 07:00.
    assert_eq!(p.next_allowed(&d, &[], Channel::Sms, utc("2026-11-14T21:00:00Z")), Some(utc("2026-11-17T12:00:00Z")));
}

// ---- the oracle: the law as the issue states it, written plainly ----

fn is_call(c: Channel) -> bool {
    matches!(c, Channel::Voice | Channel::Call)
}

/// Whether the law forbids `channel` at `at` (local time `lt`) after `history` (which holds only earlier contacts).
fn forbidden(
    country: Country,
    zone: Tz,
    history: &[Past],
    channel: Channel,
    at: DateTime<Utc>,
) -> Option<&'static str> {
    let lt = at.with_timezone(&zone);
    let (wd, h, m) = (lt.weekday(), lt.hour(), lt.minute());
    let minutes = h * 60 + m;
    let holiday = holidays::holiday(country, lt.date_naive()).is_some();
    let day = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    let today = day(at);
    // Any window of `days` consecutive local days that contains today.
    let exceeds = |days: i64, max: usize, counts: &dyn Fn(&Past) -> bool| {
        (0..days).any(|shift| {
            let first = today - Duration::days(days - 1 - shift);
            let last = first + Duration::days(days - 1);
            history.iter().filter(|p| counts(p) && (first..=last).contains(&day(p.at))).count() + 1 > max
        })
    };
    match country {
        Country::Colombia => {
            let open = match wd {
                Weekday::Sun => false,
                Weekday::Sat => (8 * 60..15 * 60).contains(&minutes),
                _ => (7 * 60..19 * 60).contains(&minutes),
            };
            if !open || holiday {
                return Some("hours");
            }
            if history.iter().any(|p| day(p.at) == today) {
                return Some("one a day");
            }
            if history.iter().any(|p| p.channel != channel && (today - day(p.at)).num_days() < 7) {
                return Some("one channel a week");
            }
        }
        Country::Mexico => {
            if !(7 * 60..22 * 60).contains(&minutes) {
                return Some("hours");
            }
        }
        Country::Chile => {
            if wd == Weekday::Sun || !(8 * 60..20 * 60).contains(&minutes) {
                return Some("hours");
            }
            if is_call(channel) && exceeds(7, 1, &|p: &Past| is_call(p.channel)) {
                return Some("calls once a week");
            }
            let message = |c: Channel| matches!(c, Channel::Sms | Channel::Whatsapp | Channel::Email);
            if message(channel) {
                if exceeds(7, 2, &|p: &Past| message(p.channel)) {
                    return Some("messages twice a week");
                }
                if history.iter().any(|p| message(p.channel) && (today - day(p.at)).num_days() < 2) {
                    return Some("two days apart");
                }
            }
        }
        Country::Peru => {
            if is_call(channel)
                && (!(7 * 60..20 * 60).contains(&minutes) || matches!(wd, Weekday::Sat | Weekday::Sun) || holiday)
            {
                return Some("calls");
            }
        }
        Country::UnitedStates => {
            if !(8 * 60..21 * 60).contains(&minutes) {
                return Some("hours");
            }
            if is_call(channel) {
                if exceeds(7, 7, &|p: &Past| is_call(p.channel)) {
                    return Some("seven calls");
                }
                if history.iter().any(|p| p.conversation && is_call(p.channel) && (today - day(p.at)).num_days() <= 7) {
                    return Some("after a conversation");
                }
            }
        }
        _ => {
            if wd == Weekday::Sun || !(8 * 60..20 * 60).contains(&minutes) {
                return Some("hours");
            }
            if history.iter().any(|p| day(p.at) == today) {
                return Some("one a day");
            }
        }
    }
    None
}

/// Every instant of 2025–2030 at which one of the zones changes its offset (DST starts or ends).
fn dst_changes() -> &'static [DateTime<Utc>] {
    static CHANGES: OnceLock<Vec<DateTime<Utc>>> = OnceLock::new();
    CHANGES.get_or_init(|| {
        use chrono::Offset;
        let zones = [
            chrono_tz::America::Santiago,
            chrono_tz::America::Mexico_City,
            chrono_tz::America::Tijuana,
            chrono_tz::America::New_York,
        ];
        let mut out = Vec::new();
        for z in zones {
            let mut t = utc("2025-01-01T00:00:00Z");
            let mut offset = z.offset_from_utc_datetime(&t.naive_utc()).fix();
            while t < utc("2031-01-01T00:00:00Z") {
                let next = t + Duration::hours(1);
                let o = z.offset_from_utc_datetime(&next.naive_utc()).fix();
                if o != offset {
                    out.push(next);
                    offset = o;
                }
                t = next;
            }
        }
        out
    })
}

const COUNTRIES: [Country; 8] = [
    Country::Colombia,
    Country::Mexico,
    Country::Chile,
    Country::Peru,
    Country::UnitedStates,
    Country::Argentina,
    Country::Brazil,
    Country::Spain,
];

fn zones_of(country: Country) -> Vec<Tz> {
    match country {
        Country::Mexico => {
            vec![chrono_tz::America::Mexico_City, chrono_tz::America::Tijuana, chrono_tz::America::Cancun]
        }
        Country::UnitedStates => {
            vec![chrono_tz::America::New_York, chrono_tz::America::Los_Angeles, chrono_tz::America::Phoenix]
        }
        Country::Brazil => vec![chrono_tz::America::Sao_Paulo, chrono_tz::America::Manaus],
        c => vec![c.time_zone()],
    }
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = utc("2025-01-01T00:00:00Z").timestamp();
    let end = utc("2030-12-20T00:00:00Z").timestamp();
    prop_oneof![
        (start..end).prop_map(|s| DateTime::from_timestamp(s - s % 60, 0).unwrap()),
        (any::<prop::sample::Index>(), -180i64..180).prop_map(|(i, minutes)| {
            let changes = dst_changes();
            changes[i.index(changes.len())] + Duration::minutes(minutes)
        }),
    ]
}

fn channel() -> impl Strategy<Value = Channel> {
    prop::sample::select(Channel::ALL.to_vec())
}

/// A past contact: minutes before the instant, channel, whether it was a conversation.
type PastSpec = (i64, Channel, bool);
/// A debtor's country and zone (an index into its zones), an instant, a channel and a history.
type Case = (Country, usize, DateTime<Utc>, Channel, Vec<PastSpec>);

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(COUNTRIES.to_vec()),
        0usize..3,
        instant(),
        channel(),
        prop::collection::vec((1i64..20 * 24 * 60, channel(), any::<bool>()), 0..8),
    )
}

fn build(country: Country, zone: usize, at: DateTime<Utc>, past: &[PastSpec]) -> (Debtor, Vec<Past>) {
    let zones = zones_of(country);
    let d = Debtor::new(country, zones[zone % zones.len()]);
    let history = past
        .iter()
        .map(|(minutes_ago, channel, conversation)| Past {
            at: at - Duration::minutes(*minutes_ago),
            channel: *channel,
            conversation: *conversation,
        })
        .collect();
    (d, history)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_never_allows_what_the_law_forbids((country, zone, at, channel, past) in case()) {
        let (d, history) = build(country, zone, at, &past);
        let policy = Policy::for_country(country);
        if policy.check(&d, &history, channel, at).is_ok() {
            let why = forbidden(country, d.zone, &history, channel, at);
            prop_assert!(why.is_none(), "{country:?} {channel:?} at {} ({}) allowed, but the law says {why:?}; history {history:?}",
                at, at.with_timezone(&d.zone));
        }
    }

    #[test]
    fn the_next_allowed_instant_is_allowed_and_nothing_before_it((country, zone, at, channel, past) in case()) {
        let (d, history) = build(country, zone, at, &past);
        let policy = Policy::for_country(country);
        let next = policy.next_allowed(&d, &history, channel, at);
        let next = next.expect("with no hold or opt-out, some instant within 400 days is allowed");
        prop_assert!(next >= at);
        prop_assert!(policy.check(&d, &history, channel, next).is_ok(), "next {next} is not allowed");
        prop_assert!(forbidden(country, d.zone, &history, channel, next).is_none());
        // Nothing earlier: sample the gap every 7 minutes (at most 2000 samples).
        let mut t = at;
        let step = Duration::minutes(7).max((next - at) / 2000);
        while t < next {
            prop_assert!(policy.check(&d, &history, channel, t).is_err(), "{t} is allowed, before {next}");
            t += step;
        }
    }
}

#[test]
fn the_dst_changes_are_in_the_sample() {
    let changes = dst_changes();
    // Santiago and New York change twice a year, Tijuana too; Mexico City has not since 2022.
    assert!(changes.len() >= 3 * 2 * 6, "{}", changes.len());
    let _ = NaiveDate::from_ymd_opt(2025, 1, 1);
}

/// Holds (kind, minutes from the instant to their end, or none) and withdrawn channels.
type StateSpec = (Vec<(HoldKind, Option<i64>)>, Vec<Channel>);

fn state() -> impl Strategy<Value = StateSpec> {
    (
        prop::collection::vec(
            (prop::sample::select(HoldKind::ALL.to_vec()), prop::option::of(-3 * 24 * 60i64..10 * 24 * 60)),
            0..3,
        ),
        prop::collection::vec(channel(), 0..3),
    )
}

fn with_state(mut d: Debtor, at: DateTime<Utc>, (holds, withdrawn): &StateSpec) -> Debtor {
    d.holds = holds.iter().map(|(kind, m)| Hold { kind: *kind, until: m.map(|m| at + Duration::minutes(m)) }).collect();
    d.withdrawn = withdrawn.clone();
    d
}

/// The oracle for the debtor's state: a hold of a kind that covers the channel, not yet ended; an opt-out.
fn held(d: &Debtor, channel: Channel, at: DateTime<Utc>) -> bool {
    d.withdrawn.contains(&channel)
        || d.holds.iter().any(|h| h.kind.channels().contains(&channel) && h.until.is_none_or(|u| at < u))
}

/// A lender's hours per weekday: as the law, closed, or open from..to (hours).
fn day_hours() -> impl Strategy<Value = DayHours> {
    prop_oneof![
        Just(DayHours::Law),
        Just(DayHours::Closed),
        (5u32..23, 1u32..8).prop_map(|(open, len)| {
            let t = |h: u32| chrono::NaiveTime::from_hms_opt(h.min(23), 0, 0).unwrap();
            DayHours::Open(t(open), t(open + len))
        }),
    ]
}

fn tightening() -> impl Strategy<Value = Tightening> {
    (prop::option::of(prop::array::uniform7(day_hours())), prop::option::of(1u32..4)).prop_map(|(hours, max)| {
        Tightening { hours, max_per_day: max, extra_holidays: vec![NaiveDate::from_ymd_opt(2027, 3, 3).unwrap()] }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn holds_and_opt_outs_are_never_passed_and_their_end_is_found(
        (country, zone, at, channel, past) in case(),
        s in state(),
    ) {
        let (d, history) = build(country, zone, at, &past);
        let d = with_state(d, at, &s);
        let policy = Policy::for_country(country);
        if policy.check(&d, &history, channel, at).is_ok() {
            prop_assert!(!held(&d, channel, at), "allowed although held: {:?} {:?}", d.holds, d.withdrawn);
            prop_assert!(forbidden(country, d.zone, &history, channel, at).is_none());
        }
        match policy.next_allowed(&d, &history, channel, at) {
            Some(next) => {
                prop_assert!(next >= at && !held(&d, channel, next), "next {next} is held");
                prop_assert!(forbidden(country, d.zone, &history, channel, next).is_none());
            }
            // None only for what never ends: an opt-out or a hold until lifted on this channel.
            None => prop_assert!(
                d.withdrawn.contains(&channel)
                    || d.holds.iter().any(|h| h.until.is_none() && h.kind.channels().contains(&channel)),
                "no next instant although every hold ends"
            ),
        }
    }

    #[test]
    fn a_tightened_policy_never_allows_what_the_law_forbids(
        (country, zone, at, channel, past) in case(),
        t in tightening(),
    ) {
        let (d, history) = build(country, zone, at, &past);
        let Ok(policy) = Policy::tightened(country, &t) else { return Ok(()) };
        if policy.check(&d, &history, channel, at).is_ok() {
            let why = forbidden(country, d.zone, &history, channel, at);
            prop_assert!(why.is_none(), "tightened {t:?} allowed {at} but the law says {why:?}");
        }
        if let Some(next) = policy.next_allowed(&d, &history, channel, at) {
            prop_assert!(policy.check(&d, &history, channel, next).is_ok());
            prop_assert!(forbidden(country, d.zone, &history, channel, next).is_none());
        }
    }
}
