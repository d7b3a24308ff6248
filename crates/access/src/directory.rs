//! The directory: which role a subject has and, for advisors and supervisors, whose record in the portfolio they
//! are. Admins manage it through `/api/users` and `recaudo users`; every change is in the audit trail.

use chrono::{DateTime, Utc};
use recaudo_domain::{AdvisorId, SupervisorId};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::principal::{Role, Team};

/// What an admin says of a subject: `{"role": "advisor", "advisor_id": "..."}` and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisor_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_id: Option<Uuid>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssignmentError {
    #[error("the advisor role needs advisor_id (an id from GET /api/advisors)")]
    MissingAdvisor,
    #[error("the supervisor role needs supervisor_id (an id from GET /api/advisors)")]
    MissingSupervisor,
    #[error("{0} is only for the {1} role")]
    Extra(&'static str, &'static str),
    #[error("no advisor {0} is known")]
    UnknownAdvisor(Uuid),
    #[error("no supervisor {0} is known")]
    UnknownSupervisor(Uuid),
}

impl Assignment {
    /// The team this assignment sees, once its fields agree with its role.
    pub fn team(&self) -> Result<Team, AssignmentError> {
        match (self.role, self.advisor_id, self.supervisor_id) {
            (Role::Advisor, Some(a), None) => Ok(Team::Advisor(AdvisorId(a))),
            (Role::Advisor, None, _) => Err(AssignmentError::MissingAdvisor),
            (Role::Supervisor, None, Some(s)) => Ok(Team::Supervisor(SupervisorId(s))),
            (Role::Supervisor, _, None) => Err(AssignmentError::MissingSupervisor),
            (Role::Advisor, _, Some(_)) => Err(AssignmentError::Extra("supervisor_id", "supervisor")),
            (_, Some(_), _) => Err(AssignmentError::Extra("advisor_id", "advisor")),
            (_, _, Some(_)) => Err(AssignmentError::Extra("supervisor_id", "supervisor")),
            _ => Ok(Team::Everyone),
        }
    }

    /// Checks that the advisor or supervisor named exists in the portfolio (as the access layer has learned it).
    pub async fn check_known(&self, pool: &PgPool) -> Result<Result<Team, AssignmentError>, sqlx::Error> {
        let team = match self.team() {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        match team {
            Team::Advisor(a) => {
                let known: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM access.advisors WHERE advisor_id = $1)")
                        .bind(a.0)
                        .fetch_one(pool)
                        .await?;
                Ok(if known { Ok(team) } else { Err(AssignmentError::UnknownAdvisor(a.0)) })
            }
            Team::Supervisor(s) => {
                let known: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM access.advisors WHERE supervisor_id = $1)")
                        .bind(s.0)
                        .fetch_one(pool)
                        .await?;
                Ok(if known { Ok(team) } else { Err(AssignmentError::UnknownSupervisor(s.0)) })
            }
            Team::Everyone => Ok(Ok(team)),
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub subject: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisor_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

pub async fn get(pool: &PgPool, subject: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subject, role, advisor_id, supervisor_id, updated_at, updated_by FROM access.users WHERE subject = $1",
    )
    .bind(subject)
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &PgPool) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subject, role, advisor_id, supervisor_id, updated_at, updated_by FROM access.users ORDER BY subject",
    )
    .fetch_all(pool)
    .await
}

/// Creates or replaces the subject's entry; returns the previous one.
pub async fn put(
    conn: &mut PgConnection,
    subject: &str,
    a: &Assignment,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Option<User>, sqlx::Error> {
    let previous: Option<User> = sqlx::query_as(
        "SELECT subject, role, advisor_id, supervisor_id, updated_at, updated_by FROM access.users
         WHERE subject = $1 FOR UPDATE",
    )
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO access.users (subject, role, advisor_id, supervisor_id, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (subject) DO UPDATE SET role = EXCLUDED.role, advisor_id = EXCLUDED.advisor_id,
             supervisor_id = EXCLUDED.supervisor_id, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
    )
    .bind(subject)
    .bind(a.role.as_str())
    .bind(a.advisor_id)
    .bind(a.supervisor_id)
    .bind(at)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(previous)
}

/// Removes the subject's entry (and ends their browser sessions); `false` when there was none.
pub async fn delete(conn: &mut PgConnection, subject: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM access.users WHERE subject = $1").bind(subject).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM access.sessions WHERE subject = $1").bind(subject).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// The role and team of `subject`: configured admins first, then the directory.
pub async fn resolve(
    pool: &PgPool,
    config: &crate::AccessConfig,
    subject: &str,
) -> Result<Option<(Role, Team)>, sqlx::Error> {
    if config.is_admin_subject(subject) {
        return Ok(Some((Role::Admin, Team::Everyone)));
    }
    let Some(user) = get(pool, subject).await? else { return Ok(None) };
    let Ok(role) = user.role.parse::<Role>() else { return Ok(None) };
    let team = match (role, user.advisor_id, user.supervisor_id) {
        (Role::Advisor, Some(a), _) => Team::Advisor(AdvisorId(a)),
        (Role::Supervisor, _, Some(s)) => Team::Supervisor(SupervisorId(s)),
        (Role::Advisor | Role::Supervisor, _, _) => return Ok(None),
        _ => Team::Everyone,
    };
    Ok(Some((role, team)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_agrees_with_its_role() {
        let id = Uuid::now_v7();
        let a = |role, advisor_id, supervisor_id| Assignment { role, advisor_id, supervisor_id };
        assert_eq!(a(Role::Advisor, Some(id), None).team(), Ok(Team::Advisor(AdvisorId(id))));
        assert_eq!(a(Role::Advisor, None, None).team(), Err(AssignmentError::MissingAdvisor));
        assert_eq!(a(Role::Supervisor, None, Some(id)).team(), Ok(Team::Supervisor(SupervisorId(id))));
        assert_eq!(a(Role::Supervisor, Some(id), None).team(), Err(AssignmentError::MissingSupervisor));
        assert_eq!(a(Role::Manager, Some(id), None).team(), Err(AssignmentError::Extra("advisor_id", "advisor")));
        assert_eq!(a(Role::Auditor, None, None).team(), Ok(Team::Everyone));
        let parsed: Result<Assignment, _> = serde_json::from_str(r#"{"role": "owner"}"#);
        assert!(parsed.is_err());
    }
}
