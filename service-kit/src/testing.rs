//! Helpers for tests of the services (feature `testing`).

use std::time::Duration;

use crate::SidecarClient;

/// A client for a sidecar that is not there, so every call is refused. Port 1 (tcpmux) is
/// below the range the OS hands out: a port that was merely free a moment ago could be taken
/// by a mock server of a test running in parallel, which then answered for the absent sidecar.
pub fn absent_sidecar(timeout: Duration) -> SidecarClient {
    SidecarClient::new("http://127.0.0.1:1".into(), None, timeout).expect("an HTTP client")
}
