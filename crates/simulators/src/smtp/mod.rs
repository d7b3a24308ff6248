//! A local SMTP relay speaking RFC 5321 over TCP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP,
//! QUIT), so `recaudo_providers::smtp::Smtp` (lettre) is tested against the protocol itself. It keeps every message
//! it accepts, refuses recipients Twilio-style "magic" addresses name (`bounce@...`: 550 5.1.1), and can fail on
//! purpose: a 421 at the greeting, a 451 after the message, or a dropped connection after the message (which leaves
//! the client not knowing).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A recipient whose local part is this is refused as unknown (550 5.1.1).
pub const BOUNCE_LOCAL_PART: &str = "bounce";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `421 4.3.2 Service not available` as the greeting, then the connection closes.
    Unavailable,
    /// `451 4.3.0` to the message's final `.`: not accepted, safe to retry.
    TemporaryFailure,
    /// The message is read, then the connection closes without a reply.
    DropAfterData,
}

/// A message the relay accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
    /// Who authenticated (AUTH PLAIN's user).
    pub user: Option<String>,
}

impl Received {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = value.as_mut() {
                    v.push_str(line.trim_start());
                    continue;
                }
            }
            if value.is_some() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_string());
                }
            }
        }
        value
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    faults: Mutex<VecDeque<Fault>>,
}

/// The relay: cheap to clone, every clone sees the same messages and faults.
#[derive(Clone)]
pub struct SmtpSimulator {
    user: String,
    password: String,
    shared: Arc<Shared>,
}

impl SmtpSimulator {
    /// A relay that takes mail from clients that authenticate as `user`/`password`.
    pub fn new(user: &str, password: &str) -> Self {
        SmtpSimulator { user: user.into(), password: password.into(), shared: Arc::default() }
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let sim = self.clone();
            tokio::spawn(async move {
                let _ = sim.session(stream).await;
            });
        }
    }

    /// Binds a free local port and serves there; returns its address.
    pub async fn start(self) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(self.serve(listener));
        Ok(addr)
    }

    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.shared.faults.lock().unwrap_or_else(PoisonError::into_inner).extend(std::iter::repeat_n(fault, n));
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn take_fault(&self, wanted: &[Fault]) -> Option<Fault> {
        let mut faults = self.shared.faults.lock().unwrap_or_else(PoisonError::into_inner);
        match faults.front() {
            Some(f) if wanted.contains(f) => faults.pop_front(),
            _ => None,
        }
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        if self.take_fault(&[Fault::Unavailable]).is_some() {
            write.write_all(b"421 4.3.2 Service not available, closing transmission channel\r\n").await?;
            return Ok(());
        }
        write.write_all(b"220 smtp.simulator ESMTP Recaudo\r\n").await?;
        let (mut user, mut from, mut rcpt): (Option<String>, Option<String>, Vec<String>) = (None, None, Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end_matches(['\r', '\n']);
            let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply: String = match verb.as_str() {
                "EHLO" => {
                    "250-smtp.simulator\r\n250-AUTH PLAIN\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250 SMTPUTF8".into()
                }
                "HELO" => "250 smtp.simulator".into(),
                "AUTH" => match self.auth(command) {
                    Some(u) => {
                        user = Some(u);
                        "235 2.7.0 Authentication successful".into()
                    }
                    None => "535 5.7.8 Authentication credentials invalid".into(),
                },
                "MAIL" if user.is_none() => "530 5.7.0 Authentication required".into(),
                "MAIL" => {
                    from = Some(path(command));
                    rcpt.clear();
                    "250 2.1.0 Ok".into()
                }
                "RCPT" if from.is_none() => "503 5.5.1 Error: need MAIL command".into(),
                "RCPT" => {
                    let to = path(command);
                    if to.split('@').next().is_some_and(|local| local.eq_ignore_ascii_case(BOUNCE_LOCAL_PART)) {
                        format!("550 5.1.1 <{to}>: Recipient address rejected: User unknown")
                    } else {
                        rcpt.push(to);
                        "250 2.1.5 Ok".into()
                    }
                }
                "DATA" if rcpt.is_empty() => "554 5.5.1 Error: no valid recipients".into(),
                "DATA" => {
                    write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                    let data = read_data(&mut lines).await?;
                    match self.take_fault(&[Fault::TemporaryFailure, Fault::DropAfterData]) {
                        Some(Fault::DropAfterData) => return Ok(()),
                        Some(_) => "451 4.3.0 Error: queue file write error".into(),
                        None => {
                            let received = Received {
                                mail_from: from.take().unwrap_or_default(),
                                rcpt_to: std::mem::take(&mut rcpt),
                                data,
                                user: user.clone(),
                            };
                            let mut all = self.shared.received.lock().unwrap_or_else(PoisonError::into_inner);
                            all.push(received);
                            format!("250 2.0.0 Ok: queued as SIM{:06}", all.len())
                        }
                    }
                }
                "RSET" => {
                    (from, rcpt) = (None, Vec::new());
                    "250 2.0.0 Ok".into()
                }
                "NOOP" => "250 2.0.0 Ok".into(),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(());
                }
                _ => "502 5.5.2 Error: command not recognized".into(),
            };
            write.write_all(reply.as_bytes()).await?;
            write.write_all(b"\r\n").await?;
        }
    }

    /// `AUTH PLAIN <base64 of authzid NUL user NUL password>` (RFC 4616); the user when it matches.
    fn auth(&self, command: &str) -> Option<String> {
        let mut parts = command.split(' ').skip(1);
        if !parts.next()?.eq_ignore_ascii_case("PLAIN") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(parts.next()?).ok()?;
        let mut fields = decoded.split(|b| *b == 0).skip(1);
        let (user, password) = (fields.next()?, fields.next()?);
        (user == self.user.as_bytes() && password == self.password.as_bytes())
            .then(|| String::from_utf8_lossy(user).into_owned())
    }
}

/// The address of `MAIL FROM:<a@b> SIZE=...` or `RCPT TO:<a@b>`.
fn path(command: &str) -> String {
    let start = command.find('<').map(|i| i + 1).unwrap_or(0);
    let end = command[start..].find('>').map(|i| start + i).unwrap_or(command.len());
    command[start..end].to_string()
}

/// The message up to the line holding a lone `.`, with leading dots unstuffed (RFC 5321 4.5.2).
async fn read_data<R: AsyncBufReadExt + Unpin>(lines: &mut R) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(data);
        }
        let content = line.trim_end_matches(['\r', '\n']);
        if content == "." {
            return Ok(data);
        }
        data.push_str(content.strip_prefix('.').unwrap_or(content));
        data.push_str("\r\n");
    }
}
