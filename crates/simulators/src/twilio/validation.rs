//! Checks a create-message request the way Twilio does, with Twilio's error codes, including the "magic numbers"
//! Twilio's test credentials honour (https://www.twilio.com/docs/iam/test-credentials) so tests and demos can
//! provoke each refusal on purpose.

use crate::twilio::errors::ApiError;

/// Twilio's limit on `Body`; longer bodies are refused with 21617.
pub(crate) const MAX_BODY_CHARS: usize = 1600;
/// Twilio's limit on the `StatusCallback` URL.
const MAX_CALLBACK_URL_CHARS: usize = 4000;

/// `To` values that Twilio's test credentials always refuse, with the code each one yields.
const MAGIC_TO: &[(&str, u32, &str)] = &[
    ("+15005550001", 21211, "Invalid 'To' Phone Number"),
    ("+15005550002", 21612, "The 'To' phone number is not currently reachable via SMS"),
    (
        "+15005550003",
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    ),
    ("+15005550004", 21610, "Attempt to send to unsubscribed recipient"),
    ("+15005550009", 21614, "'To' number is not a valid mobile number"),
];

/// `From` values that Twilio's test credentials always refuse. (+15005550006 is the one that always passes.)
const MAGIC_FROM: &[(&str, u32, &str)] = &[
    ("+15005550001", 21212, "Invalid From Number (caller ID)"),
    (
        "+15005550007",
        21606,
        "The From phone number is not a valid, SMS-capable inbound phone number or short code for your account",
    ),
    ("+15005550008", 21611, "This 'From' number has exceeded the maximum number of queued messages"),
];

/// The form parameters of a create-message request that the simulator understands; others (MediaUrl, …) are
/// ignored, as they do not change what an SMS test can observe.
#[derive(Debug, Default)]
pub(crate) struct CreateParams {
    pub(crate) to: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) status_callback: Option<String>,
}

impl CreateParams {
    /// Reads the decoded form pairs, keeping the first value of each name and treating empty values as absent.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut params = Self::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "To" => &mut params.to,
                "From" => &mut params.from,
                "MessagingServiceSid" => &mut params.messaging_service_sid,
                "Body" => &mut params.body,
                "StatusCallback" => &mut params.status_callback,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        }
        params
    }
}

/// A request that passed every check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ValidRequest {
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: String,
    pub(crate) status_callback: Option<String>,
}

pub(crate) fn validate(params: CreateParams) -> Result<ValidRequest, ApiError> {
    let to = params.to.ok_or_else(|| ApiError::invalid(21604, "A 'To' phone number is required."))?;
    if params.from.is_none() && params.messaging_service_sid.is_none() {
        return Err(ApiError::invalid(21603, "A 'From' phone number is required."));
    }
    let body = params.body.ok_or_else(|| ApiError::invalid(21602, "Message body is required."))?;
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::invalid(21617, "The concatenated message body exceeds the 1600 character limit."));
    }

    if let Some((_, code, message)) = MAGIC_TO.iter().find(|(number, _, _)| *number == to) {
        return Err(ApiError::invalid(*code, format!("{message}: {to}")));
    }
    if !is_e164(&to) {
        return Err(ApiError::invalid(21211, format!("Invalid 'To' Phone Number: {to}")));
    }

    if let Some(from) = &params.from {
        if let Some((_, code, message)) = MAGIC_FROM.iter().find(|(number, _, _)| number == from) {
            return Err(ApiError::invalid(*code, format!("{message}: {from}")));
        }
        if !is_e164(from) && !is_alphanumeric_sender_id(from) {
            return Err(ApiError::invalid(21212, format!("Invalid From Number (caller ID): {from}")));
        }
    }

    if let Some(url) = &params.status_callback {
        if !is_callback_url(url) {
            return Err(ApiError::invalid(21609, "Invalid 'StatusCallback'"));
        }
    }

    Ok(ValidRequest {
        to,
        from: params.from,
        messaging_service_sid: params.messaging_service_sid,
        body,
        status_callback: params.status_callback,
    })
}

