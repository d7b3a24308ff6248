//! Checks a create-message request the way Twilio does, with Twilio's error codes, including the "magic numbers"
//! Twilio's test credentials honour (https://www.twilio.com/docs/iam/test-credentials) so tests and demos can
//! provoke each refusal on purpose.

use crate::twilio::channel::Channel;
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
/// ignored, as they do not change what a test can observe.
#[derive(Debug, Default)]
pub(crate) struct CreateParams {
    pub(crate) to: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) content_sid: Option<String>,
    pub(crate) content_variables: Option<String>,
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
                "ContentSid" => &mut params.content_sid,
                "ContentVariables" => &mut params.content_variables,
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

/// What a request asks to send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MessageContent {
    /// Free-form text: on WhatsApp, deliverable only inside the customer-service window.
    Body(String),
    /// An approved Content template (`HX…`), with its variables in placeholder order.
    Template { content_sid: String, variables: Vec<(String, String)> },
}

impl MessageContent {
    /// The text the simulator records for the message. A template's approved text lives in Twilio's Content API,
    /// which the simulator does not have, so its variables stand in for it (its SID when it has none).
    pub(crate) fn readable(&self) -> String {
        match self {
            MessageContent::Body(body) => body.clone(),
            MessageContent::Template { content_sid, variables } if variables.is_empty() => content_sid.clone(),
            MessageContent::Template { variables, .. } => {
                variables.iter().map(|(_, value)| value.as_str()).collect::<Vec<_>>().join(" | ")
            }
        }
    }

    pub(crate) fn content_sid(&self) -> Option<&str> {
        match self {
            MessageContent::Body(_) => None,
            MessageContent::Template { content_sid, .. } => Some(content_sid),
        }
    }
}

/// A request that passed every check. `to` and `from` keep their channel prefix, as Twilio keeps it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ValidRequest {
    pub(crate) channel: Channel,
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) content: MessageContent,
    pub(crate) status_callback: Option<String>,
}

pub(crate) fn validate(params: CreateParams) -> Result<ValidRequest, ApiError> {
    let to = params.to.ok_or_else(|| ApiError::invalid(21604, "A 'To' phone number is required."))?;
    if params.from.is_none() && params.messaging_service_sid.is_none() {
        return Err(ApiError::invalid(21603, "A 'From' phone number is required."));
    }
    let channel = Channel::of(&to).0;
    let content = check_content(channel, params.body, params.content_sid, params.content_variables)?;
    if let Some(from) = &params.from {
        check_same_channel(channel, from)?;
    }
    check_to(&to)?;
    if let Some(from) = &params.from {
        check_from(from)?;
    }

    if let Some(url) = &params.status_callback {
        if !is_callback_url(url) {
            return Err(ApiError::invalid(21609, "Invalid 'StatusCallback'"));
        }
    }

    Ok(ValidRequest {
        channel,
        to,
        from: params.from,
        messaging_service_sid: params.messaging_service_sid,
        content,
        status_callback: params.status_callback,
    })
}

fn check_content(
    channel: Channel,
    body: Option<String>,
    content_sid: Option<String>,
    content_variables: Option<String>,
) -> Result<MessageContent, ApiError> {
    match content_sid {
        // Twilio sends the approved template when there is one, whatever Body says.
        Some(content_sid) => template(content_sid, content_variables.as_deref()),
        None if content_variables.is_some() => Err(ApiError::invalid(
            21654,
            "A ContentSid must be specified if ContentVariables are provided in the request.",
        )),
        None => free_form(channel, body),
    }
}

fn free_form(channel: Channel, body: Option<String>) -> Result<MessageContent, ApiError> {
    let body = match (body, channel) {
        (Some(body), _) => body,
        // Twilio answers a bodiless SMS with 21602 but a WhatsApp message with 21619, whose wording predates
        // ContentSid (which also satisfies it).
        (None, Channel::Sms) => return Err(ApiError::invalid(21602, "Message body is required.")),
        (None, Channel::Whatsapp) => {
            return Err(ApiError::invalid(21619, "A text message body or media urls must be specified."))
        }
    };
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::invalid(21617, "The concatenated message body exceeds the 1600 character limit."));
    }
    Ok(MessageContent::Body(body))
}

fn template(content_sid: String, content_variables: Option<&str>) -> Result<MessageContent, ApiError> {
    if !is_content_sid(&content_sid) {
        return Err(ApiError::invalid(21655, "The ContentSid is Invalid"));
    }
    let variables = content_variables.map(parse_content_variables).transpose()?.unwrap_or_default();
    Ok(MessageContent::Template { content_sid, variables })
}

