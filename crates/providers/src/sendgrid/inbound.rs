//! Inbound Parse: SendGrid posts each email received on our parse domain as `multipart/form-data`, with the fields
//! `headers` (the raw header block), `from`, `to`, `subject`, `text`, `html`, `envelope` (JSON), `charsets` (JSON,
//! the charset of each field), `SPF`, `dkim` and any attachments. Inbound Parse is not signed, so the HTTP Basic
//! credentials we wrote into its URL are checked before any field is read.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::FutureExt;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use sha2::{Digest, Sha256};

use crate::sendgrid::SendGridConfig;
use crate::{constant_time_eq, InboundMessage, WebhookError, WebhookRequest};

pub(crate) fn parse(config: &SendGridConfig, req: &WebhookRequest<'_>) -> Result<InboundMessage, WebhookError> {
    if !authorized(config, req.headers) {
        return Err(WebhookError::BadSignature);
    }
    let fields = form_fields(req.headers, req.body)?;
    let charsets: HashMap<String, String> =
        fields.get("charsets").and_then(|raw| serde_json::from_slice(raw).ok()).unwrap_or_default();
    let field = |name: &str| fields.get(name).map(|raw| decode(raw, charsets.get(name).map(String::as_str)));

    let envelope: Envelope = field("envelope").and_then(|e| serde_json::from_str(&e).ok()).unwrap_or_default();
    let from = envelope
        .from
        .filter(|f| !f.trim().is_empty())
        .or_else(|| field("from").map(|f| address(&f)))
        .filter(|f| !f.is_empty())
        .ok_or_else(|| WebhookError::Malformed("the sender is missing".into()))?;
    let to = envelope
        .to
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .or_else(|| field("to").map(|t| address(t.split(',').next().unwrap_or_default())))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WebhookError::Malformed("the recipient is missing".into()))?;

    let raw_headers = field("headers").unwrap_or_default();
    let body = match field("text").filter(|t| !t.trim().is_empty()) {
        Some(text) => text,
        None => field("html").map(|html| strip_tags(&html)).unwrap_or_default(),
    };
    let provider_message_id = header(&raw_headers, "Message-ID")
        .and_then(|id| message_ids(&id).into_iter().next())
        // Without one, a digest of what arrived still lets a repeated post be recognised as the same message.
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(req.body))));
    Ok(InboundMessage {
        provider_message_id,
        from: from.trim().to_string(),
        to: to.trim().to_string(),
        body,
        button: None,
        in_reply_to: replied_to(&raw_headers),
    })
}

#[derive(Debug, Default, serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    from: Option<String>,
}

/// The Basic credentials of the request against ours. Both parts are compared whatever the first gave, each in
/// constant time, so timings do not tell which one was wrong nor how much of it.
pub(crate) fn authorized(config: &SendGridConfig, headers: &HeaderMap) -> bool {
    let Some((user, password)) = basic_credentials(headers) else {
        return false;
    };
    let user_ok = constant_time_eq(user.as_bytes(), config.inbound_user.as_bytes());
    let password_ok = constant_time_eq(password.as_bytes(), config.inbound_password.as_bytes());
    user_ok & password_ok
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The form's text fields as raw bytes (decoded later with the charsets SendGrid reports). Attachments (fields with
/// a file name) are skipped: nothing downstream reads them.
fn form_fields(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, Vec<u8>>, WebhookError> {
    let malformed = |what: &str| WebhookError::Malformed(format!("not a multipart form: {what}"));
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).ok_or_else(|| malformed("no type"))?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed("no boundary"))?;
    let chunk = bytes::Bytes::copy_from_slice(body);
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(chunk) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = HashMap::new();
    // The whole body is already in memory, so every future below is ready at its first poll; one that is not
    // would mean a truncated body, which is malformed too.
    loop {
        let field = match multipart.next_field().now_or_never() {
            Some(Ok(Some(field))) => field,
            Some(Ok(None)) => break,
            _ => return Err(malformed("bad part")),
        };
        let name = field.name().map(str::to_string);
        let is_file = field.file_name().is_some();
        let data = match field.bytes().now_or_never() {
            Some(Ok(data)) => data,
            _ => return Err(malformed("bad part body")),
        };
        if let (Some(name), false) = (name, is_file) {
            fields.insert(name, data.to_vec());
        }
    }
    Ok(fields)
}

