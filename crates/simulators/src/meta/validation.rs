//! Checks a send the way Meta does, answering Meta's code 100 with details naming the parameter at fault.

use serde_json::Value;

use crate::meta::errors::ApiError;

/// Meta's limits, from the Cloud API reference.
const MAX_TEXT_CHARS: usize = 4096;
const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE_CHARS: usize = 20;
const MAX_BUTTON_ID_CHARS: usize = 256;
const MAX_CALLBACK_DATA_CHARS: usize = 512;
const MAX_TEMPLATE_NAME_CHARS: usize = 512;

/// A send that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidMessage {
    /// The recipient's number as digits.
    pub(crate) to: String,
    /// "template", "text" or "interactive".
    pub(crate) kind: &'static str,
    /// The template's name, the text, or the interactive body.
    pub(crate) body: String,
    pub(crate) callback_data: Option<String>,
}

impl ValidMessage {
    /// Free-form messages are only delivered inside the customer-service window; templates always are.
    pub(crate) fn is_free_form(&self) -> bool {
        self.kind != "template"
    }
}

pub(crate) fn validate(body: &[u8]) -> Result<ValidMessage, ApiError> {
    let request: Value = serde_json::from_slice(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::invalid_parameter("The request body must be a JSON object."))?;
    if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err(ApiError::invalid_parameter(
            "The parameter messaging_product is required and must be \"whatsapp\".",
        ));
    }
    if let Some(kind) = request.get("recipient_type") {
        if kind.as_str() != Some("individual") {
            return Err(ApiError::invalid_parameter("Param recipient_type must be \"individual\"."));
        }
    }
    let to = request
        .get("to")
        .and_then(Value::as_str)
        .map(|to| to.strip_prefix('+').unwrap_or(to))
        .filter(|to| (7..=15).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::invalid_parameter("The parameter to is required and must be a phone number."))?
        .to_string();
    let callback_data = match request.get("biz_opaque_callback_data") {
        None => None,
        Some(Value::String(data)) if data.chars().count() <= MAX_CALLBACK_DATA_CHARS => Some(data.clone()),
        Some(_) => {
            return Err(ApiError::invalid_parameter(format!(
                "Param biz_opaque_callback_data must be a string of at most {MAX_CALLBACK_DATA_CHARS} characters."
            )))
        }
    };
    let (kind, body) = match request.get("type").and_then(Value::as_str).unwrap_or("text") {
        "text" => ("text", text(&request)?),
        "template" => ("template", template(&request)?),
        "interactive" => ("interactive", interactive(&request)?),
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "Param type {other:?} is not supported here; use text, template or interactive."
            )))
        }
    };
    Ok(ValidMessage { to, kind, body, callback_data })
}

fn text(request: &Value) -> Result<String, ApiError> {
    let body = str_at(request, "/text/body").filter(|b| !b.trim().is_empty());
    let body = body.ok_or_else(|| ApiError::invalid_parameter("The parameter text['body'] is required."))?;
    if body.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid_parameter(format!(
            "Param text['body'] must be at most {MAX_TEXT_CHARS} characters."
        )));
    }
    Ok(body.to_string())
}