/// `HX` and 32 hex digits, the pattern Twilio documents for Content SIDs.
fn is_content_sid(sid: &str) -> bool {
    sid.strip_prefix("HX").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A JSON object of strings, in placeholder order. Twilio also refuses null and empty values, since a template
/// cannot be sent with a hole in it.
fn parse_content_variables(json: &str) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = || ApiError::invalid(21656, "The ContentVariables Parameter is invalid.");
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).map_err(|_| invalid())?;
    let mut variables = object
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) if !text.is_empty() => Ok((name, text)),
            _ => Err(invalid()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    variables.sort_by(|(a, _), (b, _)| placeholder_order(a).cmp(&placeholder_order(b)));
    Ok(variables)
}

/// Numbered placeholders by number (so `{{10}}` follows `{{9}}`), then named ones by name.
fn placeholder_order(name: &str) -> (bool, u64, &str) {
    match name.parse::<u64>() {
        Ok(number) => (false, number, name),
        Err(_) => (true, 0, name),
    }
}

/// A message travels on one channel: an SMS number cannot send to a WhatsApp address, nor the other way round.
fn check_same_channel(channel: Channel, from: &str) -> Result<(), ApiError> {
    if Channel::of(from).0 != channel {
        return Err(ApiError::invalid(
            21910,
            "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel",
        ));
    }
    Ok(())
}

fn check_to(to: &str) -> Result<(), ApiError> {
    let (channel, number) = Channel::of(to);
    // The magic numbers are test numbers for SMS only; Twilio has none for WhatsApp.
    if channel == Channel::Sms {
        if let Some((_, code, message)) = MAGIC_TO.iter().find(|(magic, _, _)| *magic == number) {
            return Err(ApiError::invalid(*code, format!("{message}: {to}")));
        }
    }
    if !is_e164(number) {
        return Err(ApiError::invalid(21211, format!("Invalid 'To' Phone Number: {to}")));
    }
    Ok(())
}