/// `+`, a country code that does not start with 0, and 7 to 15 digits in all.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
    })
}

/// Up to 11 letters, digits and spaces, with at least one letter (so it cannot be mistaken for a number).
fn is_alphanumeric_sender_id(sender: &str) -> bool {
    (1..=11).contains(&sender.len())
        && sender.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && sender.bytes().any(|b| b.is_ascii_alphabetic())
}

pub(crate) fn is_callback_url(url: &str) -> bool {
    url.len() <= MAX_CALLBACK_URL_CHARS
        && reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(to: &str, from: &str, body: &str) -> CreateParams {
        CreateParams::from_pairs(vec![
            ("To".into(), to.into()),
            ("From".into(), from.into()),
            ("Body".into(), body.into()),
        ])
    }

    fn code(result: Result<ValidRequest, ApiError>) -> Option<u32> {
        result.err().map(|e| e.code())
    }

    #[test]
    fn accepts_a_plain_sms() {
        let valid = validate(params("+573001234567", "+15005550006", "Hola")).expect("valid");
        assert_eq!(valid.to, "+573001234567");
        assert_eq!(valid.from.as_deref(), Some("+15005550006"));
    }

    #[test]
    fn missing_fields_get_twilios_codes() {
        assert_eq!(code(validate(params("", "+15005550006", "Hola"))), Some(21604));
        assert_eq!(code(validate(params("+573001234567", "", "Hola"))), Some(21603));
        assert_eq!(code(validate(params("+573001234567", "+15005550006", ""))), Some(21602));
        assert_eq!(code(validate(params("+573001234567", "+15005550006", &"a".repeat(1601)))), Some(21617));
        assert!(validate(params("+573001234567", "+15005550006", &"a".repeat(1600))).is_ok());
    }

    #[test]
    fn magic_to_numbers_yield_their_documented_codes() {
        for (number, expected) in [
            ("+15005550001", 21211),
            ("+15005550002", 21612),
            ("+15005550003", 21408),
            ("+15005550004", 21610),
            ("+15005550009", 21614),
        ] {
            assert_eq!(code(validate(params(number, "+15005550006", "Hola"))), Some(expected), "{number}");
        }
    }

    #[test]
    fn magic_from_numbers_and_bad_senders_are_refused() {
        assert_eq!(code(validate(params("+573001234567", "+15005550001", "Hola"))), Some(21212));
        assert_eq!(code(validate(params("+573001234567", "+15005550007", "Hola"))), Some(21606));
        assert_eq!(code(validate(params("+573001234567", "+15005550008", "Hola"))), Some(21611));
        assert_eq!(code(validate(params("+573001234567", "123", "Hola"))), Some(21212));
        assert!(validate(params("+573001234567", "RECAUDO", "Hola")).is_ok());
    }

    #[test]
    fn to_must_be_e164() {
        assert_eq!(code(validate(params("3001234567", "+15005550006", "Hola"))), Some(21211));
        assert_eq!(code(validate(params("+57 300 123 4567", "+15005550006", "Hola"))), Some(21211));
    }

    #[test]
    fn a_messaging_service_can_stand_in_for_from_and_callbacks_must_be_urls() {
        let service = CreateParams::from_pairs(vec![
            ("To".into(), "+573001234567".into()),
            ("MessagingServiceSid".into(), "MG00000000000000000000000000000001".into()),
            ("Body".into(), "Hola".into()),
            ("StatusCallback".into(), "not a url".into()),
        ]);
        assert_eq!(code(validate(service)), Some(21609));
        let service = CreateParams::from_pairs(vec![
            ("To".into(), "+573001234567".into()),
            ("MessagingServiceSid".into(), "MG00000000000000000000000000000001".into()),
            ("Body".into(), "Hola".into()),
            ("StatusCallback".into(), "http://127.0.0.1:9/status?attempt=1".into()),
        ]);
        let valid = validate(service).expect("valid");
        assert_eq!(valid.from, None);
    }
}
