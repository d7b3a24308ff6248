//! `recaudo import FILE`: imports a client file from this machine, with a progress line, and waits until portfolio
//! has applied it (a `recaudo serve` process must be running portfolio).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use clap::Args;
use recaudo_domain::Country;
use recaudo_events::ImportMode;
use recaudo_ingestion::file::{DateOrder, DecimalStyle, ReadOptions};
use recaudo_ingestion::{Created, ImportRequest, Importer, Progress};
use recaudo_runtime::{db, CommonConfig, Env};
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The client file (CSV).
    pub file: PathBuf,
    /// `full`: the file is the whole open portfolio (credits missing from it are closed); `delta`: adds and updates.
    #[arg(long, default_value = "delta")]
    pub mode: String,
    /// The date the file describes (yyyy-mm-dd); defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Encoding (utf-8, windows-1252, ...); detected when omitted.
    #[arg(long)]
    pub encoding: Option<String>,
    /// Delimiter character, or `tab`; detected when omitted.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// `day_first` (dd/mm/yyyy, the default) or `month_first`.
    #[arg(long)]
    pub date_order: Option<String>,
    /// `point` (1234.56) or `comma` (1.234,56); by default comma for `;`-separated files, point otherwise.
    #[arg(long)]
    pub decimal: Option<String>,
    /// Country for rows whose `pais` is empty.
    #[arg(long)]
    pub default_country: Option<String>,
    /// A stored import profile (see `recaudo profiles`); options given here override it.
    #[arg(long)]
    pub profile: Option<String>,
    /// Fail the whole import (apply nothing) when more than this share of rows is invalid (0 to 1).
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    /// Return once the file is read, without waiting for portfolio to apply it.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for portfolio, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_secs: u64,
}

impl ImportArgs {
    /// The arguments of `recaudo import FILE --as-of DATE` with every other option at its default.
    pub fn for_file(file: PathBuf, as_of: &str) -> Self {
        ImportArgs {
            file,
            mode: "delta".into(),
            as_of: as_of.parse().ok(),
            encoding: None,
            delimiter: None,
            date_order: None,
            decimal: None,
            default_country: None,
            profile: None,
            max_error_rate: None,
            no_wait: false,
            timeout_secs: 60,
        }
    }

    fn request(&self) -> anyhow::Result<ImportRequest> {
        let mode = match self.mode.as_str() {
            "full" => ImportMode::Full,
            "delta" => ImportMode::Delta,
            other => anyhow::bail!("--mode {other:?}: expected full or delta"),
        };
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some("tab") => Some('\t'),
            Some(d) if d.chars().count() == 1 => d.chars().next(),
            Some(d) => anyhow::bail!("--delimiter {d:?}: expected one character or `tab`"),
        };
        let date_order = match self.date_order.as_deref() {
            None => None,
            Some("day_first") => Some(DateOrder::DayFirst),
            Some("month_first") => Some(DateOrder::MonthFirst),
            Some(o) => anyhow::bail!("--date-order {o:?}: expected day_first or month_first"),
        };
        let decimal = match self.decimal.as_deref() {
            None => None,
            Some("point") => Some(DecimalStyle::Point),
            Some("comma") => Some(DecimalStyle::Comma),
            Some(o) => anyhow::bail!("--decimal {o:?}: expected point or comma"),
        };
        let default_country = self.default_country.as_deref().map(str::parse::<Country>).transpose()?;
        Ok(ImportRequest {
            file_name: self.file.file_name().map(|n| n.to_string_lossy().into_owned()),
            mode,
            as_of: self.as_of,
            options: ReadOptions {
                columns: Default::default(),
                encoding: self.encoding.clone(),
                delimiter,
                date_order,
                decimal,
                default_country,
            },
            profile: self.profile.clone(),
            max_error_rate: self.max_error_rate,
        })
    }
}

