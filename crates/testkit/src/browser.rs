//! End-to-end browser tests of the server-rendered console: Debian's headless Chromium driven through WebDriver
//! (a `chromedriver` of the test's own, on a free port) with [`fantoccini`], plus screenshots and an axe-core
//! accessibility check. `make test-deps` installs what this needs (`scripts/browser-deps.sh` for Chromium and
//! ChromeDriver, `npm ci --prefix tests/browser` for axe-core); when something is missing the test fails and says so.
//!
//! ```no_run
//! # async fn demo(url: &str) -> anyhow::Result<()> {
//! use recaudo_testkit::browser::Browser;
//! let browser = Browser::start().await?;
//! browser.goto(url).await?;
//! browser.wait_for("#save", std::time::Duration::from_secs(5)).await?.click().await?;
//! browser.wait_for_text("#status", "Saved", std::time::Duration::from_secs(5)).await?;
//! browser.screenshot("saved").await;
//! browser.assert_accessible("saved").await;
//! # Ok(()) }
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const INSTALL_HINT: &str = "run `make test-deps` (scripts/browser-deps.sh installs Debian's chromium and \
                            chromium-driver; npm ci --prefix tests/browser installs axe-core)";

/// A headless Chromium session of the test's own. Derefs to the fantoccini [`Client`] (`goto`, `find`, ...).
///
/// Dropping it ends the WebDriver session (Chromium quits) and kills `chromedriver` and anything left in its
/// process group; [`Browser::close`] does the same without blocking.
pub struct Browser {
    pub client: Client,
    /// The WebDriver endpoint, `http://127.0.0.1:<port>`.
    pub webdriver_url: String,
    port: u16,
    session_id: Option<String>,
    closed: bool,
    chromedriver: tokio::process::Child,
    // Declared last: removed after Chromium is gone.
    _profile: tempfile::TempDir,
}

impl Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// `CHROMIUM_BIN` / `CHROMEDRIVER_BIN` override Debian's paths.
fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| default.into())
}

/// The directory holding Cargo.lock above this crate (the test's crate when run by cargo, else testkit's own).
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no Cargo.lock in {} or above it", start.display()))
}

