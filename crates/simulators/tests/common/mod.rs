//! What the simulators' tests share: loopback servers on free ports.

#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// How long a test waits for a webhook.
pub const WAIT: Duration = Duration::from_secs(5);

/// A listener on a free loopback port, and its base URL.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let address = listener.local_addr().expect("bound address");
    (listener, format!("http://{address}"))
}

pub fn serve(listener: TcpListener, router: Router) {
    tokio::spawn(async move { axum::serve(listener, router).await.expect("server runs") });
}
