//! The public contracts in `proto-schemas/` stay true to the code: the event JSON Schemas are exactly what the
//! Rust types generate, the AsyncAPI document names every event and subject, and every path of the OpenAPI
//! document is served.

mod common;

use std::path::Path;

use common::{App, Infra};
use recaudo::Target;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn checked_in_event_schemas_match_the_code() {
    let problems = recaudo::schemas::differences(root()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}\nrun `make schemas` and commit the result");
}

#[test]
fn asyncapi_names_every_event_type_and_subject() {
    let doc = std::fs::read_to_string(root().join("proto-schemas/asyncapi.yaml")).unwrap();
    for (ty, _) in recaudo_events::schema::all() {
        assert!(doc.contains(ty), "asyncapi.yaml does not mention {ty}");
        assert!(doc.contains(&format!("./events/{ty}.json")), "asyncapi.yaml does not reference the schema of {ty}");
    }
    for subject in [
        "import.started",
        "import.rows.{import_id}",
        "import.completed",
        "import.failed",
        "portfolio.advisor.upserted",
        "portfolio.accounts.upserted",
        "portfolio.import.applied",
        "portfolio.assignment.changed",
        "payment.received",
        "payment.applied",
        "payment.rejected",
        "contact.requested.{channel}",
        "contact.suppressed",
        "contact.cancelled.{channel}.{contact_id}",
        "contact.prepared.{channel}",
        "contact.attempted.{channel}",
        "contact.not_sent.{channel}",
        "contact.status.{channel}",
        "reply.received.{channel}",
        "reply.clicked",
        "reply.routed",
        "queue.advisor.{advisor_id}",
        "case.outcome.recorded",
        "consent.withdrawn",
        "strategy.activated",
        "promise.made",
        "promise.kept",
        "promise.broken",
    ] {
        assert!(doc.contains(subject), "asyncapi.yaml does not mention subject {subject}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_openapi_path_is_served() {
    let doc = openapi();
    let paths: Vec<&str> = doc["paths"].as_object().expect("paths").keys().map(String::as_str).collect();
    assert!(paths.len() >= 10, "found only {paths:?}");
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &Target::ALL).await;
    for path in paths {
        // The development provider's routes are served only with RECAUDO_DEV_IDP=on (tests/access.rs covers them).
        if path.starts_with("/dev-idp/") {
            continue;
        }
        let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000").replace("{token}", "x");
        let url = format!("{}{concrete}", app.base);
        // An unrouted path gets axum's bare 404 without a body; our routes answer with content, or 405 for a GET on
        // a POST-only route.
        let get = app.http.get(&url).send().await.unwrap();
        let status = get.status().as_u16();
        // A live stream never ends: its answer's head is proof enough that it is served.
        if get.headers().get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream")) {
            continue;
        }
        let body = get.bytes().await.unwrap();
        assert!(!(status == 404 && body.is_empty()), "{path}: not served");
    }
    app.stop().await;
}

#[test]
fn the_contact_policy_files_of_the_docs_and_the_deployment_load() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("**How a lender tightens the law.**").expect("the README section")..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, example).unwrap();
    let policies = recaudo_policy::Policies::from_file(&path).unwrap_or_else(|e| panic!("README example: {e}"));
    assert!(policies
        .for_country(recaudo_domain::Country::Mexico)
        .preset
        .caps
        .iter()
        .any(|c| c.rule == "lender.max_per_day"));
    recaudo_policy::Policies::from_file(&root().join("deploy/k8s/contact-policy.yaml")).unwrap();
}

/// README lists every field an expression may read, and nothing it may not.
#[test]
fn readme_documents_what_expressions_may_read() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for v in [recaudo_strategy::DEBTOR, recaudo_strategy::CREDIT, recaudo_strategy::STEP] {
        for field in v.fields.unwrap() {
            assert!(readme.contains(&format!("`{}.{field}`", v.name)), "README does not document {}.{field}", v.name);
        }
    }
    assert!(readme.contains("| `attributes` |"), "README does not document attributes");
}

/// The OpenAPI document, parsed.
fn openapi() -> serde_json::Value {
    serde_norway::from_str(&std::fs::read_to_string(root().join("proto-schemas/openapi.yaml")).unwrap()).unwrap()
}

