//! `recaudo strategies`: put, list, show and activate strategy versions from a machine with the database's
//! credentials, through the same store as `/api/strategies` (and the same checks). Changes are audited with the
//! operator as `cli:<user>`; an activation's `strategy.activated` is published by the scheduler's outbox relay.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use recaudo_access::{admin, audit, AuditEntry};
use recaudo_bus::outbox::Outbox;
use recaudo_runtime::{db, CommonConfig, Env};
use recaudo_scheduler::strategies::{self, StoreError};
use serde_json::json;

#[derive(Subcommand)]
pub enum StrategiesAction {
    /// Check FILE (YAML or JSON) and store it as the next draft version of NAME.
    Put { name: String, file: PathBuf },
    /// Every strategy and its versions.
    List,
    /// One strategy's versions, with their documents as written.
    Show {
        name: String,
        #[arg(long)]
        version: Option<i32>,
    },
    /// Put VERSION in force (it replaces the active version of NAME).
    Activate { name: String, version: i32 },
    /// Run a version (default: the latest) over the current portfolio on a simulated clock, with the planner and
    /// the policy engine, and print contacts per day, channel, stage and variant, and suppressions per rule.
    /// Nothing is kept or sent.
    Simulate {
        name: String,
        #[arg(long)]
        version: Option<i32>,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(env: &Env, action: StrategiesAction) -> anyhow::Result<ExitCode> {
    let common = CommonConfig::from_env(env)?;
    let pool = db::connect(&common.database_url, 2).await?;
    if !db::is_migrated(&pool, recaudo_scheduler::SCHEMA, &recaudo_scheduler::migrations()).await? {
        anyhow::bail!("the scheduler schema is not migrated; run `recaudo migrate` first");
    }
    let me = admin::cli_principal();
    let now = common.clock().now();
    let result = match action {
        StrategiesAction::Put { name, file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            match strategies::put_draft(&pool, &name, &text, &me.subject, now).await {
                Ok(v) => {
                    let entry = AuditEntry::new("strategy.put", "strategy", Some(&name));
                    audit::record_now(&pool, &me, entry.details(json!({ "version": v.version }))).await?;
                    Ok(serde_json::to_value(&v)?)
                }
                Err(e) => Err(e),
            }
        }
        StrategiesAction::Activate { name, version } => {
            let outbox = Outbox::new(recaudo_scheduler::SCHEMA, "recaudo/scheduler", common.subject_prefix.clone());
            match strategies::activate(&pool, &outbox, &name, version, &me.subject, now).await {
                Ok(v) => {
                    let entry = AuditEntry::new("strategy.activate", "strategy", Some(&name));
                    audit::record_now(&pool, &me, entry.details(json!({ "version": version }))).await?;
                    Ok(serde_json::to_value(&v)?)
                }
                Err(e) => Err(e),
            }
        }
        StrategiesAction::Simulate { name, version, days, json: as_json } => {
            let policies = std::sync::Arc::new(recaudo_policy::Policies::load(common.contact_policy_file.as_deref())?);
            let prefix = common.subject_prefix.clone();
            match recaudo_scheduler::simulate::run(&pool, policies, prefix, &name, version, days, now).await {
                Ok(report) if !as_json => {
                    print_report(&report);
                    return Ok(ExitCode::SUCCESS);
                }
                Ok(report) => Ok(serde_json::to_value(report)?),
                Err(e) => Err(e),
            }
        }
        StrategiesAction::List => strategies::list(&pool).await.map_err(StoreError::Db),
        StrategiesAction::Show { name, version } => match strategies::get(&pool, &name, version).await {
            Ok(v) if v.is_empty() => anyhow::bail!("no strategy {name}"),
            Ok(v) => Ok(serde_json::to_value(v)?),
            Err(e) => Err(StoreError::Db(e)),
        },
    };
    match result {
        Ok(shown) => {
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::Invalid(problems)) => {
            eprintln!("the document was refused whole; nothing was stored:");
            for p in problems {
                eprintln!("  {p}");
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_report(r: &recaudo_scheduler::simulate::Report) {
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    };
    println!("{}@{} over {} day(s) from {} (nothing kept, nothing sent)", r.strategy, r.version, r.days, r.from);
    println!("{:>10}  {:>8}  channels / stages / strategy-step-variants / suppressions", "date", "contacts");
    for d in &r.per_day {
        println!(
            "{:>10}  {:>8}  {} / {} / {} / {}",
            d.date,
            d.contacts,
            join(&d.by_channel),
            join(&d.by_stage),
            join(&d.by_variant),
            join(&d.suppressions_by_rule)
        );
    }
    println!("contacts={} by channel/stage/variant: {}", r.contacts, join(&r.contacts_by));
    println!("suppressions by rule: {}", join(&r.suppressions_by_rule));
}
