//! The login topology's front door for API clients, as the Gateway is on AKS
//! (deploy/aks/base/gateway.yaml): Debian's nginx on a free loopback port, which passes one
//! route, `/v1.0/invoke/frontend/method/call`, to the frontend's sidecar with the sidecar's
//! `dapr-api-token` added, and answers everything else 404 itself. The sidecar asks that token
//! on every API of both its ports (docs/security.md, "The frontend's sidecar"), so nobody who
//! reaches the sidecar without it (another process, a pod past the network policy) reaches any
//! API; the API client's bearer token is checked by the sidecar's bearer middleware, on the
//! app channel, before daprd calls the app.
//!
//! The route is fixed, and so is what daprd reads its target from: a `dapr-app-id` header is
//! removed, and Basic authentication (daprd reads `dapr-app-id:<target>` from it) is refused,
//! so what passes is an invocation of the frontend app and nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use tokio::process::Command;

use crate::process::{ManagedProcess, STOP_GRACE};
use crate::proxy::nginx;
use crate::wait::{get_status, wait_until};

/// The one route: the frontend app's `/call`, invoked through its sidecar.
pub const ROUTE: &str = "/v1.0/invoke/frontend/method/call";

/// Where nginx answers for itself, to be waited for (loopback only, like all of it).
const READY_PATH: &str = "/.launcher/ready";

pub struct FrontDoor {
    pub port: u16,
    process: ManagedProcess,
}

impl FrontDoor {
    /// Starts nginx in `dir` on `127.0.0.1:port` in front of the sidecar's HTTP port
    /// `sidecar_port`, adding `token` as `dapr-api-token`; waits until it answers.
    pub async fn start(
        dir: &Path,
        log_dir: &Path,
        port: u16,
        sidecar_port: u16,
        token: &str,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::create_dir_all(log_dir)?;
        let config_path = dir.join("nginx.conf");
        let config = configuration(
            dir,
            &log_dir.join("front-door-access.log"),
            port,
            sidecar_port,
            token,
        );
        std::fs::write(&config_path, config)
            .with_context(|| format!("writing {}", config_path.display()))?;
        // The file holds the sidecar's token: the run's owner's alone, as the folder is.
        std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o600))?;
        let mut command = Command::new(nginx());
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.join("error.log"));
        let mut process = ManagedProcess::spawn_supervisor("front-door", command, log_dir)
            .context("starting nginx (Debian package nginx-light; scripts/test.sh installs it)")?;
        let ready = format!("http://127.0.0.1:{port}{READY_PATH}");
        wait_until(
            "the front door (nginx)",
            || async { get_status(&ready).await == Some(200) },
            &mut process,
        )
        .await
        .with_context(|| {
            format!(
                "nginx's error log:\n{}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            )
        })?;
        Ok(Self { port, process })
    }

    /// The route's base as API clients see it (`…/method/`, to which they add `call`).
    pub fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}{}",
            self.port,
            ROUTE.trim_end_matches("call")
        )
    }

    pub fn process(&self) -> &ManagedProcess {
        &self.process
    }

    pub async fn stop(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }
}

fn configuration(
    dir: &Path,
    access_log: &Path,
    port: u16,
    sidecar_port: u16,
    token: &str,
) -> String {
    let dir = dir.display();
    let access_log = access_log.display();
    format!(
        r#"# Written by the launcher for one run (launcher/src/front_door.rs).
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
  worker_connections 256;
}}
http {{
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  log_format door '$request_method $uri $status';
  access_log {access_log} door;
  # As daprd is told to read (dapr.io/read-buffer-size on AKS): large bearer tokens.
  large_client_header_buffers 4 32k;
  server {{
    listen 127.0.0.1:{port};
    location = {READY_PATH} {{
      access_log off;
      return 200 "ready";
    }}
    # nginx matches the normalized path (decoded, dot segments resolved, slashes merged), and
    # sends the fixed one: daprd's target is the frontend app.
    location = {ROUTE} {{
      # daprd would take the target from `Authorization: Basic dapr-app-id:<target>`.
      if ($http_authorization ~ "^Basic ") {{
        return 400;
      }}
      proxy_pass http://127.0.0.1:{sidecar_port}{ROUTE};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Replaces whatever the client sent; an empty value removes the header, so daprd's
      # target is the path's.
      proxy_set_header dapr-api-token "{token}";
      proxy_set_header dapr-app-id "";
      proxy_connect_timeout 2s;
      proxy_send_timeout 30s;
      proxy_read_timeout 30s;
    }}
    location / {{
      return 404;
    }}
  }}
}}
"#
    )
}
