//! A round-robin reverse proxy in front of several frontend replicas: Debian's nginx on a free
//! loopback port, with its own configuration, prefix, pid file and logs in the run's folder
//! (never the system's), in the foreground (`daemon off`), stopped like every other peer.
//! Each request goes to the next replica; one that is down (a restart) is skipped.

use std::path::Path;

use anyhow::Context;
use tokio::process::Command;

use crate::process::{ManagedProcess, STOP_GRACE};
use crate::wait::{get_status, wait_until};

pub struct ReverseProxy {
    pub port: u16,
    /// Its access log: one line per request, with the replica (`upstream=127.0.0.1:PORT`).
    pub access_log: std::path::PathBuf,
    process: ManagedProcess,
}

/// Where nginx is: on PATH, or Debian's place for it (`/usr/sbin` is not on every PATH).
fn nginx() -> &'static str {
    if Path::new("/usr/sbin/nginx").is_file() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

impl ReverseProxy {
    /// Starts nginx in `dir` on `127.0.0.1:port` in front of `127.0.0.1:<upstream>` of each of
    /// `upstreams`, and waits until it answers `/healthz` through one of them.
    pub async fn start(
        dir: &Path,
        log_dir: &Path,
        port: u16,
        upstreams: &[u16],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let access_log = log_dir.join("nginx-access.log");
        std::fs::create_dir_all(log_dir)?;
        let config = configuration(dir, &access_log, port, upstreams);
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config)
            .with_context(|| format!("writing {}", config_path.display()))?;
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
        let mut process = ManagedProcess::spawn("nginx", command, log_dir)
            .context("starting nginx (Debian package nginx-light; scripts/test.sh installs it)")?;
        let health = format!("http://127.0.0.1:{port}/healthz");
        wait_until(
            "nginx",
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
        Ok(Self {
            port,
            access_log,
            process,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    pub async fn stop(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }
}

fn configuration(dir: &Path, access_log: &Path, port: u16, upstreams: &[u16]) -> String {
    let dir = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|port| format!("    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    format!(
        r#"# Written by the launcher for one run (launcher/src/proxy.rs).
daemon off;
# One process, no master: killed (a test dropped, the launcher crashed), it leaves no
# worker behind, as a master killed with SIGKILL does.
master_process off;
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
  log_format upstream '$request_method $uri $status upstream=$upstream_addr';
  access_log {access_log} upstream;
  upstream frontends {{
{servers}    keepalive 8;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://frontends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The host the browser asked for, so the app's same-origin check compares like with like.
      proxy_set_header Host $http_host;
      proxy_connect_timeout 2s;
      proxy_send_timeout 30s;
      proxy_read_timeout 30s;
      # A replica that is down (restarting) is skipped, also for POSTs: it never got them.
      proxy_next_upstream error non_idempotent;
      proxy_next_upstream_tries 2;
    }}
  }}
}}
"#,
        access_log = access_log.display()
    )
}
