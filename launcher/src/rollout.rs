//! A rollout of a running pair as Kubernetes does one (a Deployment's `RollingUpdate` with
//! `maxSurge: 1`, `maxUnavailable: 0`), replica by replica, the backends first:
//!
//! 1. start the successor (its app and its daprd) and wait until it is ready: the app's
//!    `/readyz`, daprd's healthz, registered in name resolution, calling its app, and for a
//!    frontend in nginx's upstream;
//! 2. SIGTERM to the old app and its daprd at the same instant (kubelet);
//! 3. after the endpoint lag, take the old replica out of name resolution and nginx: until then
//!    callers and the front door still send to it, as they do while Kubernetes' endpoint
//!    removal propagates;
//! 4. wait for both processes to exit; whatever is left at the grace period is SIGKILLed.
//!
//! What the old replica does meanwhile is the apps' and daprd's own shutdown (docs/rollouts.md).

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::name_resolution::NameResolution;
use crate::process::ManagedProcess;
use crate::service::{Role, Service};
use crate::topology::{Topology, replica_name};

pub struct RolloutOptions {
    /// How long after SIGTERM the old replica stays in name resolution and nginx's upstream.
    pub endpoint_lag: Duration,
    /// From SIGTERM, how long the old processes get before SIGKILL
    /// (`terminationGracePeriodSeconds`).
    pub grace_period: Duration,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        Self {
            endpoint_lag: Duration::from_secs(2),
            grace_period: Duration::from_secs(30),
        }
    }
}

impl Topology {
    /// Replaces every replica of both apps, one at a time, each step told to `step` as a line.
    pub async fn rollout(
        &mut self,
        options: &RolloutOptions,
        mut step: impl FnMut(String),
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.proxy.is_some(),
            "a rollout needs two or more frontend replicas behind nginx: one frontend is the entry \
             itself, on its own port, and nothing can route around it while it is replaced"
        );
        let backends = self.backends().count();
        let frontends = self.frontends().count();
        for index in 0..backends {
            self.replace(Role::Backend, index, options, &mut step)
                .await?;
        }
        for index in 0..frontends {
            self.replace(Role::Frontend, index, options, &mut step)
                .await?;
        }
        step(format!(
            "rollout done: {backends} backend and {frontends} frontend replicas replaced"
        ));
        Ok(())
    }

    fn replica_mut(&mut self, role: Role, index: usize) -> &mut Service {
        match (role, index) {
            (Role::Backend, 0) => &mut self.backend,
            (Role::Backend, i) => &mut self.more_backends[i - 1],
            (Role::Frontend, 0) => &mut self.frontend,
            (Role::Frontend, i) => &mut self.more_frontends[i - 1],
        }
    }

    async fn replace(
        &mut self,
        role: Role,
        index: usize,
        options: &RolloutOptions,
        step: &mut impl FnMut(String),
    ) -> anyhow::Result<()> {
        let counter = match role {
            Role::Frontend => &mut self.frontends_started,
            Role::Backend => &mut self.backends_started,
        };
        *counter += 1;
        let number = *counter;
        let old = self.replica_mut(role, index);
        let mut successor = old.successor(replica_name(&old.app_id, number));
        let old_name = old.name.clone();
        step(format!(
            "{old_name}: starting its successor {} (app :{}, daprd :{})",
            successor.name, successor.app_port, successor.dapr_http_port
        ));
        successor
            .start()
            .await
            .with_context(|| format!("starting {}", successor.name))?;
        if role == Role::Frontend {
            let ports = (successor.app_port, successor.dapr_http_port);
            self.set_front_doors(|upstreams, port| upstreams.push(port), ports)
                .await?;
        }
        step(format!(
            "{}: ready (its /readyz, daprd's healthz, daprd calling its app; then given to callers in name resolution{})",
            successor.name,
            if role == Role::Frontend {
                ", in nginx's upstream"
            } else {
                ""
            }
        ));

        let mut old = std::mem::replace(self.replica_mut(role, index), successor);
        let signalled = Instant::now();
        let mut processes = old.terminate();
        step(format!("{old_name}: SIGTERM to its app and its daprd"));

        tokio::time::sleep(options.endpoint_lag).await;
        let registered =
            NameResolution::of_run(&self.workdir).withdraw(&old.app_id, &old.internal_address())?;
        let mut removed = vec![if registered {
            "out of name resolution"
        } else {
            "already out of name resolution (its daprd had exited)"
        }];
        if role == Role::Frontend {
            let ports = (old.app_port, old.dapr_http_port);
            self.set_front_doors(|upstreams, port| upstreams.retain(|p| *p != port), ports)
                .await?;
            removed.push("out of nginx's upstream");
        }
        step(format!(
            "{old_name}: {}, {:.1} s after SIGTERM",
            removed.join(", "),
            signalled.elapsed().as_secs_f64()
        ));

        let exits = wait_for_exits(&mut processes, signalled, options.grace_period).await;
        step(format!("{old_name}: {exits}"));
        self.retired.extend(processes);
        Ok(())
    }

    /// Changes the front doors' upstreams by a frontend replica's `(app port, sidecar port)`:
    /// nginx's in front of the apps, and the session login's in front of the sidecars.
    async fn set_front_doors(
        &mut self,
        change: impl Fn(&mut Vec<u16>, u16),
        (app_port, sidecar_port): (u16, u16),
    ) -> anyhow::Result<()> {
        let proxy = self.proxy.as_mut().context("no nginx in this run")?;
        for (door, port) in std::iter::once((proxy, app_port))
            .chain(self.front_door.as_mut().map(|door| (door, sidecar_port)))
        {
            let mut upstreams = door.upstreams().to_vec();
            change(&mut upstreams, port);
            door.set_upstreams(&upstreams).await?;
        }
        Ok(())
    }
}

/// Waits for each process until the grace period (counted from `signalled`) and SIGKILLs what
/// is left; says how each ended and when.
async fn wait_for_exits(
    processes: &mut [ManagedProcess],
    signalled: Instant,
    grace_period: Duration,
) -> String {
    let mut said = Vec::new();
    for process in processes {
        let left = grace_period.saturating_sub(signalled.elapsed());
        let exited = tokio::time::timeout(left, process.wait()).await;
        let after = signalled.elapsed().as_secs_f64();
        said.push(match exited {
            Ok(Some(status)) => format!(
                "{} exited ({status}) {after:.1} s after SIGTERM",
                process.name
            ),
            Ok(None) => format!("{} had already exited", process.name),
            Err(_) => {
                process.kill().await;
                format!(
                    "{} SIGKILLed at the grace period, {after:.1} s",
                    process.name
                )
            }
        });
    }
    said.join("; ")
}
