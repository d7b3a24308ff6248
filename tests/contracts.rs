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
    let doc = std::fs::read_to_string(root().join("proto-schemas/openapi.yaml")).unwrap();
    let paths: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("  /") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
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