fn template(request: &Value) -> Result<String, ApiError> {
    let name = str_at(request, "/template/name")
        .filter(|n| {
            !n.is_empty()
                && n.len() <= MAX_TEMPLATE_NAME_CHARS
                && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .ok_or_else(|| {
            ApiError::invalid_parameter("Param template['name'] is required and must match ^[a-z0-9_]+$.")
        })?;
    if !str_at(request, "/template/language/code").is_some_and(is_language_code) {
        return Err(ApiError::invalid_parameter(
            "Param template['language']['code'] is required and must be a language code such as es_CO.",
        ));
    }
    if let Some(components) = request.pointer("/template/components") {
        let components = components
            .as_array()
            .ok_or_else(|| ApiError::invalid_parameter("Param template['components'] must be an array."))?;
        for (i, component) in components.iter().enumerate() {
            match component.get("type").and_then(Value::as_str) {
                Some("header" | "body") => {}
                Some("button") => {
                    if component.get("sub_type").and_then(Value::as_str).is_none()
                        || component.get("index").and_then(Value::as_str).is_none_or(|i| i.parse::<u8>().is_err())
                    {
                        return Err(ApiError::invalid_parameter(format!(
                            "Param template['components'][{i}] needs sub_type and a numeric index."
                        )));
                    }
                }
                _ => {
                    return Err(ApiError::invalid_parameter(format!(
                        "Param template['components'][{i}]['type'] must be header, body or button."
                    )))
                }
            }
            if let Some(parameters) = component.get("parameters") {
                let valid = parameters.as_array().is_some_and(|ps| {
                    ps.iter().all(|p| match p.get("type").and_then(Value::as_str) {
                        Some("text") => p.get("text").and_then(Value::as_str).is_some_and(|t| !t.is_empty()),
                        Some("payload") => p.get("payload").and_then(Value::as_str).is_some(),
                        Some(_) => true,
                        None => false,
                    })
                });
                if !valid {
                    return Err(ApiError::invalid_parameter(format!(
                        "Param template['components'][{i}]['parameters'] is not valid."
                    )));
                }
            }
        }
    }
    Ok(name.to_string())
}

/// `es`, `es_CO`, `en_US`, `zh_CN`, ...
fn is_language_code(code: &str) -> bool {
    let (language, region) = code.split_once('_').map_or((code, None), |(l, r)| (l, Some(r)));
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

fn interactive(request: &Value) -> Result<String, ApiError> {
    if str_at(request, "/interactive/type") != Some("button") {
        return Err(ApiError::invalid_parameter("Param interactive['type'] must be \"button\" here."));
    }
    let body = str_at(request, "/interactive/body/text")
        .filter(|b| !b.trim().is_empty() && b.chars().count() <= MAX_INTERACTIVE_BODY_CHARS)
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "Param interactive['body']['text'] is required, of at most {MAX_INTERACTIVE_BODY_CHARS} characters."
            ))
        })?;
    let buttons = request
        .pointer("/interactive/action/buttons")
        .and_then(Value::as_array)
        .filter(|b| (1..=MAX_BUTTONS).contains(&b.len()))
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "Param interactive['action']['buttons'] must hold 1 to {MAX_BUTTONS} buttons."
            ))
        })?;
    let mut ids = Vec::new();
    for (i, button) in buttons.iter().enumerate() {
        let id = str_at(button, "/reply/id").filter(|id| !id.is_empty() && id.chars().count() <= MAX_BUTTON_ID_CHARS);
        let title = str_at(button, "/reply/title")
            .filter(|t| !t.trim().is_empty() && t.chars().count() <= MAX_BUTTON_TITLE_CHARS);
        match (button.get("type").and_then(Value::as_str), id, title) {
            (Some("reply"), Some(id), Some(_)) if !ids.contains(&id) => ids.push(id),
            _ => {
                return Err(ApiError::invalid_parameter(format!(
                    "Param interactive['action']['buttons'][{i}] needs type reply, a unique id and a title of at most {MAX_BUTTON_TITLE_CHARS} characters."
                )))
            }
        }
    }
    Ok(body.to_string())
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: Value) -> Result<ValidMessage, ApiError> {
        validate(value.to_string().as_bytes())
    }

    fn template(name: &str, code: &str) -> Value {
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "573001234567",
            "type": "template", "template": {"name": name, "language": {"code": code}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                    "parameters": [{"type": "payload", "payload": "PAY"}]}]}})
    }

    fn details_of(result: Result<ValidMessage, ApiError>) -> String {
        let error = result.expect_err("refused");
        assert_eq!(error.code(), 100);
        error.details().unwrap_or_default().to_string()
    }

    #[test]
    fn accepts_each_kind_meta_documents() {
        let valid = check(template("recordatorio_pago", "es_CO")).expect("valid template");
        assert_eq!(
            (valid.to.as_str(), valid.kind, valid.body.as_str()),
            ("573001234567", "template", "recordatorio_pago")
        );
        assert!(!valid.is_free_form());
        let text = json!({"messaging_product": "whatsapp", "to": "+573001234567", "type": "text",
            "biz_opaque_callback_data": "attempt-1", "text": {"body": "Hola", "preview_url": true}});
        let valid = check(text).expect("valid text");
        assert_eq!((valid.callback_data.as_deref(), valid.is_free_form()), (Some("attempt-1"), true));
        let interactive = json!({"messaging_product": "whatsapp", "to": "573001234567", "type": "interactive",
            "interactive": {"type": "button", "body": {"text": "¿Paga hoy?"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "yes", "title": "Sí"}}]}}});
        assert_eq!(check(interactive).map(|v| v.kind), Ok("interactive"));
    }

    #[test]
    fn names_the_parameter_at_fault() {
        assert!(details_of(check(template("Recordatorio-Pago", "es_CO"))).contains("template['name']"));
        assert!(details_of(check(template("recordatorio", "spanish"))).contains("template['language']['code']"));
        let mut no_product = template("a", "es");
        no_product["messaging_product"] = json!("sms");
        assert!(details_of(check(no_product)).contains("messaging_product"));
        let mut bad_to = template("a", "es");
        bad_to["to"] = json!("ana@example.com");
        assert!(details_of(check(bad_to)).contains("to"));
        let empty_text = json!({"messaging_product": "whatsapp", "to": "573001234567", "type": "text", "text": {}});
        assert!(details_of(check(empty_text)).contains("text['body']"));
        let long_title = json!({"messaging_product": "whatsapp", "to": "573001234567", "type": "interactive",
            "interactive": {"type": "button", "body": {"text": "x"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "a title far longer than twenty"}}]}}});
        assert!(details_of(check(long_title)).contains("buttons'][0]"));
        assert!(details_of(validate(b"not json")).contains("JSON"));
    }
}