/// Text in the charset SendGrid names for it, UTF-8 when it names none or one we do not know.
fn decode(raw: &[u8], charset: Option<&str>) -> String {
    let encoding = charset
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode_without_bom_handling(raw).0.into_owned()
}

/// `Name <addr>` is `addr`; a bare address is itself.
pub(crate) fn address(text: &str) -> String {
    let text = text.trim();
    match (text.rfind('<'), text.rfind('>')) {
        (Some(start), Some(end)) if start < end => text[start + 1..end].trim().to_string(),
        _ => text.to_string(),
    }
}

/// A header's value in a raw header block, unfolding continuation lines; the first occurrence, name case-blind.
fn header(raw: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in raw.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(value) = found.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.trim().eq_ignore_ascii_case(name) {
                found = Some(value.trim().to_string());
            }
        }
    }
    found
}

/// The ids of a `Message-ID`, `In-Reply-To` or `References` value, without their angle brackets.
fn message_ids(value: &str) -> Vec<String> {
    let ids: Vec<String> = value
        .split('<')
        .skip(1)
        .filter_map(|part| part.split_once('>').map(|(id, _)| id.trim().to_string()))
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() && !value.trim().is_empty() {
        vec![value.trim().to_string()]
    } else {
        ids
    }
}

/// The message this one answers, as the `X-Message-Id` our send was given: the id in `In-Reply-To`, else the last in
/// `References`, cut at its first "@" or "." (whatever SendGrid appends to the X-Message-Id in the Message-ID it
/// writes). An id that is not one of ours simply matches no attempt.
fn replied_to(raw_headers: &str) -> Option<String> {
    let id = header(raw_headers, "In-Reply-To")
        .and_then(|v| message_ids(&v).into_iter().next())
        .or_else(|| header(raw_headers, "References").and_then(|v| message_ids(&v).pop()))?;
    let id = id.split(['@', '.']).next().unwrap_or_default().trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The readable text of an HTML body: tags, scripts and styles removed, common entities decoded, blank runs folded.
pub(crate) fn strip_tags(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let after = &rest[start..];
        let lower = after.get(..7).unwrap_or(after).to_ascii_lowercase();
        // A script's or style's content is not text.
        let skip_to = if lower.starts_with("<script") {
            find_ci(after, "</script>").map(|i| i + "</script>".len())
        } else if lower.starts_with("<style") {
            find_ci(after, "</style>").map(|i| i + "</style>".len())
        } else {
            None
        };
        let end = skip_to.or_else(|| after.find('>').map(|i| i + 1)).unwrap_or(after.len());
        let tag = after[..end].to_ascii_lowercase();
        if tag.starts_with("<br") || tag.starts_with("<p") || tag.starts_with("</p") || tag.starts_with("<div") {
            text.push('\n');
        }
        rest = &after[end..];
    }
    text.push_str(rest);
    let text = text
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<String> = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("\n")
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const URL: &str = "https://recaudo.example/webhooks/sendgrid/inbound";
    const BOUNDARY: &str = "xYzZY";

    fn config() -> SendGridConfig {
        SendGridConfig {
            inbound_user: "sendgrid".into(),
            inbound_password: "inbound-secret".into(),
            ..Default::default()
        }
    }

    fn form(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        body.into_bytes()
    }

    fn headers(authorization: Option<String>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(&content_type).expect("ascii"));
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).expect("ascii"));
        }
        headers
    }

    fn basic(user: &str, password: &str) -> Option<String> {
        Some(format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))))
    }

    const RAW_HEADERS: &str = "Received: by mx0047p1mdw1.sendgrid.net\r\nMessage-ID: <CAF=abc123@mail.example.com>\r\nIn-Reply-To:\r\n <W86EgYT6SQKk0lRflfLRsA@geopod-ismtpd-3>\r\nReferences: <other@x> <W86EgYT6SQKk0lRflfLRsA@geopod-ismtpd-3>\r\nSubject: Re: Su cuota\r\n";

    fn reply_fields() -> Vec<(&'static str, &'static str)> {
        vec![
            ("headers", RAW_HEADERS),
            ("dkim", "{@example.com : pass}"),
            ("to", "Recaudo <respuestas@parse.recaudo.example>"),
            ("from", "Ana Pérez <ana@example.com>"),
            ("subject", "Re: Su cuota"),
            ("text", "Ya pagué, gracias\r\n\r\n> Su cuota vence mañana"),
            ("html", "<p>Ya pagué</p>"),
            ("envelope", r#"{"to":["respuestas@parse.recaudo.example"],"from":"ana@example.com"}"#),
            ("charsets", r#"{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}"#),
            ("SPF", "pass"),
        ]
    }

    #[test]
    fn parses_a_reply_with_its_credentials() {
        let body = form(&reply_fields());
        let headers = headers(basic("sendgrid", "inbound-secret"));
        let message = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body: &body }).expect("parses");
        assert_eq!(
            message,
            InboundMessage {
                provider_message_id: "CAF=abc123@mail.example.com".into(),
                from: "ana@example.com".into(),
                to: "respuestas@parse.recaudo.example".into(),
                body: "Ya pagué, gracias\r\n\r\n> Su cuota vence mañana".into(),
                button: None,
                in_reply_to: Some("W86EgYT6SQKk0lRflfLRsA".into()),
            }
        );
    }

    #[test]
    fn refuses_missing_or_wrong_credentials_before_reading_anything() {
        let body = b"not even multipart";
        for authorization in
            [None, basic("sendgrid", "wrong"), basic("other", "inbound-secret"), Some("Bearer x".into())]
        {
            let headers = headers(authorization);
            let result = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body });
            assert_eq!(result, Err(WebhookError::BadSignature));
        }
    }

    #[test]
    fn a_malformed_form_is_malformed() {
        let headers = headers(basic("sendgrid", "inbound-secret"));
        let truncated = b"--xYzZY\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhola";
        let result = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body: truncated });
        assert!(matches!(result, Err(WebhookError::Malformed(_))), "{result:?}");

        let mut no_boundary = headers.clone();
        no_boundary.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let result =
            parse(&config(), &WebhookRequest { url: URL, headers: &no_boundary, body: &form(&reply_fields()) });
        assert!(matches!(result, Err(WebhookError::Malformed(_))));

        let no_sender = form(&[("to", "respuestas@parse.recaudo.example"), ("text", "hola")]);
        let result = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body: &no_sender });
        assert_eq!(result, Err(WebhookError::Malformed("the sender is missing".into())));
    }

    #[test]
    fn falls_back_to_the_from_field_the_html_and_a_digest_id() {
        let body = form(&[
            ("from", "Ana <ana@example.com>"),
            ("to", "Recaudo <respuestas@parse.recaudo.example>, otro@example.com"),
            ("html", "<html><style>p{color:red}</style><p>Ya&nbsp;pagu&eacute; &amp; listo</p><br>Gracias</html>"),
            ("headers", "Subject: hola\r\nReferences: <a@x>\r\n <XyZ.filter01@geopod>\r\n"),
        ]);
        let headers = headers(basic("sendgrid", "inbound-secret"));
        let message = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body: &body }).expect("parses");
        assert_eq!(message.from, "ana@example.com");
        assert_eq!(message.to, "respuestas@parse.recaudo.example");
        assert_eq!(message.body, "Ya pagu&eacute; & listo\nGracias");
        assert_eq!(message.in_reply_to.as_deref(), Some("XyZ"));
        assert!(message.provider_message_id.starts_with("sha256:"));
    }

    #[test]
    fn decodes_fields_in_the_charset_sendgrid_names() {
        let mut body = Vec::new();
        body.extend_from_slice(b"--xYzZY\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nYa pagu\xe9\r\n");
        body.extend_from_slice(b"--xYzZY\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nana@example.com\r\n");
        body.extend_from_slice(b"--xYzZY\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nr@parse.example\r\n");
        body.extend_from_slice(
            b"--xYzZY\r\nContent-Disposition: form-data; name=\"charsets\"\r\n\r\n{\"text\":\"iso-8859-1\"}\r\n",
        );
        body.extend_from_slice(b"--xYzZY--\r\n");
        let headers = headers(basic("sendgrid", "inbound-secret"));
        let message = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body: &body }).expect("parses");
        assert_eq!(message.body, "Ya pagué");
    }
}
