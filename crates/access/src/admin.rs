//! Changes to who may do what, each in one transaction with its audit record. The API (`/api/users`,
//! `/api/credentials`) and the command line (`recaudo users`, `recaudo credentials`) both call these.

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::directory::{self, Assignment, AssignmentError, User};
use crate::principal::{Grant, Origin, Principal, Role, Team, Via};
use crate::{credentials, AccessConfig};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is an admin by configuration (RECAUDO_ADMIN_SUBJECTS); change it there")]
    Configured(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<AdminError> for recaudo_runtime::ApiError {
    fn from(e: AdminError) -> Self {
        use recaudo_runtime::ApiError;
        match e {
            AdminError::Invalid(m) => ApiError::bad_request("invalid_request", m),
            AdminError::Configured(_) => ApiError::Conflict(e.to_string()),
            AdminError::NotFound(m) => ApiError::NotFound(m),
            AdminError::Db(e) => e.into(),
        }
    }
}

/// The operator at a terminal with the database's credentials: an admin by the fact of holding them.
pub fn cli_principal() -> Principal {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Principal {
        subject: format!("cli:{user}"),
        name: None,
        grant: Grant::Person { role: Role::Admin, team: Team::Everyone },
        via: Via::Cli,
        origin: Origin::default(),
    }
}

/// A subject from outside: what the provider's `sub` can be.
pub fn check_subject(subject: &str) -> Result<(), AdminError> {
    if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
        return Err(AdminError::Invalid("subject must be 1 to 255 bytes without control characters".into()));
    }
    Ok(())
}

pub async fn put_user(
    pool: &PgPool,
    config: &AccessConfig,
    who: &Principal,
    subject: &str,
    assignment: &Assignment,
) -> Result<User, AdminError> {
    check_subject(subject)?;
    if config.is_admin_subject(subject) {
        return Err(AdminError::Configured(subject.to_string()));
    }
    assignment.check_known(pool).await?.map_err(|e: AssignmentError| AdminError::Invalid(e.to_string()))?;
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let previous = directory::put(&mut tx, subject, assignment, now, &who.subject).await?;
    let details = json!({ "assignment": assignment, "previous": previous.as_ref().map(|p| json!({
        "role": p.role, "advisor_id": p.advisor_id, "supervisor_id": p.supervisor_id })) });
    audit::record(&mut tx, who, now, Entry::new("user.put", "user", Some(subject)).details(details)).await?;
    tx.commit().await?;
    directory::get(pool, subject).await?.ok_or_else(|| AdminError::NotFound(format!("no user {subject}")))
}

pub async fn delete_user(
    pool: &PgPool,
    config: &AccessConfig,
    who: &Principal,
    subject: &str,
) -> Result<(), AdminError> {
    check_subject(subject)?;
    if config.is_admin_subject(subject) {
        return Err(AdminError::Configured(subject.to_string()));
    }
    let mut tx = pool.begin().await?;
    if !directory::delete(&mut tx, subject).await? {
        return Err(AdminError::NotFound(format!("no user {subject}")));
    }
    audit::record(&mut tx, who, Utc::now(), Entry::new("user.delete", "user", Some(subject))).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_credential(
    pool: &PgPool,
    who: &Principal,
    name: &str,
    scopes: &[String],
) -> Result<credentials::Created, AdminError> {
    let (name, scopes) = credentials::parse_request(name, scopes).map_err(AdminError::Invalid)?;
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let created = credentials::create(&mut tx, &name, &scopes, now, &who.subject).await?;
    let id = created.credential.id.to_string();
    let details = json!({ "name": name, "scopes": created.credential.scopes });
    audit::record(&mut tx, who, now, Entry::new("credential.create", "credential", Some(&id)).details(details)).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn revoke_credential(pool: &PgPool, who: &Principal, id: Uuid) -> Result<(), AdminError> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    match credentials::revoke(&mut tx, id, now, &who.subject).await? {
        None => return Err(AdminError::NotFound(format!("no credential {id}"))),
        Some(false) => return Ok(()),
        Some(true) => {}
    }
    audit::record(&mut tx, who, now, Entry::new("credential.revoke", "credential", Some(&id.to_string()))).await?;
    tx.commit().await?;
    Ok(())
}
