//! Which templates exist: the built-in catalogue, with managers' saved templates in front of it.

use std::borrow::Cow;
use std::collections::HashMap;

use recaudo_events::{Channel, TemplateSource};

use crate::builtin::builtin;

/// The templates in force: each saved template's latest version, then the built-in catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    saved: HashMap<String, TemplateSource>,
}

impl Catalogue {
    /// The built-in catalogue alone.
    pub fn builtin() -> Catalogue {
        Catalogue::default()
    }

    /// The built-in catalogue with `saved` (name and latest version) in front of it.
    pub fn with_saved(saved: impl IntoIterator<Item = (String, TemplateSource)>) -> Catalogue {
        Catalogue { saved: saved.into_iter().collect() }
    }

    pub fn get(&self, name: &str) -> Option<Cow<'_, TemplateSource>> {
        match self.saved.get(name) {
            Some(t) => Some(Cow::Borrowed(t)),
            None => builtin(name).map(|b| Cow::Owned(b.source())),
        }
    }

    pub fn channel_of(&self, name: &str) -> Option<Channel> {
        match self.saved.get(name) {
            Some(t) => Some(t.channel),
            None => builtin(name).map(|b| b.channel),
        }
    }

    /// A saved template, which a contact request carries (built-in ones travel by name).
    pub fn saved(&self, name: &str) -> Option<&TemplateSource> {
        self.saved.get(name)
    }
}

/// The template a request names: the source it carries, else the built-in one of that name.
pub fn resolve<'a>(name: &str, carried: Option<&'a TemplateSource>) -> Option<Cow<'a, TemplateSource>> {
    match carried {
        Some(t) => Some(Cow::Borrowed(t)),
        None => builtin(name).map(|b| Cow::Owned(b.source())),
    }
}
