//! Helpers for tests of the services (feature `testing`).

use std::time::Duration;

use crate::SidecarClient;

/// A client for a sidecar that is not there: its port was free a moment ago and nobody
/// listens on it, so every call is refused.
pub fn absent_sidecar(timeout: Duration) -> SidecarClient {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port();
    SidecarClient::new(format!("http://127.0.0.1:{port}"), None, timeout).expect("an HTTP client")
}
