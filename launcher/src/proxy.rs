//! A round-robin reverse proxy in front of the frontend's replicas, as a cloud front door is:
//! Debian's nginx on a free loopback port, with its own configuration, prefix, pid file and
//! logs in the run's folder (never the system's), in the foreground (`daemon off`), stopped
//! like every other peer. Each request goes to the next replica; one that is down (a restart)
//! is skipped. A rollout changes the replicas with [`ReverseProxy::set_upstreams`]: a reload,
//! which lets requests in flight finish on the old ones.
//!
//! Two sites ([`Site`]): the apps themselves (every path: the page, the browsers' sign-in,
//! `/call`), and the session login's way in for API clients, the frontend's sidecars, where it
//! passes one route only and adds the sidecar's token, as AKS's Gateway route does
//! (docs/security.md, "The frontend's sidecar"):
//! - the sidecar asks its app's `dapr-api-token` on every API of both its ports, so nobody who
//!   reaches it without the token (another process, a pod past the network policy) reaches
//!   any API; the API client's bearer token is checked by the sidecar's bearer middleware, on
//!   the app channel, before daprd calls the app;
//! - the route is fixed, and so is what daprd reads its target from: a `dapr-app-id` header is
//!   removed, and Basic authentication (daprd reads `dapr-app-id:<target>` from it) is refused,
//!   so what passes is an invocation of the frontend app and nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use tokio::process::Command;

use crate::process::{ManagedProcess, STOP_GRACE};
use crate::wait::{get_status, wait_until};

/// What a [`ReverseProxy`] is the front door of.
#[derive(Clone)]
pub enum Site {
    /// The frontend apps, every path; upstreams are app ports.
    Apps,
    /// The frontend's sidecars, [`SIDECAR_ROUTE`] only, with `token` added as
    /// `dapr-api-token`; upstreams are the sidecars' HTTP ports.
    SidecarCall { token: String },
}

/// The one route of [`Site::SidecarCall`]: the frontend app's `/call`, invoked through its
/// sidecar.
pub const SIDECAR_ROUTE: &str = "/v1.0/invoke/frontend/method/call";

pub struct ReverseProxy {
    pub port: u16,
    /// Its access log: one line per request, with the replica (`upstream=127.0.0.1:PORT`).
    pub access_log: std::path::PathBuf,
    site: Site,
    dir: std::path::PathBuf,
    /// The ports it sends to.
    upstreams: Vec<u16>,
    /// How many times its configuration was written: it answers the number on
    /// [`GENERATION_PATH`], so a reload is known to have taken effect.
    generation: u32,
    process: ManagedProcess,
}

/// Where nginx answers the generation of its configuration (loopback only, like all of it).
const GENERATION_PATH: &str = "/.launcher/generation";

/// Where nginx is: on PATH, or Debian's place for it (`/usr/sbin` is not on every PATH).
pub(crate) fn nginx() -> &'static str {
    if Path::new("/usr/sbin/nginx").is_file() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