fn check_from(from: &str) -> Result<(), ApiError> {
    let (channel, number) = Channel::of(from);
    let magic = MAGIC_FROM.iter().find(|(magic, _, _)| *magic == number);
    match channel {
        Channel::Sms => {
            if let Some((_, code, message)) = magic {
                return Err(ApiError::invalid(*code, format!("{message}: {from}")));
            }
            if !is_e164(number) && !is_alphanumeric_sender_id(number) {
                return Err(ApiError::invalid(21212, format!("Invalid From Number (caller ID): {from}")));
            }
        }
        // A WhatsApp sender is always a phone number.
        Channel::Whatsapp if !is_e164(number) => {
            return Err(ApiError::invalid(21212, format!("Invalid From Number (caller ID): {from}")));
        }
        // Twilio's refused test senders are not senders of the account, so no WhatsApp sender exists for them.
        Channel::Whatsapp if magic.is_some() => {
            return Err(ApiError::invalid(63007, "Twilio could not find a Channel with the specified From address"));
        }
        Channel::Whatsapp => {}
    }
    Ok(())
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

    const WA_DEBTOR: &str = "whatsapp:+573001234567";
    const WA_SENDER: &str = "whatsapp:+15005550006";
    const CONTENT_SID: &str = "HXb5b62575e6e4ff6129ad7c8efe1f983e";

    fn template_params(to: &str, from: &str, content_sid: &str, variables: Option<&str>) -> CreateParams {
        let mut pairs =
            vec![("To".into(), to.into()), ("From".into(), from.into()), ("ContentSid".into(), content_sid.into())];
        pairs.extend(variables.map(|v| ("ContentVariables".to_string(), v.to_string())));
        CreateParams::from_pairs(pairs)
    }

    #[test]
    fn accepts_a_free_form_whatsapp_message_and_keeps_the_prefixes() {
        let valid = validate(params(WA_DEBTOR, WA_SENDER, "Hola")).expect("valid");
        assert_eq!(valid.channel, Channel::Whatsapp);
        assert_eq!(valid.to, WA_DEBTOR);
        assert_eq!(valid.from.as_deref(), Some(WA_SENDER));
        assert_eq!(valid.content, MessageContent::Body("Hola".into()));
    }

    #[test]
    fn accepts_a_content_template_without_a_body_with_its_variables_in_order() {
        let variables = r#"{"2":"$ 100","10":"diez","1":"Ana","nombre":"Ana María"}"#;
        let valid = validate(template_params(WA_DEBTOR, WA_SENDER, CONTENT_SID, Some(variables))).expect("valid");
        let MessageContent::Template { content_sid, variables } = &valid.content else {
            panic!("not a template: {:?}", valid.content)
        };
        assert_eq!(content_sid, CONTENT_SID);
        let names: Vec<&str> = variables.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["1", "2", "10", "nombre"]);
        assert_eq!(valid.content.readable(), "Ana | $ 100 | diez | Ana María");

        let bare = validate(template_params(WA_DEBTOR, WA_SENDER, CONTENT_SID, None)).expect("valid");
        assert_eq!(bare.content.readable(), CONTENT_SID);
        assert_eq!(bare.content.content_sid(), Some(CONTENT_SID));
    }

    #[test]
    fn to_and_from_must_be_on_the_same_channel() {
        assert_eq!(code(validate(params(WA_DEBTOR, "+15005550006", "Hola"))), Some(21910));
        assert_eq!(code(validate(params("+573001234567", WA_SENDER, "Hola"))), Some(21910));
    }

    #[test]
    fn whatsapp_numbers_are_checked_after_the_prefix() {
        assert_eq!(code(validate(params("whatsapp:3001234567", WA_SENDER, "Hola"))), Some(21211));
        assert_eq!(code(validate(params("whatsapp:", WA_SENDER, "Hola"))), Some(21211));
        assert_eq!(code(validate(params(WA_DEBTOR, "whatsapp:123", "Hola"))), Some(21212));
        // Alphanumeric sender ids are an SMS thing: a WhatsApp sender is a phone number.
        assert_eq!(code(validate(params(WA_DEBTOR, "whatsapp:RECAUDO", "Hola"))), Some(21212));
        // The magic numbers are SMS test numbers: on WhatsApp they are ordinary recipients.
        assert!(validate(params("whatsapp:+15005550001", WA_SENDER, "Hola")).is_ok());
    }

    #[test]
    fn a_whatsapp_sender_the_account_does_not_have_is_63007() {
        for sender in ["whatsapp:+15005550001", "whatsapp:+15005550007", "whatsapp:+15005550008"] {
            assert_eq!(code(validate(params(WA_DEBTOR, sender, "Hola"))), Some(63007), "{sender}");
        }
    }

    #[test]
    fn a_message_needs_a_body_or_a_content_sid() {
        assert_eq!(code(validate(params(WA_DEBTOR, WA_SENDER, ""))), Some(21619));
        assert_eq!(code(validate(params("+573001234567", "+15005550006", ""))), Some(21602));
        assert_eq!(code(validate(params(WA_DEBTOR, WA_SENDER, &"a".repeat(1601)))), Some(21617));
        // Content templates are not WhatsApp-only: an SMS may be sent from one too.
        assert!(validate(template_params("+573001234567", "+15005550006", CONTENT_SID, None)).is_ok());
    }

    #[test]
    fn a_content_sid_must_be_hx_and_32_hex_digits() {
        for sid in [
            "HX123",
            "MGb5b62575e6e4ff6129ad7c8efe1f983e",
            "HXz5b62575e6e4ff6129ad7c8efe1f983e",
            "hxb5b62575e6e4ff6129ad7c8efe1f983e",
        ] {
            assert_eq!(code(validate(template_params(WA_DEBTOR, WA_SENDER, sid, None))), Some(21655), "{sid}");
        }
        assert!(validate(template_params(WA_DEBTOR, WA_SENDER, "HXB5B62575E6E4FF6129AD7C8EFE1F983E", None)).is_ok());
    }

    #[test]
    fn content_variables_must_be_a_json_object_of_strings_and_need_a_content_sid() {
        for variables in
            ["not json", r#"["Ana"]"#, r#""Ana""#, r#"{"1":1}"#, r#"{"1":null}"#, r#"{"1":""}"#, r#"{"1":{"a":"b"}}"#]
        {
            let request = template_params(WA_DEBTOR, WA_SENDER, CONTENT_SID, Some(variables));
            assert_eq!(code(validate(request)), Some(21656), "{variables}");
        }
        let without_sid = CreateParams::from_pairs(vec![
            ("To".into(), WA_DEBTOR.into()),
            ("From".into(), WA_SENDER.into()),
            ("Body".into(), "Hola".into()),
            ("ContentVariables".into(), r#"{"1":"Ana"}"#.into()),
        ]);
        assert_eq!(code(validate(without_sid)), Some(21654));
    }
}
