//! Who is calling: a person with a role from the directory, or an internal system with a service credential's
//! scopes; and what each may do. Routes ask `principal.require(Permission::...)`; data scope is `crate::scope`.

use std::fmt;
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use recaudo_domain::{AdvisorId, SupervisorId};
use recaudo_runtime::ApiError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The roles of DESIGN.md, "Access".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users and credentials.
    Admin,
    /// Strategies, templates, imports, every debtor, reports.
    Manager,
    /// Their advisors, those advisors' debtors and queues.
    Supervisor,
    /// Their own debtors and queue.
    Advisor,
    /// Read-only, including the audit trail.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Manager, Role::Supervisor, Role::Advisor, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Supervisor => "supervisor",
            Role::Advisor => "advisor",
            Role::Auditor => "auditor",
        }
    }

    fn permits(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Manager => !matches!(
                p,
                AuditRead | UsersRead | UsersWrite | CredentialsWrite | DeadLettersManage | SimulatorsControl
            ),
            Role::Auditor => {
                matches!(p, DebtorsRead | QueuesRead | AdvisorsRead | ImportsRead | ReportsRead | AuditRead | UsersRead)
            }
            Role::Supervisor => {
                matches!(p, DebtorsRead | QueuesRead | AdvisorsRead | ContactsWrite | CasesWrite | TeamsManage)
            }
            Role::Advisor => matches!(p, DebtorsRead | QueuesRead | AdvisorsRead | ContactsWrite | CasesWrite),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected one of admin, manager, supervisor, advisor, auditor"))
    }
}

/// What a route needs. The names are also the scopes a service credential can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Debtors, their credits and contacts.
    DebtorsRead,
    /// Advisors' queues.
    QueuesRead,
    /// The advisor hierarchy.
    AdvisorsRead,
    ImportsRead,
    /// Client files and import profiles.
    ImportsWrite,
    PaymentsWrite,
    /// KPIs and reports.
    ReportsRead,
    AuditRead,
    UsersRead,
    UsersWrite,
    /// Service credentials: only people (admins) manage them, never a service.
    CredentialsWrite,
    /// Listing and replaying dead letters (admins).
    DeadLettersManage,
    /// Writing and activating strategies (managers).
    StrategiesWrite,
    /// Writing message templates (managers).
    TemplatesWrite,
    /// Requesting a contact by hand (managers, supervisors, and advisors for their own debtors).
    ContactsWrite,
    /// Driving the provider simulators of a development process (admins).
    SimulatorsControl,
    /// Working cases: claim, reply, notes, snooze, outcomes (advisors, supervisors, managers).
    CasesWrite,
    /// Running a team: transferring cases, marking advisors away (supervisors, managers).
    TeamsManage,
}

impl Permission {
    pub const ALL: [Permission; 18] = [
        Permission::DebtorsRead,
        Permission::QueuesRead,
        Permission::AdvisorsRead,
        Permission::ImportsRead,
        Permission::ImportsWrite,
        Permission::PaymentsWrite,
        Permission::ReportsRead,
        Permission::AuditRead,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::CredentialsWrite,
        Permission::DeadLettersManage,
        Permission::StrategiesWrite,
        Permission::TemplatesWrite,
        Permission::ContactsWrite,
        Permission::SimulatorsControl,
        Permission::CasesWrite,
        Permission::TeamsManage,
    ];

    /// Whether a service credential may carry this scope: all but managing people and credentials.
    pub fn is_service_scope(self) -> bool {
        !matches!(self, Permission::UsersWrite | Permission::CredentialsWrite | Permission::DeadLettersManage)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::DebtorsRead => "debtors:read",
            Permission::QueuesRead => "queues:read",
            Permission::AdvisorsRead => "advisors:read",
            Permission::ImportsRead => "imports:read",
            Permission::ImportsWrite => "imports:write",
            Permission::PaymentsWrite => "payments:write",
            Permission::ReportsRead => "reports:read",
            Permission::AuditRead => "audit:read",
            Permission::UsersRead => "users:read",
            Permission::UsersWrite => "users:write",
            Permission::CredentialsWrite => "credentials:write",
            Permission::DeadLettersManage => "dead-letters:manage",
            Permission::StrategiesWrite => "strategies:write",
            Permission::TemplatesWrite => "templates:write",
            Permission::ContactsWrite => "contacts:write",
            Permission::SimulatorsControl => "simulators:control",
            Permission::CasesWrite => "cases:write",
            Permission::TeamsManage => "teams:manage",
        }
    }

    /// A scope name as an admin writes it for a service credential.
    pub fn parse_scope(s: &str) -> Result<Permission, String> {
        let scopes = || Self::ALL.into_iter().filter(|p| p.is_service_scope());
        scopes().find(|p| p.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = scopes().map(|p| p.as_str()).collect();
            format!("unknown scope {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// What a principal is allowed, and over which data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Person { role: Role, team: Team },
    Service { credential_id: Uuid, scopes: Vec<Permission> },
}

/// The part of the portfolio a person sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Team {
    /// Every debtor (admin, manager, auditor).
    Everyone,
    Supervisor(SupervisorId),
    Advisor(AdvisorId),
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    BearerToken,
    Session,
    ServiceCredential,
    /// The `recaudo` command on a machine with database access.
    Cli,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub forwarded_for: Option<String>,
    pub user_agent: Option<String>,
}

/// The authenticated caller of a request; the access gate puts it in the request's extensions.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's `sub`, or `service:<credential id>`, or `cli:<user>`.
    pub subject: String,
    /// The service credential's name, for people reading the audit trail.
    pub name: Option<String>,
    pub grant: Grant,
    pub via: Via,
    pub origin: Origin,
}