impl ReverseProxy {
    /// Starts nginx in `dir` on `127.0.0.1:port` in front of `127.0.0.1:<upstream>` of each of
    /// `upstreams`, and waits until it answers: for the apps, `/healthz` through one of them.
    pub async fn start(
        site: Site,
        dir: &Path,
        log_dir: &Path,
        port: u16,
        upstreams: &[u16],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = match site {
            Site::Apps => "nginx",
            Site::SidecarCall { .. } => "front-door",
        };
        let access_log = log_dir.join(format!("{name}-access.log"));
        std::fs::create_dir_all(log_dir)?;
        let config_path = write_configuration(&site, dir, &access_log, port, upstreams, 1)?;
        let mut command = Command::new(nginx());
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config_path)
            // Before it reads the configuration, nginx logs to its compiled-in error log;
            // this sends that to the run's folder too.
            .arg("-e")
            .arg(dir.join("error.log"));
        let mut process = ManagedProcess::spawn_supervisor(name, command, log_dir)
            .context("starting nginx (Debian package nginx-light; scripts/test.sh installs it)")?;
        if let Site::Apps = site {
            let health = format!("http://127.0.0.1:{port}/healthz");
            wait_until(
                name,
                || async { get_status(&health).await == Some(200) },
                &mut process,
            )
            .await
            .with_context(|| {
                format!(
                    "nginx's error log:\n{}",
                    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                )
            })?;
        }
        let mut proxy = Self {
            port,
            access_log,
            site,
            dir: dir.to_owned(),
            upstreams: upstreams.to_vec(),
            generation: 1,
            process,
        };
        proxy.wait_for_generation().await?;
        Ok(proxy)
    }

    /// The ports it sends to now.
    pub fn upstreams(&self) -> &[u16] {
        &self.upstreams
    }

    /// Sends to `upstreams` from now on: the configuration is rewritten and nginx reloaded
    /// (SIGHUP: new workers take new requests, the old ones finish theirs), and this returns
    /// once nginx answers with the new configuration.
    pub async fn set_upstreams(&mut self, upstreams: &[u16]) -> anyhow::Result<()> {
        self.generation += 1;
        write_configuration(
            &self.site,
            &self.dir,
            &self.access_log,
            self.port,
            upstreams,
            self.generation,
        )?;
        self.process.signal(nix::sys::signal::Signal::SIGHUP);
        self.upstreams = upstreams.to_vec();
        self.wait_for_generation()
            .await
            .with_context(|| format!("nginx's error log:\n{}", self.error_log()))
    }

    async fn wait_for_generation(&mut self) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}{GENERATION_PATH}", self.port);
        let wanted = self.generation.to_string();
        wait_until(
            "nginx's configuration",
            || async { crate::wait::get_text(&url).await.as_deref() == Some(wanted.as_str()) },
            &mut self.process,
        )
        .await
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Where clients send: `/` of the apps, or the sidecar route's base (`…/method/`, to which
    /// API clients add `call`).
    pub fn url(&self) -> String {
        match self.site {
            Site::Apps => format!("http://127.0.0.1:{}", self.port),
            Site::SidecarCall { .. } => format!(
                "http://127.0.0.1:{}{}",
                self.port,
                SIDECAR_ROUTE.trim_end_matches("call")
            ),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    pub async fn stop(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }
}

/// Writes `nginx.conf` into `dir`, the run's owner's alone (it may hold the sidecar's token);
/// its path.
fn write_configuration(
    site: &Site,
    dir: &Path,
    access_log: &Path,
    port: u16,
    upstreams: &[u16],
    generation: u32,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("nginx.conf");
    let config = configuration(site, dir, access_log, port, upstreams, generation);
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

/// What each site passes on, and how.
fn locations(site: &Site) -> String {
    const BOUNDS: &str = r#"proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      proxy_send_timeout 30s;
      proxy_read_timeout 30s;
      # A replica that is down (restarting) is skipped, also for POSTs: it never got them.
      proxy_next_upstream error non_idempotent;
      proxy_next_upstream_tries 2;"#;
    match site {
        Site::Apps => format!(
            r#"location / {{
      proxy_pass http://frontends;
      # The host the browser asked for, so the app's same-origin check compares like with like.
      proxy_set_header Host $http_host;
      {BOUNDS}
    }}"#
        ),
        Site::SidecarCall { token } => format!(
            r#"# nginx matches the normalized path (decoded, dot segments resolved, slashes merged),
    # and sends the fixed one: daprd's target is the frontend app.
    location = {SIDECAR_ROUTE} {{
      # daprd would take the target from `Authorization: Basic dapr-app-id:<target>`.
      if ($http_authorization ~ "^Basic ") {{
        return 400;
      }}
      proxy_pass http://frontends{SIDECAR_ROUTE};
      # Replaces whatever the client sent; an empty value removes the header, so daprd's
      # target is the path's.
      proxy_set_header dapr-api-token "{token}";
      proxy_set_header dapr-app-id "";
      {BOUNDS}
    }}
    location / {{
      return 404;
    }}"#
        ),
    }
}

fn configuration(
    site: &Site,
    dir: &Path,
    access_log: &Path,
    port: u16,
    upstreams: &[u16],
    generation: u32,
) -> String {
    let dir = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|port| format!("    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    format!(
        r#"# Written by the launcher for one run (launcher/src/proxy.rs).
daemon off;
# A master and its worker: only a master reloads its configuration (SIGHUP) with requests in
# flight (one process without a master stops answering after a reload). The launcher asks it to
# stop with SIGTERM, also when it dies itself, never SIGKILL: a master killed so leaves its
# worker serving.
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
  # upstream= names each replica tried, comma-separated when a refused connect was retried on
  # another (proxy_next_upstream): a rollout's test reads it to see that none was.
  log_format upstream '$request_method $uri $status upstream=$upstream_addr';
  # Each answer closes its client connection (Connection: close). A reload (a rollout's change
  # of upstreams) ends the old worker, which closes its idle kept-alive client connections: a
  # client that sent a request on one at that moment loses it (seen: 3 of 15,110 requests of a
  # rollout, all on reused connections). Cloud front doors change their upstreams without
  # closing client connections; here a connection per request keeps that artifact out.
  keepalive_timeout 0;
  access_log {access_log} upstream;
  # As daprd is told to read (dapr.io/read-buffer-size on AKS): large bearer tokens.
  large_client_header_buffers 4 32k;
  upstream frontends {{
{servers}    keepalive 8;
  }}
  server {{
    listen 127.0.0.1:{port};
    location = {GENERATION_PATH} {{
      access_log off;
      return 200 "{generation}";
    }}
    {locations}
  }}
}}
"#,
        access_log = access_log.display(),
        locations = locations(site),
    )
}
