//! Renders messages as Twilio's Message resource and list pages, field for field. `uri` fields are relative Twilio
//! paths (as Twilio's are), so they do not depend on where the simulator is mounted.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::twilio::errors::delivery_error_message;
use crate::twilio::store::SimMessage;

const API_VERSION: &str = recaudo_providers::twilio::API_VERSION;

pub(crate) fn messages_path(account_sid: &str) -> String {
    format!("/{API_VERSION}/Accounts/{account_sid}/Messages.json")
}

pub(crate) fn message_path(account_sid: &str, message_sid: &str) -> String {
    format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}.json")
}

/// Twilio's dates: RFC 2822 in GMT, e.g. "Thu, 30 Jul 2015 20:12:31 +0000".
fn rfc2822(at: DateTime<Utc>) -> String {
    at.to_rfc2822()
}

pub(crate) fn message_json(account_sid: &str, message: &SimMessage) -> Value {
    let base = format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{}", message.sid);
    // Twilio reports 0 segments while a Messaging Service has not yet picked a sender.
    let num_segments = if message.status == "accepted" { 0 } else { message.num_segments };
    json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": message.date_sent.map(rfc2822),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_code.and_then(delivery_error_message),
        "from": message.from,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": num_segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {
            "media": format!("{base}/Media.json"),
            "feedback": format!("{base}/Feedback.json"),
        },
        "to": message.to,
        "uri": message_path(account_sid, &message.sid),
    })
}

/// One page of a list, newest first as Twilio lists them.
pub(crate) struct Page<'a> {
    pub(crate) account_sid: &'a str,
    /// The filters as they were asked for, repeated in every page URI.
    pub(crate) filters: Vec<(&'static str, String)>,
    pub(crate) page: usize,
    pub(crate) page_size: usize,
    pub(crate) matching: Vec<SimMessage>,
}

impl Page<'_> {
    pub(crate) fn to_json(&self) -> Value {
        let start = self.page.saturating_mul(self.page_size);
        let on_page: Vec<Value> = self
            .matching
            .iter()
            .skip(start)
            .take(self.page_size)
            .map(|message| message_json(self.account_sid, message))
            .collect();
        let has_next = start.saturating_add(self.page_size) < self.matching.len();
        json!({
            "end": (start + on_page.len()).saturating_sub(1).max(start),
            "first_page_uri": self.uri(0),
            "messages": on_page,
            "next_page_uri": has_next.then(|| self.uri(self.page + 1)),
            "page": self.page,
            "page_size": self.page_size,
            "previous_page_uri": (self.page > 0).then(|| self.uri(self.page - 1)),
            "start": start,
            "uri": self.uri(self.page),
        })
    }

    fn uri(&self, page: usize) -> String {
        let mut query: Vec<(&str, String)> = self.filters.iter().map(|(name, value)| (*name, value.clone())).collect();
        query.push(("PageSize", self.page_size.to_string()));
        query.push(("Page", page.to_string()));
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{}?{encoded}", messages_path(self.account_sid))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn message(sid: &str, status: &str) -> SimMessage {
        let at = Utc.with_ymd_and_hms(2015, 7, 30, 20, 12, 31).single().expect("valid date");
        SimMessage {
            sid: sid.to_string(),
            direction: "outbound-api".into(),
            from: Some("+15005550006".into()),
            to: "+573001234567".into(),
            body: "Hola".into(),
            content_sid: None,
            messaging_service_sid: None,
            status: status.into(),
            error_code: None,
            num_segments: 1,
            status_callback: None,
            date_created: at,
            date_updated: at,
            date_sent: None,
        }
    }

    #[test]
    fn renders_the_message_resource_like_twilio() {
        let json = message_json("AC1", &message("SM1", "queued"));
        assert_eq!(json["date_created"], "Thu, 30 Jul 2015 20:12:31 +0000");
        assert_eq!(json["date_sent"], Value::Null);
        assert_eq!(json["num_segments"], "1");
        assert_eq!(json["uri"], "/2010-04-01/Accounts/AC1/Messages/SM1.json");
        assert_eq!(json["subresource_uris"]["media"], "/2010-04-01/Accounts/AC1/Messages/SM1/Media.json");
        assert_eq!(message_json("AC1", &message("SM1", "accepted"))["num_segments"], "0");
        assert_eq!(json["error_code"], Value::Null);
        assert_eq!(json["error_message"], Value::Null);
    }

    #[test]
    fn a_failed_whatsapp_message_keeps_its_prefixes_and_carries_its_error() {
        let failed = SimMessage {
            from: Some("whatsapp:+15005550006".into()),
            to: "whatsapp:+573001234567".into(),
            error_code: Some(63016),
            ..message("SM1", "failed")
        };
        let json = message_json("AC1", &failed);
        assert_eq!(json["to"], "whatsapp:+573001234567");
        assert_eq!(json["from"], "whatsapp:+15005550006");
        assert_eq!(json["error_code"], 63016);
        assert!(json["error_message"].as_str().is_some_and(|m| m.contains("outside the allowed window")));
    }

    #[test]
    fn pages_link_to_their_neighbours() {
        let page = Page {
            account_sid: "AC1",
            filters: vec![("To", "+573001234567".into())],
            page: 1,
            page_size: 2,
            matching: (0..5).map(|i| message(&format!("SM{i}"), "sent")).collect(),
        };
        let json = page.to_json();
        assert_eq!(json["start"], 2);
        assert_eq!(json["end"], 3);
        assert_eq!(json["messages"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["uri"], "/2010-04-01/Accounts/AC1/Messages.json?To=%2B573001234567&PageSize=2&Page=1");
        assert_eq!(
            json["previous_page_uri"],
            "/2010-04-01/Accounts/AC1/Messages.json?To=%2B573001234567&PageSize=2&Page=0"
        );
        assert_eq!(
            json["next_page_uri"],
            "/2010-04-01/Accounts/AC1/Messages.json?To=%2B573001234567&PageSize=2&Page=2"
        );

        let last = Page { page: 2, ..page };
        assert_eq!(last.to_json()["next_page_uri"], Value::Null);
    }
}
