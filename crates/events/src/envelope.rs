use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event payload. `TYPE` is the CloudEvents `type`; `subject_suffix` is the NATS subject without the
/// environment prefix (`contact.requested.sms`).
pub trait Event: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    const TYPE: &'static str;

    fn subject_suffix(&self) -> String;

    /// The CloudEvents `subject`: the entity the event is about (an import, a credit, an attempt). Never personal
    /// data: ids only.
    fn entity(&self) -> String;
}

/// CloudEvents 1.0 in structured JSON mode.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<T> {
    pub specversion: String,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub ty: String,
    pub source: String,
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub datacontenttype: String,
    pub dataschema: String,
    pub data: T,
}

impl<T: Event> Envelope<T> {
    /// Wraps `data` in a new envelope with a fresh time-ordered id.
    pub fn new(source: &str, time: DateTime<Utc>, data: T) -> Self {
        Envelope {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            ty: T::TYPE.into(),
            source: source.into(),
            time,
            subject: Some(data.entity()),
            datacontenttype: "application/json".into(),
            dataschema: schema_uri(T::TYPE),
            data,
        }
    }
}

/// An envelope whose `data` is still undecoded JSON text: consumers read the envelope first and decode `data` once,
/// straight into the type the envelope names, rather than through an intermediate `serde_json::Value`.
pub type RawEnvelope = Envelope<Box<serde_json::value::RawValue>>;

impl RawEnvelope {
    /// Reads the payload as `T`, checking the envelope's type first.
    pub fn decode<T: Event>(&self) -> Result<Envelope<T>, DecodeError> {
        if self.ty != T::TYPE {
            return Err(DecodeError::WrongType { expected: T::TYPE, got: self.ty.clone() });
        }
        let data = serde_json::from_str(self.data.get()).map_err(DecodeError::Data)?;
        Ok(Envelope {
            specversion: self.specversion.clone(),
            id: self.id,
            ty: self.ty.clone(),
            source: self.source.clone(),
            time: self.time,
            subject: self.subject.clone(),
            datacontenttype: self.datacontenttype.clone(),
            dataschema: self.dataschema.clone(),
            data,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("expected event type {expected}, got {got}")]
    WrongType { expected: &'static str, got: String },
    #[error("event data does not match its schema: {0}")]
    Data(serde_json::Error),
}

/// Where an event type's JSON Schema is published (the file name in `proto-schemas/events/`).
pub fn schema_uri(ty: &str) -> String {
    format!("https://recaudo.dev/schemas/events/{ty}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImportFailed;

    #[test]
    fn envelope_is_structured_cloudevents() {
        let ev = ImportFailed { import_id: Uuid::nil(), reason: "x".into() };
        let env = Envelope::new("recaudo/ingestion", Utc::now(), ev);
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "recaudo.import.failed.v1");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["subject"], Uuid::nil().to_string());
        let raw: RawEnvelope = serde_json::from_str(&json.to_string()).unwrap();
        assert_eq!(raw.decode::<ImportFailed>().unwrap().data.reason, "x");
        assert!(raw.decode::<crate::ImportCompleted>().is_err());
    }
}
