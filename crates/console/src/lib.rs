//! The web console's shell (DESIGN.md, "Faces"): one layout, one stylesheet, one small script for live updates and
//! vendored htmx, Spanish first with English available. Each service renders its own pages with it, from its own
//! data, behind the same access gate as its API; this crate owns only what every page shares.
//!
//! Every page is a minijinja template named `*.html`, so every value is HTML-escaped by the engine: nothing is
//! escaped by hand. Pages extend `layout.html` and call `t("key")` for their words.

mod i18n;

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, State, Value};
use recaudo_runtime::Routes;
use serde::Serialize;

pub use i18n::{known, text, Lang, LANG_COOKIE};

/// The vendored htmx 2 (BSD Zero Clause licence, `static/htmx.LICENSE`).
const HTMX: &str = include_str!("../static/htmx.min.js");
const SCRIPT: &str = include_str!("../static/console.js");
const STYLE: &str = include_str!("../static/console.css");
const LAYOUT: &str = include_str!("../templates/layout.html");

/// The console's static files, public (they hold nothing of anyone): `/console/static/...`.
pub fn static_routes() -> Routes {
    fn asset(content_type: &'static str, body: &'static str) -> Response {
        ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
    }
    Routes::new()
        .public("/console/static/htmx.min.js", get(|| async { asset("text/javascript; charset=utf-8", HTMX) }))
        .public("/console/static/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .public("/console/static/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

/// A service's pages: the shared layout plus its own templates.
#[derive(Clone)]
pub struct Pages {
    env: Arc<Environment<'static>>,
}

impl Pages {
    /// `templates` are `(name, source)` pairs, names ending in `.html`. A template that does not compile is a bug
    /// caught by the service's tests, so this panics with the engine's message.
    pub fn new(templates: &[(&'static str, &'static str)]) -> Pages {
        let mut env = Environment::new();
        env.add_template("layout.html", LAYOUT).expect("console layout");
        for (name, source) in templates {
            if let Err(e) = env.add_template(name, source) {
                panic!("console template {name}: {e:#}");
            }
        }
        env.add_function("t", translate);
        env.add_filter("money", money);
        env.add_filter("instant", instant);
        Pages { env: Arc::new(env) }
    }

    /// Renders `template` with `context` plus `lang` (the language of the page).
    pub fn render<S: Serialize>(&self, template: &str, lang: Lang, context: S) -> Result<String, minijinja::Error> {
        let ctx = minijinja::context! { lang => lang.code(), ..Value::from_serialize(&context) };
        self.env.get_template(template)?.render(ctx)
    }

    /// The page as a response, or a 500 whose details go to the log only.
    pub fn page<S: Serialize>(&self, template: &str, lang: Lang, context: S) -> Response {
        match self.render(template, lang, context) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(template, error = %format!("{e:#}"), "console page not rendered");
                (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Error</title><p>Error")).into_response()
            }
        }
    }
}

/// `t("key")`: the page's word for `key` in its language.
fn translate(state: &State, key: &str) -> String {
    let lang = state.lookup("lang").and_then(|v| v.as_str().map(Lang::from_code)).unwrap_or_default();
    i18n::text(lang, key).to_string()
}

/// `{{ amount|money(currency) }}`: grouped thousands, two decimals, the ISO code after (`1.234.567,89 COP`).
fn money(value: Value, currency: Option<String>) -> String {
    let text = value.to_string();
    let text = text.trim_matches('"');
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let (sign, digits) = int.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", int));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let frac: String = frac.chars().chain("00".chars()).take(2).collect();
    let mut out = format!("{sign}{grouped},{frac}");
    if let Some(c) = currency.filter(|c| !c.is_empty()) {
        out.push(' ');
        out.push_str(&c);
    }
    out
}

/// `{{ at|instant }}`: an RFC 3339 instant as `2026-11-23 10:15 UTC`; pages show local time with the script.
fn instant(value: Value) -> String {
    let text = value.to_string();
    let text = text.trim_matches('"');
    match (text.get(0..10), text.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => text.to_string(),
    }
}

/// The language of a request: `?lang=` if given, else the language cookie, else Spanish.
pub fn lang_of(headers: &HeaderMap, query_lang: Option<&str>) -> Lang {
    if let Some(q) = query_lang {
        return Lang::from_code(q);
    }
    recaudo_runtime::http::cookie(headers, LANG_COOKIE).map(|v| Lang::from_code(&v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_by_the_engine_and_words_follow_the_language() {
        let pages = Pages::new(&[(
            "probe.html",
            "{% extends \"layout.html\" %}{% block main %}<p>{{ name }}</p><p>{{ t(\"queue.title\") }}</p>{% endblock %}",
        )]);
        let html = pages
            .render("probe.html", Lang::Es, serde_json::json!({ "name": "<script>x</script>", "title": "T" }))
            .unwrap();
        assert!(html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"), "{html}");
        assert!(!html.contains("<script>x"));
        assert!(html.contains("Mi cola"), "{html}");
        assert!(html.contains("lang=\"es\""));
        let en = pages.render("probe.html", Lang::En, serde_json::json!({ "name": "n", "title": "T" })).unwrap();
        assert!(en.contains("My queue") && en.contains("lang=\"en\""), "{en}");
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(Value::from("1234567.8"), Some("COP".into())), "1.234.567,80 COP");
        assert_eq!(money(Value::from("950"), None), "950,00");
        assert_eq!(money(Value::from("-1000.5"), Some("MXN".into())), "-1.000,50 MXN");
    }

    #[test]
    fn the_language_comes_from_the_query_then_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(lang_of(&h, None), Lang::Es);
        h.insert(header::COOKIE, "a=b; recaudo_lang=en".parse().unwrap());
        assert_eq!(lang_of(&h, None), Lang::En);
        assert_eq!(lang_of(&h, Some("es")), Lang::Es);
    }
}