impl Browser {
    /// Starts `chromedriver` on a free port and opens a headless Chromium session with a fresh profile.
    pub async fn start() -> anyhow::Result<Browser> {
        let chromium = binary("CHROMIUM_BIN", "/usr/bin/chromium");
        let chromedriver = binary("CHROMEDRIVER_BIN", "/usr/bin/chromedriver");
        for bin in [&chromium, &chromedriver] {
            anyhow::ensure!(bin.is_file(), "{} is missing: {INSTALL_HINT}", bin.display());
        }
        let profile = tempfile::Builder::new().prefix("recaudo-chromium-").tempdir()?;
        let log_path = profile.path().join("chromedriver.log");

        // The free port can be taken between our probe and chromedriver's bind: try a few.
        let mut last_error = None;
        for _ in 0..3 {
            let port = crate::free_port()?;
            let log = std::fs::File::create(&log_path)?;
            let mut child = tokio::process::Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                // Its own process group, so that Drop can kill Chromium too should the session not end cleanly.
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {}: {INSTALL_HINT}", chromedriver.display()))?;
            match wait_ready(port, &mut child, Duration::from_secs(20)).await {
                Ok(()) => {
                    let webdriver_url = format!("http://127.0.0.1:{port}");
                    let client = ClientBuilder::new(HttpConnector::new())
                        .capabilities(capabilities(&chromium, profile.path()))
                        .connect(&webdriver_url)
                        .await
                        .map_err(|e| {
                            let log = log_tail(&log_path);
                            anyhow::anyhow!("cannot open a Chromium session ({}): {e}\n{log}", chromium.display())
                        });
                    let client = match client {
                        Ok(client) => client,
                        Err(e) => {
                            kill_group(&mut child);
                            return Err(e);
                        }
                    };
                    let session_id = match client.session_id().await {
                        Ok(id) => id,
                        Err(e) => {
                            kill_group(&mut child);
                            return Err(e.into());
                        }
                    };
                    return Ok(Browser {
                        client,
                        webdriver_url,
                        port,
                        session_id,
                        closed: false,
                        chromedriver: child,
                        _profile: profile,
                    });
                }
                Err(e) => {
                    kill_group(&mut child);
                    last_error = Some(anyhow::anyhow!("{e}\n{}", log_tail(&log_path)));
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// Ends the session (Chromium quits) and stops chromedriver, without blocking the runtime.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.client.clone().close().await?;
        // Only once the session ended: otherwise Drop still asks chromedriver to end it.
        self.closed = true;
        Ok(())
    }

    /// Saves a PNG of the viewport to `<workspace>/target/screenshots/<name>.png` and prints `screenshot: <path>`
    /// on the process's stdout (not the test's captured output), so that every run lists its screenshots.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = workspace_root().join("target").join("screenshots");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let file: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        let path = dir.join(format!("{file}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        let _ = writeln!(std::io::stdout(), "screenshot: {}", path.display());
        path
    }

    /// Makes the page's viewport (`window.innerWidth` x `innerHeight`) `width` x `height` CSS pixels, e.g.
    /// 390 x 844 for a phone, by resizing the window and correcting for its frame.
    pub async fn set_viewport(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.client.set_window_size(width, height).await?;
        let (inner_w, inner_h) = self.viewport().await?;
        if (inner_w, inner_h) != (width, height) {
            let frame_w = width.saturating_sub(inner_w);
            let frame_h = height.saturating_sub(inner_h);
            self.client.set_window_size(width + frame_w, height + frame_h).await?;
            let actual = self.viewport().await?;
            anyhow::ensure!(actual == (width, height), "viewport is {actual:?}, not ({width}, {height})");
        }
        Ok(())
    }

    /// The page's viewport in CSS pixels: (`window.innerWidth`, `window.innerHeight`).
    pub async fn viewport(&self) -> anyhow::Result<(u32, u32)> {
        let v = self.client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await?;
        let dim = |i: usize| v[i].as_u64().map(|n| n as u32).with_context(|| format!("viewport: {v}"));
        Ok((dim(0)?, dim(1)?))
    }

    /// The first element matching `css`, waiting up to `timeout` for it to appear.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> anyhow::Result<Element> {
        match self.client.wait().at_most(timeout).every(Duration::from_millis(50)).for_element(Locator::Css(css)).await
        {
            Ok(element) => Ok(element),
            Err(e) => {
                Err(anyhow::anyhow!("no element matches `{css}` after {timeout:?} on {}: {e}", self.location().await))
            }
        }
    }

    /// The first element matching `css` once its text contains `text`, polling up to `timeout`.
    pub async fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + timeout;
        let mut last_seen = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                match element.text().await {
                    Ok(seen) if seen.contains(text) => return Ok(element),
                    Ok(seen) => last_seen = Some(seen),
                    Err(_) => {} // replaced while we read it: look again
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "`{css}` did not contain {text:?} after {timeout:?} on {} (its text: {})",
                    self.location().await,
                    last_seen.map_or_else(|| "no such element".to_string(), |s| format!("{s:?}"))
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs axe-core (`tests/browser/node_modules/axe-core/axe.min.js`) on the current page and returns its
    /// violations, each `{id, impact, help, helpUrl, nodes: [{target, html, ...}], ...}`.
    pub async fn axe_violations(&self) -> anyhow::Result<Vec<Value>> {
        let axe_path = workspace_root().join("tests/browser/node_modules/axe-core/axe.min.js");
        let loaded = self.client.execute("return typeof window.axe === 'object';", vec![]).await?;
        if loaded != Value::Bool(true) {
            let source = std::fs::read_to_string(&axe_path)
                .with_context(|| format!("axe-core is missing ({}): {INSTALL_HINT}", axe_path.display()))?;
            self.client.execute(&source, vec![]).await.context("injecting axe-core into the page")?;
        }
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done({ violations: r.violations }))
                    .catch(e => done({ error: String(e && e.stack || e) }));",
                vec![],
            )
            .await
            .context("running axe-core")?;
        if let Some(error) = result.get("error") {
            anyhow::bail!("axe-core failed on {}: {error}", self.location().await);
        }
        match result.get("violations") {
            Some(Value::Array(violations)) => Ok(violations.clone()),
            _ => anyhow::bail!("axe-core returned no violations array: {result}"),
        }
    }

