//! Access: who may see and do what (DESIGN.md, "Access").
//!
//! Every process runs this layer in front of its services. It signs people in (bearer JWTs from the lender's
//! OpenID Connect provider, or a browser session made with the authorization-code flow), authenticates internal
//! systems (service credentials with scopes), keeps the directory that gives each subject a role and team, decides
//! scope in one place ([`scope`]), and keeps the audit trail. It owns the `access` schema.

pub mod admin;
mod api;
pub mod audit;
pub mod browser;
mod case_holders;
pub mod config;
pub mod credentials;
pub mod dev_idp;
pub mod directory;
mod gate;
pub mod oidc;
pub mod principal;
mod projection;
pub mod scope;

use std::sync::Arc;

use axum::Router;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{Infra, Migration, Started};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use audit::Entry as AuditEntry;
pub use config::{AccessConfig, Identity};
pub use principal::{Grant, Permission, Principal, Role, Team, Via};
pub use scope::Resource;

pub const SCHEMA: &str = "access";
pub const NAME: &str = "access";

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "access", include_str!("../migrations/0002_access.sql")),
        Migration::new(3, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
        Migration::new(4, "case_holders", include_str!("../migrations/0004_case_holders.sql")),
    ]
}

/// What the gate and the access routes share.
pub struct Access {
    pub config: AccessConfig,
    pub pool: PgPool,
    pub verifier: oidc::Verifier,
    pub public_url: String,
    pub dev_idp: Option<dev_idp::DevIdp>,
    pub(crate) http: reqwest::Client,
}

/// The access layer as a service of the process; it must come first, so that its gate guards every other service's
/// protected routes.
pub fn service(config: AccessConfig) -> ServiceDef {
    ServiceDef {
        name: NAME,
        schema: Some(SCHEMA),
        migrations: migrations(),
        start: Box::new(move |infra, shutdown| Box::pin(start(infra, config, shutdown))),
    }
}

async fn start(infra: Infra, config: AccessConfig, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let (verifier, dev_idp) = match &config.identity {
        Identity::Oidc { issuer, jwks_url } => {
            (oidc::Verifier::new(issuer.clone(), jwks_url.clone(), config.leeway), None)
        }
        Identity::Development => {
            let idp = dev_idp::DevIdp::load(&infra.pool, &infra.public_url).await?;
            dev_idp::seed_demo_users(&infra.pool).await?;
            tracing::warn!(issuer = %idp.issuer, "the development identity provider is on: anyone who reaches it can sign in as any user");
            // The keys are fetched from this process's own listener, whatever the public URL.
            let jwks = format!("{}{}/jwks", infra.local_url(), dev_idp::PATH);
            (oidc::Verifier::new(idp.issuer.clone(), Some(jwks), config.leeway), Some(idp))
        }
    };
    let access = Arc::new(Access {
        pool: infra.pool.clone(),
        verifier,
        public_url: infra.public_url.clone(),
        dev_idp,
        http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?,
        config,
    });
    let projection = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(projection::CONSUMER, "portfolio.>"),
        projection::Projection { pool: infra.pool.clone() },
        shutdown.clone(),
    );
    let cases = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(case_holders::CONSUMER, case_holders::FILTER),
        case_holders::CaseHolders { pool: infra.pool.clone() },
        shutdown.clone(),
    );
    let purge = audit::purge_periodically(infra.pool.clone(), access.config.audit_retention, shutdown);
    let prefetch = {
        let access = access.clone();
        async move {
            // The development provider answers on this process's listener, which serves once start-up is done.
            if access.dev_idp.is_none() {
                access.verifier.prefetch().await;
            }
        }
    };
    let gate_state = access.clone();
    let gate: recaudo_runtime::Gate = Box::new(move |router: Router| {
        router.route_layer(axum::middleware::from_fn_with_state(gate_state, gate::authenticate))
    });
    Ok(Started::new(api::routes(access))
        .gate(gate)
        .consumer(projection::CONSUMER, projection)
        .consumer(case_holders::CONSUMER, cases)
        .worker(purge)
        .worker(prefetch))
}
