//! Command-line interface.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use recaudo_runtime::telemetry::{self, LogFormat};
use recaudo_runtime::{db, CommonConfig, Env};

use crate::services::{self, Target};

#[derive(Parser)]
#[command(name = "recaudo", version, about = "Event-driven debt collection")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run services: all in one process (default) or the ones named.
    Serve {
        /// `all`, or a comma-separated list of ingestion, portfolio, scheduler, dispatcher, reply-router, metrics.
        #[arg(long, default_value = "all")]
        target: String,
        /// The dispatcher's channels: sms, whatsapp, email, or a comma-separated list; every channel by default.
        #[arg(long)]
        channel: Option<String>,
    },
    /// Apply database migrations of the services named (all by default).
    Migrate {
        #[arg(long, default_value = "all")]
        target: String,
    },
    /// JetStream streams.
    Streams {
        #[command(subcommand)]
        action: StreamsAction,
    },
    /// Import a client file (see README, "The client file").
    Import(crate::import::ImportArgs),
    /// Write a realistic client file (several countries, credits, advisors and supervisors).
    Gen {
        /// Credit rows to write.
        #[arg(long)]
        rows: u64,
        /// Output file; standard output when omitted.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The as-of date the due dates and days past due are relative to.
        #[arg(long, default_value = "2026-11-20")]
        as_of: chrono::NaiveDate,
        #[arg(long, default_value_t = 400)]
        debtors_per_advisor: u64,
    },
    /// Payments from a file (the API takes them at `POST /api/payments`).
    Payments {
        #[command(subcommand)]
        action: crate::import::PaymentsAction,
    },
    /// Named import profiles (column mapping, encoding, delimiter, formats) for `import --profile`.
    Profiles {
        #[command(subcommand)]
        action: crate::import::ProfilesAction,
    },
    /// The directory: who has which role.
    Users {
        #[command(subcommand)]
        action: crate::access::UsersAction,
    },
    /// Service credentials for internal systems.
    Credentials {
        #[command(subcommand)]
        action: crate::access::CredentialsAction,
    },
    /// Collection strategies: put a document, list, show, activate a version.
    Strategies {
        #[command(subcommand)]
        action: crate::strategies::StrategiesAction,
    },
    /// Development helpers (the built-in identity provider).
    Dev {
        #[command(subcommand)]
        action: crate::access::DevAction,
    },
    /// The providers' simulators in a process of their own (benchmarks, crash tests), posting webhooks to
    /// `--app-url`; prints the SendGrid event-signing key the dispatcher needs.
    Simulators {
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: std::net::SocketAddr,
        #[arg(long)]
        app_url: String,
    },
    /// The event JSON Schemas in proto-schemas/events/.
    Schemas {
        #[command(subcommand)]
        action: SchemasAction,
    },
}

#[derive(Subcommand)]
enum StreamsAction {
    /// Create or update every stream (idempotent).
    Apply,
}

#[derive(Subcommand)]
enum SchemasAction {
    /// Regenerate the schemas from the code.
    Write {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Fail when the checked-in schemas differ from the code.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let format = match env.raw("RECAUDO_LOG_FORMAT") {
        Some("pretty") => LogFormat::Pretty,
        _ => LogFormat::Json,
    };
    match cli.command {
        Command::Serve { target, channel } => {
            let targets = services::parse_targets(&target).map_err(anyhow::Error::msg)?;
            let channels = services::parse_channels(channel.as_deref()).map_err(anyhow::Error::msg)?;
            telemetry::init("recaudo", format);
            let common = CommonConfig::from_env(&env)?;
            let listener = tokio::net::TcpListener::bind(common.http_addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {} (RECAUDO_HTTP_ADDR): {e}", common.http_addr))?;
            let shutdown = recaudo_runtime::shutdown::on_signal();
            services::serve(env, &targets, &channels, listener, shutdown).await?;
            telemetry::shutdown();
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulators { addr, app_url } => {
            crate::simulators::serve(&env, addr, &app_url).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { target } => {
            let targets = services::parse_targets(&target).map_err(anyhow::Error::msg)?;
            migrate(&env, &targets).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Streams { action: StreamsAction::Apply } => {
            let common = CommonConfig::from_env(&env)?;
            let bus = recaudo_bus::Bus::connect(&common.nats_url, common.subject_prefix.clone()).await?;
            for name in bus.apply_streams(common.stream_replicas).await? {
                println!("stream {name}: applied");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => crate::import::run(&env, args).await,
        Command::Gen { rows, out, seed, as_of, debtors_per_advisor } => {
            use recaudo_ingestion::generate::{write_client_file, GenOptions};
            let options = GenOptions { rows, seed, as_of, debtors_per_advisor };
            let debtors = match &out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
                    let n = write_client_file(&mut w, &options)?;
                    std::io::Write::flush(&mut w)?;
                    n
                }
                None => write_client_file(&mut std::io::BufWriter::new(std::io::stdout().lock()), &options)?,
            };
            eprintln!("wrote {rows} credit rows of {debtors} debtors");
            Ok(ExitCode::SUCCESS)
        }
        Command::Payments { action } => crate::import::payments(&env, action).await,
        Command::Profiles { action } => crate::import::profiles(&env, action).await,
        Command::Users { action } => crate::access::users(&env, action).await,
        Command::Credentials { action } => crate::access::credentials(&env, action).await,
        Command::Dev { action } => crate::access::dev(&env, action).await,
        Command::Strategies { action } => crate::strategies::run(&env, action).await,
        Command::Schemas { action: SchemasAction::Write { root } } => {
            for path in crate::schemas::write(&root)? {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schemas { action: SchemasAction::Check { root } } => {
            let problems = crate::schemas::differences(&root)?;
            for p in &problems {
                eprintln!("{p}");
            }
            if problems.is_empty() {
                println!("event schemas match the code");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("run `recaudo schemas write` and commit the result");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// Creates the database if it does not exist yet, then applies each service's migrations.
pub async fn migrate(env: &Env, targets: &[Target]) -> anyhow::Result<()> {
    let common = CommonConfig::from_env(env)?;
    db::ensure_database(&common.database_url).await?;
    let pool = db::connect(&common.database_url, 2).await?;
    for (name, schema, migrations) in services::schemas(targets) {
        let applied = db::migrate(&pool, schema, &migrations).await?;
        println!("{name}: {applied} migration(s) applied");
    }
    pool.close().await;
    Ok(())
}
