//! `recaudo users`, `recaudo credentials` and `recaudo dev token`: the directory, service credentials and the
//! development provider's tokens, from a machine with the database's credentials. Changes are audited with the
//! operator as `cli:<user>`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use recaudo_access::directory::Assignment;
use recaudo_access::{admin, credentials, directory, AccessConfig, Role};
use recaudo_runtime::{db, CommonConfig, Env};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum UsersAction {
    /// Give SUBJECT (the token's `sub`) a role; advisors and supervisors name their record (GET /api/advisors).
    Put {
        subject: String,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        advisor_id: Option<Uuid>,
        #[arg(long)]
        supervisor_id: Option<Uuid>,
    },
    List,
    Delete {
        subject: String,
    },
}

#[derive(Subcommand)]
pub enum CredentialsAction {
    /// Create a service credential; its secret is printed once and never again.
    Create {
        name: String,
        /// A scope (repeat for several): debtors:read, queues:read, advisors:read, imports:read, imports:write,
        /// payments:write, reports:read, audit:read, users:read.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    List,
    Revoke {
        id: Uuid,
    },
}

#[derive(Subcommand)]
pub enum DevAction {
    /// Print a bearer token from the development identity provider (RECAUDO_DEV_IDP=on) for a demo user.
    Token {
        #[arg(long, default_value = "admin")]
        role: Role,
        /// The advisor or supervisor the demo user is (default: the first one known).
        #[arg(long)]
        record: Option<Uuid>,
        #[arg(long, default_value_t = 12)]
        ttl_hours: u64,
    },
}

async fn connect(env: &Env) -> anyhow::Result<(CommonConfig, AccessConfig, sqlx::PgPool)> {
    let common = CommonConfig::from_env(env)?;
    let access = AccessConfig::from_env(env)?;
    let pool = db::connect(&common.database_url, 2).await?;
    if !db::is_migrated(&pool, recaudo_access::SCHEMA, &recaudo_access::migrations()).await? {
        anyhow::bail!("the access schema is not migrated; run `recaudo migrate` first");
    }
    Ok((common, access, pool))
}

pub async fn users(env: &Env, action: UsersAction) -> anyhow::Result<ExitCode> {
    let (_, config, pool) = connect(env).await?;
    let me = admin::cli_principal();
    match action {
        UsersAction::Put { subject, role, advisor_id, supervisor_id } => {
            let user =
                admin::put_user(&pool, &config, &me, &subject, &Assignment { role, advisor_id, supervisor_id }).await?;
            println!("{}", serde_json::to_string_pretty(&user)?);
        }
        UsersAction::List => {
            for s in &config.admin_subjects {
                println!("{s}\tadmin\t(RECAUDO_ADMIN_SUBJECTS)");
            }
            for u in directory::list(&pool).await? {
                let record = u.advisor_id.or(u.supervisor_id).map(|id| id.to_string()).unwrap_or_default();
                println!("{}\t{}\t{record}", u.subject, u.role);
            }
        }
        UsersAction::Delete { subject } => {
            admin::delete_user(&pool, &config, &me, &subject).await?;
            println!("deleted {subject}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn credentials(env: &Env, action: CredentialsAction) -> anyhow::Result<ExitCode> {
    let (_, _, pool) = connect(env).await?;
    let me = admin::cli_principal();
    match action {
        CredentialsAction::Create { name, scopes } => {
            let created = admin::create_credential(&pool, &me, &name, &scopes).await?;
            eprintln!("credential {} created; the secret is shown this once:", created.credential.id);
            println!("{}", created.secret);
        }
        CredentialsAction::List => {
            for c in credentials::list(&pool).await? {
                let state = if c.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{state}", c.id, c.name, c.scopes.join(","));
            }
        }
        CredentialsAction::Revoke { id } => {
            admin::revoke_credential(&pool, &me, id).await?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn dev(env: &Env, action: DevAction) -> anyhow::Result<ExitCode> {
    let (common, config, pool) = connect(env).await?;
    let DevAction::Token { role, record, ttl_hours } = action;
    let public_url = common.public_url.clone().unwrap_or_else(|| format!("http://{}", common.http_addr));
    let ttl = Duration::from_secs(ttl_hours.clamp(1, 24 * 30) * 3600);
    let (subject, token) = recaudo_access::dev_idp::cli_token(&pool, &config, &public_url, role, record, ttl).await?;
    eprintln!("token for {subject} ({role}), valid {} h:", ttl.as_secs() / 3600);
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