/// The strings of the enum at `pointer` in the OpenAPI document.
fn documented(doc: &serde_json::Value, pointer: &str) -> std::collections::BTreeSet<String> {
    let values = doc.pointer(pointer).and_then(|v| v.as_array()).unwrap_or_else(|| panic!("no enum at {pointer}"));
    values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// The workspace's Rust sources outside tests.
fn sources() -> Vec<(std::path::PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(std::path::PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("tests") && !path.ends_with("target") {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["src", "crates", "services"] {
        walk(&root().join(dir), &mut out);
    }
    out
}

/// The string literals that follow `call` (its first argument, or the first two), wherever it is written.
fn literal_arguments(text: &str, call: &str, count: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(call) {
        let mut rest = &text[at + call.len()..];
        let mut args = Vec::new();
        for _ in 0..count {
            let Some(quoted) = rest.trim_start().strip_prefix('"') else { break };
            let Some(end) = quoted.find('"') else { break };
            args.push(quoted[..end].to_string());
            rest = quoted[end + 1..].trim_start().strip_prefix(',').unwrap_or(&quoted[end + 1..]);
        }
        if args.len() == count {
            out.push(args);
        }
    }
    out
}

/// Every error code a handler answers with a literal (`ApiError::bad_request("invalid_note", ...)`) is in the
/// documented enum, and so are the fixed codes of `ApiError`'s own variants: a new code cannot ship undocumented.
#[test]
fn every_error_code_the_handlers_answer_is_documented() {
    let documented = documented(&openapi(), "/components/schemas/ApiError/properties/error/properties/code/enum");
    let mut missing = std::collections::BTreeSet::new();
    for (path, text) in sources() {
        for call in ["::bad_request(", "::unauthenticated(", "::forbidden(", "::unavailable(", "::refused_whole("] {
            for args in literal_arguments(&text, call, 1) {
                if !documented.contains(&args[0]) {
                    missing.insert(format!("{} ({})", args[0], path.strip_prefix(root()).unwrap().display()));
                }
            }
        }
    }
    for fixed in ["not_found", "unauthorized", "conflict", "payload_too_large", "internal"] {
        if !documented.contains(fixed) {
            missing.insert(fixed.to_string());
        }
    }
    assert!(missing.is_empty(), "error codes not in openapi.yaml's ApiError enum: {missing:?}");
}

/// The permissions `/api/me` lists are the code's, and every audited action and resource type is documented.
#[test]
fn permissions_and_audit_actions_are_the_codes() {
    let doc = openapi();
    let permissions = documented(&doc, "/components/schemas/Permission/enum");
    let code: std::collections::BTreeSet<String> =
        recaudo_access::Permission::ALL.iter().map(|p| p.as_str().to_string()).collect();
    assert_eq!(permissions, code, "openapi.yaml's Permission enum");
    let actions = documented(&doc, "/components/schemas/AuditRecord/properties/action/enum");
    let resources = documented(&doc, "/components/schemas/AuditRecord/properties/resource_type/enum");
    let mut missing = std::collections::BTreeSet::new();
    for (_, text) in sources() {
        for args in literal_arguments(&text, "AuditEntry::new(", 2) {
            if !actions.contains(&args[0]) {
                missing.insert(format!("action {}", args[0]));
            }
            if !resources.contains(&args[1]) {
                missing.insert(format!("resource_type {}", args[1]));
            }
        }
    }
    assert!(missing.is_empty(), "audit vocabulary not in openapi.yaml's AuditRecord: {missing:?}");
}

/// The AsyncAPI document passes the official validator, `@asyncapi/cli` (pinned in `tests/asyncapi`'s lockfile,
/// installed by `make test-deps`): its schema and its rules, such as an operation's messages belonging to its channel.
#[test]
fn asyncapi_passes_the_official_validator() {
    let cli = root().join("tests/asyncapi/node_modules/.bin/asyncapi");
    assert!(cli.exists(), "{} is missing: run `make test-deps` (npm ci --prefix tests/asyncapi)", cli.display());
    let out = std::process::Command::new(&cli)
        .args(["validate", "proto-schemas/asyncapi.yaml"])
        .current_dir(root())
        // `CI` keeps the tool from sending usage metrics; the other quiets its configuration loader.
        .env("CI", "true")
        .env("SUPPRESS_NO_CONFIG_WARNING", "1")
        .output()
        .expect("node runs the AsyncAPI CLI");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "asyncapi validate refused proto-schemas/asyncapi.yaml:\n{said}");
}
