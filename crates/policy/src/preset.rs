//! The law of each jurisdiction, as data: hours and days per kind of channel, holidays, frequency caps, waiting
//! periods. Every rule names its legal source. Where a rule can be read two ways the stricter reading is written
//! here: "a week" is any 7 consecutive days of the debtor's local calendar; a limit on "calls" binds automated voice
//! calls and advisors' calls alike.

use chrono::{NaiveTime, Weekday};
use recaudo_domain::Country;

/// How a contact reaches the debtor; the law speaks of these, not of providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Medium {
    /// A telephone call: automated voice or an advisor's call.
    Call,
    /// SMS and WhatsApp messages.
    Message,
    Email,
    Letter,
}

/// Local hours `[open, close)` of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub open: NaiveTime,
    pub close: NaiveTime,
}

const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    }
}

const fn hours(open: u32, close: u32) -> Option<Hours> {
    Some(Hours { open: hm(open, 0), close: hm(close, 0) })
}

/// When a kind of contact is allowed: hours per weekday (Monday first), and whether holidays are closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub rule: &'static str,
    pub source: &'static str,
    pub days: [Option<Hours>; 7],
    pub closed_on_holidays: bool,
}

impl Window {
    pub fn on(&self, day: Weekday) -> Option<Hours> {
        self.days[day.num_days_from_monday() as usize]
    }
}

/// At most `max` contacts of `media` (all media when empty) in any `days` consecutive local days, and, with
/// `min_gap_days`, at least that many local days between two of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    pub rule: &'static str,
    pub source: &'static str,
    pub media: &'static [Medium],
    pub max: u32,
    pub days: u32,
    pub min_gap_days: u32,
}

impl Cap {
    pub fn applies_to(&self, m: Medium) -> bool {
        self.media.is_empty() || self.media.contains(&m)
    }
}

/// A jurisdiction's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// `co`, `mx`, `cl`, `pe`, `us`, or `default`.
    pub id: &'static str,
    pub name: &'static str,
    /// The window of each medium, in [`Medium`] order: call, message, email, letter.
    pub windows: [Window; 4],
    pub caps: Vec<Cap>,
    /// At most this many distinct channels in any `.1` consecutive local days (Colombia: one channel a week).
    pub channels_per_window: Option<(u32, u32, &'static str, &'static str)>,
    /// No call for this many local days after a telephone conversation (US Regulation F).
    pub call_wait_after_conversation_days: Option<(u32, &'static str, &'static str)>,
    /// Only channels the debtor authorised (Colombia); elsewhere any channel not withdrawn.
    pub authorised_channels_only: Option<(&'static str, &'static str)>,
    /// Every text and email must carry an opt-out (US Regulation F §1006.6(e)); for templates.
    pub opt_out_required: bool,
}

impl Preset {
    pub fn window(&self, m: Medium) -> &Window {
        &self.windows[m as usize]
    }

    /// The preset of the debtor's country.
    pub fn for_country(country: Country) -> Preset {
        match country {
            Country::Colombia => colombia(),
            Country::Mexico => mexico(),
            Country::Chile => chile(),
            Country::Peru => peru(),
            Country::UnitedStates => united_states(),
            _ => default(),
        }
    }

    /// Every preset, for the docs and the tests.
    pub fn all() -> Vec<Preset> {
        vec![colombia(), mexico(), chile(), peru(), united_states(), default()]
    }
}

fn same(rule: &'static str, source: &'static str, days: [Option<Hours>; 7], holidays: bool) -> [Window; 4] {
    let w = Window { rule, source, days, closed_on_holidays: holidays };
    [w.clone(), w.clone(), w.clone(), w]
}

const CO_SOURCE: &str = "Ley 2300 de 2023, art. 3 (Colombia)";

/// Colombia: Ley 2300 de 2023 ("Ley dejen de fregar").
pub fn colombia() -> Preset {
    let week = [hours(7, 19), hours(7, 19), hours(7, 19), hours(7, 19), hours(7, 19), hours(8, 15), None];
    Preset {
        id: "co",
        name: "Colombia, Ley 2300 de 2023",
        windows: same("co.hours", CO_SOURCE, week, true),
        caps: vec![Cap {
            rule: "co.one_contact_a_day",
            source: CO_SOURCE,
            media: &[],
            max: 1,
            days: 1,
            min_gap_days: 0,
        }],
        channels_per_window: Some((1, 7, "co.one_channel_a_week", CO_SOURCE)),
        call_wait_after_conversation_days: None,
        authorised_channels_only: Some(("co.authorised_channels", "Ley 2300 de 2023, art. 2 (Colombia)")),
        opt_out_required: false,
    }
}

