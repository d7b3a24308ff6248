//! Test harness shared by every crate's integration tests: a fresh PostgreSQL database per test and a private
//! `nats-server` with JetStream on a free port and a temporary store. Real infrastructure, nothing faked.

pub mod browser;
pub mod idp;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection};

/// The server tests create their databases on (trust auth, as on developer machines and CI).
fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database named `recaudo_test_<random>`, dropped when this is dropped.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> anyhow::Result<Self> {
        let admin: sqlx::postgres::PgConnectOptions = admin_url().parse()?;
        let name = format!("recaudo_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        conn.close().await?;
        let url = admin.database(&name).to_url_lossy().to_string();
        Ok(TestDb { url, name })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime; a thread with its own runtime avoids blocking it.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                let Ok(admin) = admin_url().parse::<sqlx::postgres::PgConnectOptions>() else { return };
                if let Ok(mut conn) = admin.connect().await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A `nats-server -js` of the test's own, killed (and its store deleted) when dropped.
pub struct NatsServer {
    pub url: String,
    pub port: u16,
    child: Child,
    _store: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with_config("")
    }

    /// Starts a server with extra configuration-file settings (e.g. `max_payload: 32768`).
    pub fn start_with_config(config: &str) -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        let config_file = store.path().join("nats.conf");
        std::fs::write(&config_file, config)?;
        let port = free_port()?;
        let binary = nats_server_binary();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config_file)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path().join("jetstream"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start {}: {e} (install nats-server or set NATS_SERVER_BIN)", binary.display())
            })?;
        let server = NatsServer { url: format!("nats://127.0.0.1:{port}"), port, child, _store: store };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
            if Instant::now() > deadline {
                anyhow::bail!("nats-server did not listen on port {port} within 10s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Stops the server abruptly (fault injection); `restart` brings it back on the same port and store.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn nats_server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return p.into();
    }
    for candidate in ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    "nats-server".into()
}

/// A TCP port free at the time of the call.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` in the message.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
