//! The channels Twilio carries on the one Messages API. An address names its channel: a bare E.164 number (or
//! sender id) is SMS, `whatsapp:` followed by the number is WhatsApp, and Twilio keeps the prefix everywhere it
//! writes the address (the Message resource, status callbacks, incoming-message webhooks).

use serde::Deserialize;

const WHATSAPP_PREFIX: &str = "whatsapp:";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Sms,
    Whatsapp,
}

impl Channel {
    /// The channel an address is on, and the number (or sender id) after its prefix.
    pub(crate) fn of(address: &str) -> (Channel, &str) {
        match address.strip_prefix(WHATSAPP_PREFIX) {
            Some(number) => (Channel::Whatsapp, number),
            None => (Channel::Sms, address),
        }
    }

    /// `number` as Twilio writes it on this channel. An address that already carries the prefix is kept, so callers
    /// may pass either form; an SMS address is taken as given.
    pub(crate) fn address(self, number: &str) -> String {
        match self {
            Channel::Whatsapp if !number.starts_with(WHATSAPP_PREFIX) => format!("{WHATSAPP_PREFIX}{number}"),
            _ => number.to_string(),
        }
    }

    /// The prefix Twilio's addresses on this channel start with.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Channel::Sms => "",
            Channel::Whatsapp => WHATSAPP_PREFIX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_names_the_channel_and_is_added_once() {
        assert_eq!(Channel::of("whatsapp:+573001234567"), (Channel::Whatsapp, "+573001234567"));
        assert_eq!(Channel::of("+573001234567"), (Channel::Sms, "+573001234567"));
        assert_eq!(Channel::Whatsapp.address("+573001234567"), "whatsapp:+573001234567");
        assert_eq!(Channel::Whatsapp.address("whatsapp:+573001234567"), "whatsapp:+573001234567");
        assert_eq!(Channel::Sms.address("+573001234567"), "+573001234567");
    }
}