    /// Panics, listing them, when axe-core finds violations of impact "serious" or "critical" on the current page
    /// (`page` names it in the message). Minor and moderate ones are printed as warnings.
    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.axe_violations().await.unwrap_or_else(|e| panic!("accessibility check of {page}: {e:#}"));
        let (blocking, other): (Vec<&Value>, Vec<&Value>) = violations
            .iter()
            .partition(|v| matches!(v.get("impact").and_then(Value::as_str), Some("serious" | "critical")));
        for v in &other {
            eprintln!("accessibility warning on {page}: {}", describe(v));
        }
        if !blocking.is_empty() {
            let list: Vec<String> = blocking.iter().map(|v| format!("  - {}", describe(v))).collect();
            panic!(
                "{} serious or critical accessibility violation(s) on {page} ({}):\n{}",
                blocking.len(),
                self.location().await,
                list.join("\n")
            );
        }
    }

    /// The current page's URL, for error messages.
    async fn location(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("an unknown page ({e})"),
        }
    }
}

/// `id [impact]: help — first target (N elements)`.
fn describe(v: &Value) -> String {
    let s = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
    let nodes = v.get("nodes").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let target = nodes.first().and_then(|n| n.get("target")).map(Value::to_string).unwrap_or_else(|| "-".into());
    format!("{} [{}]: {} — {} ({} element(s))", s("id"), s("impact"), s("help"), target, nodes.len())
}

fn capabilities(chromium: &Path, profile: &Path) -> serde_json::Map<String, Value> {
    let caps = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": { "script": 30_000, "pageLoad": 30_000, "implicit": 0 },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                // The machine's network is closed: no QUIC, no background fetches, no component or sync traffic.
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.join("profile").display()),
            ],
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// The last lines chromedriver logged, for error messages.
fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "chromedriver log ({}), last lines:\n{}",
        path.display(),
        lines[lines.len().saturating_sub(30)..].join("\n")
    )
}

/// Waits until chromedriver's `/status` says ready, failing early if it exits.
async fn wait_ready(port: u16, child: &mut tokio::process::Child, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("chromedriver on port {port} exited with {status} before it was ready");
        }
        let ready = tokio::task::spawn_blocking(move || http(port, "GET", "/status"))
            .await?
            .map(|(code, body)| code == 200 && body.contains("\"ready\":true"))
            .unwrap_or(false);
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("chromedriver on port {port} was not ready within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal blocking HTTP/1.1 request to chromedriver on 127.0.0.1: (status code, body). Chromedriver refuses
/// HTTP/1.0 and keeps the connection open despite `Connection: close`, so the body is read by its Content-Length.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            });
            if n == 0 || length.is_some_and(|length| body.len() >= length) {
                let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                return Ok((code, body.to_string()));
            }
        }
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "incomplete HTTP response"));
        }
    }
}

/// SIGKILL to chromedriver's process group (chromedriver and the Chromium it started), then reap chromedriver.
fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a negative pid signals that process group; the group is chromedriver's own.
        unsafe {
            libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        }
    }
    let _ = child.start_kill();
    let _ = child.try_wait();
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed {
            // End the session so that chromedriver makes Chromium quit cleanly (its crash handler with it);
            // blocking, but only on a local process.
            if let Some(id) = &self.session_id {
                let _ = http(self.port, "DELETE", &format!("/session/{id}"));
            }
        }
        kill_group(&mut self.chromedriver);
    }
}
