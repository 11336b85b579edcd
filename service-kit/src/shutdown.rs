//! How an app stops without failing a request that was already on its way to it.
//!
//! When a platform replaces a replica (a rollout, a scale-in, a node drain), it sends SIGTERM
//! and, at the same time, starts taking the replica out of every list that routes to it: its
//! endpoints, the front door's upstreams, the callers' name resolution. That takes a moment,
//! and what is sent meanwhile still arrives here. So on SIGTERM the app keeps serving for
//! `SHUTDOWN_DELAY` while `/readyz` answers 503 (a readiness probe confirms the removal), and
//! only then stops accepting and drains its requests in flight (`SHUTDOWN_TIMEOUT`).
//!
//! SIGINT (Ctrl-C) is a person at a terminal, with nothing routed to the process to wait for:
//! it skips the delay, and so does a second signal during it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How the process was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: what Kubernetes and Container Apps send to a replica they replace.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

/// Set once the app is stopping: `/readyz` answers 503 from then on, while everything else is
/// still served.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Completes on SIGTERM or Ctrl-C, saying which.
pub async fn signal() -> Stop {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = terminate => Stop::Terminate,
        () = interrupt => Stop::Interrupt,
    }
}

/// Waits for `stop`, then, on [`Stop::Terminate`], marks the app [`Draining`] and waits out
/// `delay` (cut short by `another`, a second signal). When this returns, the app stops
/// accepting and drains.
pub async fn wind_down(
    stop: impl Future<Output = Stop>,
    another: impl Future<Output = Stop>,
    delay: Duration,
    draining: &Draining,
) {
    let how = stop.await;
    draining.start();
    if how == Stop::Terminate && !delay.is_zero() {
        tracing::info!(
            delay_secs = delay.as_secs_f64(),
            "SIGTERM: /readyz answers 503; still serving for SHUTDOWN_DELAY while traffic moves to other replicas"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = another => tracing::info!("a second signal: SHUTDOWN_DELAY cut short"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sigterm_waits_out_the_delay_while_draining() {
        let draining = Draining::default();
        let started = tokio::time::Instant::now();
        let wound_down = wind_down(
            async { Stop::Terminate },
            std::future::pending(),
            Duration::from_secs(5),
            &draining,
        );
        let mut wound_down = std::pin::pin!(wound_down);
        // Draining at once, still serving until the delay has passed.
        tokio::select! {
            () = &mut wound_down => panic!("returned before the delay"),
            () = tokio::time::sleep(Duration::from_millis(4_999)) => {}
        }
        assert!(draining.is_draining());
        wound_down.await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn ctrl_c_and_a_second_signal_skip_the_delay() {
        let draining = Draining::default();
        let started = tokio::time::Instant::now();
        wind_down(
            async { Stop::Interrupt },
            std::future::pending(),
            Duration::from_secs(5),
            &draining,
        )
        .await;
        assert!(draining.is_draining());
        assert_eq!(started.elapsed(), Duration::ZERO);

        let second = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Stop::Interrupt
        };
        wind_down(
            async { Stop::Terminate },
            second,
            Duration::from_secs(5),
            &Draining::default(),
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