const MX_SOURCE: &str =
    "CONDUSEF, Disposiciones de carácter general aplicables a los despachos de cobranza, art. 15 (México)";

/// Mexico: CONDUSEF's rules for collection agencies.
pub fn mexico() -> Preset {
    let h = hours(7, 22);
    Preset {
        id: "mx",
        name: "México, CONDUSEF",
        windows: same("mx.hours", MX_SOURCE, [h; 7], false),
        caps: Vec::new(),
        channels_per_window: None,
        call_wait_after_conversation_days: None,
        authorised_channels_only: None,
        opt_out_required: false,
    }
}

const CL_SOURCE: &str = "Ley 21.320 (Chile), modifying Ley 19.496 art. 37";

/// Chile: Ley 21.320 on extrajudicial collection.
pub fn chile() -> Preset {
    let h = hours(8, 20);
    Preset {
        id: "cl",
        name: "Chile, Ley 21.320",
        windows: same("cl.hours", CL_SOURCE, [h, h, h, h, h, h, None], true),
        caps: vec![
            Cap {
                rule: "cl.calls_once_a_week",
                source: CL_SOURCE,
                media: &[Medium::Call],
                max: 1,
                days: 7,
                min_gap_days: 0,
            },
            Cap {
                rule: "cl.messages_twice_a_week",
                source: CL_SOURCE,
                media: &[Medium::Message, Medium::Email],
                max: 2,
                days: 7,
                min_gap_days: 2,
            },
        ],
        channels_per_window: None,
        call_wait_after_conversation_days: None,
        authorised_channels_only: None,
        opt_out_required: false,
    }
}

const PE_SOURCE: &str = "Ley 29571, Código de Protección y Defensa del Consumidor, art. 62 (Perú)";
const DEFAULT_SOURCE: &str = "Recaudo's conservative default (no preset for this country)";

/// Peru: art. 62 of the consumer code binds calls and visits; other media keep the conservative default.
pub fn peru() -> Preset {
    let call = Window {
        rule: "pe.call_hours",
        source: PE_SOURCE,
        days: [hours(7, 20), hours(7, 20), hours(7, 20), hours(7, 20), hours(7, 20), None, None],
        closed_on_holidays: true,
    };
    let mut windows = default().windows;
    windows[Medium::Call as usize] = call;
    Preset { id: "pe", name: "Perú, Ley 29571 art. 62", windows, ..default() }
}

const US_SOURCE: &str = "Regulation F, 12 CFR 1006.6(b)(1) (United States)";
const US_CALLS: &str = "Regulation F, 12 CFR 1006.14(b)(2) (United States)";

/// United States: the CFPB's Regulation F under the FDCPA.
pub fn united_states() -> Preset {
    let h = hours(8, 21);
    Preset {
        id: "us",
        name: "United States, Regulation F",
        windows: same("us.hours", US_SOURCE, [h; 7], false),
        caps: vec![Cap {
            rule: "us.seven_calls_in_seven_days",
            source: US_CALLS,
            media: &[Medium::Call],
            max: 7,
            days: 7,
            min_gap_days: 0,
        }],
        channels_per_window: None,
        call_wait_after_conversation_days: Some((7, "us.wait_after_conversation", US_CALLS)),
        authorised_channels_only: None,
        opt_out_required: true,
    }
}

/// Any other country: 08:00–20:00 local, Monday to Saturday, not on holidays, one contact a day.
pub fn default() -> Preset {
    let h = hours(8, 20);
    Preset {
        id: "default",
        name: "Conservative default",
        windows: same("default.hours", DEFAULT_SOURCE, [h, h, h, h, h, h, None], true),
        caps: vec![Cap {
            rule: "default.one_contact_a_day",
            source: DEFAULT_SOURCE,
            media: &[],
            max: 1,
            days: 1,
            min_gap_days: 0,
        }],
        channels_per_window: None,
        call_wait_after_conversation_days: None,
        authorised_channels_only: None,
        opt_out_required: false,
    }
}