impl Principal {
    pub fn role(&self) -> Option<Role> {
        match &self.grant {
            Grant::Person { role, .. } => Some(*role),
            Grant::Service { .. } => None,
        }
    }

    pub fn team(&self) -> Team {
        match &self.grant {
            Grant::Person { team, .. } => *team,
            // A service sees what its scopes allow, across the whole portfolio.
            Grant::Service { .. } => Team::Everyone,
        }
    }

    pub fn is_person(&self) -> bool {
        matches!(self.grant, Grant::Person { .. })
    }

    pub fn may(&self, p: Permission) -> bool {
        match &self.grant {
            Grant::Person { role, .. } => role.permits(p),
            Grant::Service { scopes, .. } => scopes.contains(&p),
        }
    }

    /// 403 unless the principal may `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.may(p) {
            return Ok(());
        }
        let who = match &self.grant {
            Grant::Person { role, .. } => format!("the {role} role"),
            Grant::Service { .. } => "this service credential".to_string(),
        };
        Err(ApiError::forbidden("forbidden", format!("{who} may not do this (needs {})", p.as_str())))
    }

    /// The actor's kind as the audit trail records it.
    pub fn kind(&self) -> &'static str {
        match (&self.grant, self.via) {
            (_, Via::Cli) => "cli",
            (Grant::Person { .. }, _) => "person",
            (Grant::Service { .. }, _) => "service",
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only a route outside the gate can miss it; answering 401 keeps such a mistake closed.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("no_credential", "this route needs a credential"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role) -> Principal {
        Principal {
            subject: "s".into(),
            name: None,
            grant: Grant::Person { role, team: Team::Everyone },
            via: Via::BearerToken,
            origin: Origin::default(),
        }
    }

    #[test]
    fn the_auditor_only_reads_and_only_admins_manage_people_and_credentials() {
        let auditor = person(Role::Auditor);
        assert!(auditor.may(Permission::AuditRead) && auditor.may(Permission::DebtorsRead));
        assert!(!auditor.may(Permission::ImportsWrite) && !auditor.may(Permission::PaymentsWrite));
        assert!(!auditor.may(Permission::UsersWrite));
        let manager = person(Role::Manager);
        assert!(manager.may(Permission::ImportsWrite) && !manager.may(Permission::AuditRead));
        assert!(!manager.may(Permission::UsersWrite) && !manager.may(Permission::CredentialsWrite));
        assert!(person(Role::Admin).may(Permission::CredentialsWrite));
        let advisor = person(Role::Advisor);
        assert!(advisor.may(Permission::DebtorsRead) && !advisor.may(Permission::ImportsRead));
        assert_eq!(
            advisor.require(Permission::ReportsRead).unwrap_err().to_string(),
            "the advisor role may not do this (needs reports:read)"
        );
    }

    #[test]
    fn services_have_exactly_their_scopes() {
        let p = Principal {
            subject: "service:x".into(),
            name: None,
            grant: Grant::Service { credential_id: Uuid::nil(), scopes: vec![Permission::PaymentsWrite] },
            via: Via::ServiceCredential,
            origin: Origin::default(),
        };
        assert!(p.may(Permission::PaymentsWrite));
        assert!(!p.may(Permission::DebtorsRead));
        assert!(Permission::parse_scope("credentials:write").is_err());
        assert_eq!(Permission::parse_scope("imports:write"), Ok(Permission::ImportsWrite));
    }
}