pub async fn run(env: &Env, args: ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(rate) = args.max_error_rate {
        anyhow::ensure!((0.0..=1.0).contains(&rate), "--max-error-rate {rate}: expected 0 to 1");
    }
    let request = args.request()?;
    let (common, pool, bus, outbox) = connect_ingestion(env).await?;
    let config = recaudo_ingestion::Config::from_env(env)?;
    let importer = Importer::new(
        pool.clone(),
        bus.clone(),
        outbox.clone(),
        common.clock(),
        config.batch_rows,
        config.max_error_rate,
    );
    let request = importer.resolve(request).await?;

    let upload = Importer::upload_from_path(&args.file)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    let id = match importer.create(&request, &upload).await? {
        Created::New(id) => id,
        Created::Duplicate(earlier) => {
            println!("this file was already imported in this mode as import {earlier}; nothing was done");
            return Ok(ExitCode::SUCCESS);
        }
    };
    eprintln!("import {id}: reading {} ({} bytes)", args.file.display(), upload.size);

    // This process publishes its own outbox rows, so the import does not depend on a server's relay.
    let relay_stop = CancellationToken::new();
    let relay = tokio::spawn(outbox.clone().relay(pool.clone(), bus.clone(), relay_stop.clone()));
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(Progress::default());
    let reporter = tokio::spawn(report_progress(progress_rx));
    importer.run(id, &request, &upload, Some(progress_tx)).await?;
    let _ = reporter.await;

    drain(&pool, relay_stop, relay).await?;

    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut announced = false;
    let view = loop {
        let view = recaudo_ingestion::imports_view(&pool, id).await?;
        let done = view.state != "processing" || args.no_wait;
        if done || Instant::now() > deadline {
            break view;
        }
        if !announced {
            eprintln!("import {id}: read; waiting for portfolio to apply it (is `recaudo serve` running?)");
            announced = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let errors = recaudo_ingestion::imports_errors(&pool, id, 20).await?;
    let applied = view.rows_applied.map(|n| format!(", {n} applied")).unwrap_or_default();
    println!(
        "import {id}: {} — {} rows read, {} valid, {} rejected{applied}{}",
        view.state,
        view.rows_total,
        view.rows_valid,
        view.rows_rejected,
        view.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
    );
    for e in &errors {
        println!("  line {}: {}: {}", e.line, e.column, e.reason);
    }
    if view.rows_rejected > errors.len() as i64 {
        println!("  ... all row errors: GET /api/imports/{id}/errors");
    }
    Ok(match view.state.as_str() {
        "failed" => ExitCode::FAILURE,
        "processing" if !args.no_wait => {
            eprintln!("import {id}: still not applied after {}s", args.timeout_secs);
            ExitCode::from(3)
        }
        _ => ExitCode::SUCCESS,
    })
}

/// What the ingestion commands need: this process publishes its own outbox rows, so a file import does not depend
/// on a server's relay.
async fn connect_ingestion(
    env: &Env,
) -> anyhow::Result<(CommonConfig, sqlx::PgPool, recaudo_bus::Bus, recaudo_bus::outbox::Outbox)> {
    let common = CommonConfig::from_env(env)?;
    let pool = db::connect(&common.database_url, 4).await?;
    if !db::is_migrated(&pool, recaudo_ingestion::SCHEMA, &recaudo_ingestion::migrations()).await? {
        anyhow::bail!("the database is not migrated; run `recaudo migrate` first");
    }
    let bus = recaudo_bus::Bus::connect(&common.nats_url, common.subject_prefix.clone()).await?;
    bus.apply_streams(common.stream_replicas).await?;
    let outbox = recaudo_ingestion::outbox_for(&common);
    Ok((common, pool, bus, outbox))
}

/// Waits until the relay has published every outbox row, then stops it.
async fn drain(pool: &sqlx::PgPool, stop: CancellationToken, relay: tokio::task::JoinHandle<()>) -> anyhow::Result<()> {
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM ingestion.outbox").fetch_one(pool).await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let _ = relay.await;
    Ok(())
}

/// One progress line a second on stderr: rows, rows/s and the estimated time left (by bytes read).
async fn report_progress(mut rx: tokio::sync::watch::Receiver<Progress>) {
    let started = Instant::now();
    let mut last = Instant::now();
    while rx.changed().await.is_ok() {
        if last.elapsed() < Duration::from_secs(1) {
            continue;
        }
        last = Instant::now();
        let p = *rx.borrow();
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = p.rows_total as f64 / secs;
        let eta = if p.bytes_read > 0 && p.bytes_total > p.bytes_read {
            let left = (p.bytes_total - p.bytes_read) as f64 * secs / p.bytes_read as f64;
            format!("{left:.0}s")
        } else {
            "-".into()
        };
        eprintln!(
            "  {} rows ({} rejected), {:.0} rows/s, {:.0}% read, ETA {eta}",
            p.rows_total,
            p.rows_rejected,
            rate,
            100.0 * p.bytes_read as f64 / p.bytes_total.max(1) as f64
        );
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum ProfilesAction {
    /// Store (or replace) a profile from a JSON file: {"columns": {"Nro Cliente": "id_cliente"}, "encoding":
    /// "windows-1252", "delimiter": ";", "date_order": "day_first", "decimal": "comma", "default_country": "CO"}.
    Put { name: String, file: PathBuf },
    /// List stored profiles.
    List,
    /// Show one profile.
    Show { name: String },
    /// Delete a profile.
    Delete { name: String },
}

pub async fn profiles(env: &Env, action: ProfilesAction) -> anyhow::Result<ExitCode> {
    use recaudo_ingestion::profiles;
    let common = CommonConfig::from_env(env)?;
    let pool = db::connect(&common.database_url, 2).await?;
    match action {
        ProfilesAction::Put { name, file } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let options: ReadOptions = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not a valid profile: {e}", file.display()))?;
            profiles::put(&pool, &name, &options, common.clock().now()).await?;
            println!("profile {name} stored");
        }
        ProfilesAction::List => {
            for p in profiles::list(&pool).await? {
                println!("{}\t{}", p.name, serde_json::to_string(&p.options)?);
            }
        }
        ProfilesAction::Show { name } => {
            let p = profiles::get(&pool, &name).await?;
            println!("{}", serde_json::to_string_pretty(&p.options)?);
        }
        ProfilesAction::Delete { name } => {
            profiles::delete(&pool, &name).await?;
            println!("profile {name} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand, Debug)]
pub enum PaymentsAction {
    /// Import a payments file (`id_credito, fecha_pago, monto, medio_pago, referencia`); valid rows become
    /// `payment.received` events, bad rows are listed with line, column and reason.
    Import {
        file: PathBuf,
        #[arg(long)]
        encoding: Option<String>,
        #[arg(long)]
        delimiter: Option<char>,
        #[arg(long)]
        decimal: Option<String>,
    },
}

pub async fn payments(env: &Env, action: PaymentsAction) -> anyhow::Result<ExitCode> {
    let PaymentsAction::Import { file, encoding, delimiter, decimal } = action;
    let decimal = match decimal.as_deref() {
        None => None,
        Some("point") => Some(DecimalStyle::Point),
        Some("comma") => Some(DecimalStyle::Comma),
        Some(o) => anyhow::bail!("--decimal {o:?}: expected point or comma"),
    };
    let options = ReadOptions { encoding, delimiter, decimal, ..Default::default() };
    let (common, pool, bus, outbox) = connect_ingestion(env).await?;
    let intake = recaudo_ingestion::payments::PaymentIntake {
        pool: pool.clone(),
        outbox: outbox.clone(),
        clock: common.clock(),
        secret: None,
        tolerance_secs: 0,
    };
    let path = file.clone();
    let (valid, errors, summary) = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let (mut valid, mut errors) = (Vec::new(), Vec::new());
        let summary = recaudo_ingestion::file::payments::read(f, &options, |r| match r {
            Ok(p) => valid.push(p),
            Err(e) => errors.extend(e),
        })?;
        Ok::<_, anyhow::Error>((valid, errors, summary))
    })
    .await??;
    let relay_stop = CancellationToken::new();
    let relay = tokio::spawn(outbox.clone().relay(pool.clone(), bus.clone(), relay_stop.clone()));
    for chunk in valid.chunks(1000) {
        intake.publish(chunk, recaudo_events::PaymentSource::File).await?;
    }
    drain(&pool, relay_stop, relay).await?;
    println!(
        "{}: {} payments, {} published, {} rejected",
        file.display(),
        summary.rows_total,
        summary.rows_valid,
        summary.rows_rejected
    );
    for e in &errors {
        println!("  line {}: {}: {}", e.line, e.column, e.reason);
    }
    Ok(ExitCode::SUCCESS)
}
