//! The services a process can run, by name, and `serve`: all of them in one process (`--target all`, the default
//! for local use and CI) or one or a few per process, as deployed on Kubernetes.

use std::fmt;
use std::str::FromStr;

use recaudo_access::AccessConfig;
use recaudo_events::Channel;
use recaudo_runtime::process::{self, ServiceDef};
use recaudo_runtime::{Application, CommonConfig, Env, Migration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ingestion,
    Portfolio,
    Scheduler,
    Dispatcher,
    ReplyRouter,
    Metrics,
}

impl Target {
    pub const ALL: [Target; 6] = [
        Target::Ingestion,
        Target::Portfolio,
        Target::Scheduler,
        Target::Dispatcher,
        Target::ReplyRouter,
        Target::Metrics,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Ingestion => recaudo_ingestion::NAME,
            Target::Portfolio => recaudo_portfolio::NAME,
            Target::Scheduler => recaudo_scheduler::NAME,
            Target::Dispatcher => recaudo_dispatcher::NAME,
            Target::ReplyRouter => recaudo_reply_router::NAME,
            Target::Metrics => recaudo_metrics::NAME,
        }
    }

    pub fn schema(self) -> &'static str {
        match self {
            Target::Ingestion => recaudo_ingestion::SCHEMA,
            Target::Portfolio => recaudo_portfolio::SCHEMA,
            Target::Scheduler => recaudo_scheduler::SCHEMA,
            Target::Dispatcher => recaudo_dispatcher::SCHEMA,
            Target::ReplyRouter => recaudo_reply_router::SCHEMA,
            Target::Metrics => recaudo_metrics::SCHEMA,
        }
    }

    pub fn migrations(self) -> Vec<Migration> {
        match self {
            Target::Ingestion => recaudo_ingestion::migrations(),
            Target::Portfolio => recaudo_portfolio::migrations(),
            Target::Scheduler => recaudo_scheduler::migrations(),
            Target::Dispatcher => recaudo_dispatcher::migrations(),
            Target::ReplyRouter => recaudo_reply_router::migrations(),
            Target::Metrics => recaudo_metrics::migrations(),
        }
    }

    /// The service with its configuration read (and validated) from `env`.
    /// `together`: every service of the process (the dispatcher passes contacts requested by hand on to the
    /// scheduler only when it runs elsewhere).
    pub fn definition(self, env: &Env, channels: &[Channel], together: &[Target]) -> anyhow::Result<ServiceDef> {
        Ok(match self {
            Target::Ingestion => recaudo_ingestion::service(recaudo_ingestion::Config::from_env(env)?),
            Target::Portfolio => recaudo_portfolio::service(),
            Target::Scheduler => recaudo_scheduler::service(recaudo_scheduler::Config::from_env(env)?),
            Target::Dispatcher => {
                let mut config = recaudo_dispatcher::Config::from_env(env, channels)?;
                if together.contains(&Target::Scheduler) {
                    config.scheduler_url = None;
                }
                recaudo_dispatcher::service(config)
            }
            Target::ReplyRouter => recaudo_reply_router::service(recaudo_reply_router::Config::from_env(env)?),
            Target::Metrics => recaudo_metrics::service(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL.into_iter().find(|t| t.name() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!("unknown service {s:?}; expected all or one or more of {}", names.join(", "))
        })
    }
}

/// Parses `all` or a comma-separated list of service names.
pub fn parse_targets(raw: &str) -> Result<Vec<Target>, String> {
    if raw.trim() == "all" {
        return Ok(Target::ALL.to_vec());
    }
    let mut targets = Vec::new();
    for part in raw.split(',') {
        let t: Target = part.parse()?;
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    Ok(targets)
}

/// The dispatcher channels a process runs: those named by `--channel` (a comma-separated list), else every
/// messaging channel.
pub fn parse_channels(raw: Option<&str>) -> Result<Vec<Channel>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty() && *r != "all") else {
        return Ok(recaudo_dispatcher::CHANNELS.to_vec());
    };
    let mut channels = Vec::new();
    for part in raw.split(',') {
        let c: Channel = part.parse()?;
        if !recaudo_dispatcher::CHANNELS.contains(&c) {
            return Err(format!("--channel {c}: the dispatcher's channels are sms, whatsapp and email"));
        }
        if !channels.contains(&c) {
            channels.push(c);
        }
    }
    Ok(channels)
}

/// Runs `targets` in this process on `listener` until `shutdown`.
pub async fn serve(
    env: Env,
    targets: &[Target],
    channels: &[Channel],
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    build(env, targets, channels, listener, shutdown).await?.run().await
}

/// `targets` started behind the access layer, ready to serve (tests read the routes it serves).
pub async fn build(
    env: Env,
    targets: &[Target],
    channels: &[Channel],
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Application> {
    let common = CommonConfig::from_env(&env)?;
    // Access comes first: its gate guards the protected routes of every service after it.
    let mut defs = vec![recaudo_access::service(AccessConfig::from_env(&env)?), crate::dead_letters::service()];
    for t in targets {
        defs.push(t.definition(&env, channels, targets)?);
    }
    process::build(common, env, listener, defs, shutdown).await
}

/// Every schema a process migrates: the access layer's, then the services'.
pub fn schemas(targets: &[Target]) -> Vec<(&'static str, &'static str, Vec<Migration>)> {
    let mut list = vec![(recaudo_access::NAME, recaudo_access::SCHEMA, recaudo_access::migrations())];
    list.extend(targets.iter().map(|t| (t.name(), t.schema(), t.migrations())));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(parse_targets("all").unwrap().len(), 6);
        assert_eq!(parse_targets("scheduler,reply-router").unwrap(), vec![Target::Scheduler, Target::ReplyRouter]);
        assert!(parse_targets("billing").unwrap_err().contains("unknown service"));
    }

    #[test]
    fn channels_parse() {
        assert_eq!(parse_channels(None).unwrap(), vec![Channel::Sms, Channel::Whatsapp, Channel::Email]);
        assert_eq!(parse_channels(Some("email,sms")).unwrap(), vec![Channel::Email, Channel::Sms]);
        assert!(parse_channels(Some("voice")).unwrap_err().contains("sms, whatsapp and email"));
    }

    #[test]
    fn every_service_has_its_own_schema() {
        let mut schemas: Vec<&str> = Target::ALL.iter().map(|t| t.schema()).collect();
        schemas.sort();
        schemas.dedup();
        assert_eq!(schemas.len(), Target::ALL.len());
    }
}
