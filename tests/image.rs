//! The pair run from the container image, not from this build's binaries: both apps started
//! from the image's root filesystem (`cargo xtask image` builds and unpacks it; the README's
//! test command runs that first) with its entrypoint, `USER` and `ENV`, chrooted, each PID 1 of
//! a pid namespace of its own, next to real daprd. A dynamic library the binary needs, a file
//! it reads that the image lacks, a user name or a writable path fails here. The frontend also
//! fetches its identity provider's keys over HTTPS through the image's CA bundle.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use launcher::{ImageRoot, ManagedProcess, TopologyOptions};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use test_support::tokens::{SigningKey, claims, key_set};

use crate::support::TestPair;

fn image() -> Arc<ImageRoot> {
    let dir = ImageRoot::default_dir();
    Arc::new(ImageRoot::load(&dir).unwrap_or_else(|error| panic!("{error:#}")))
}

/// The app the launcher's `unshare` started: the end of its line of only children.
fn app_pid(unshare: u32) -> u32 {
    let mut pid = unshare;
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let pids: Vec<u32> = children
            .split_whitespace()
            .map(|pid| pid.parse().unwrap())
            .collect();
        match pids[..] {
            [] if pid != unshare => return pid,
            [child] => pid = child,
            _ => panic!("{pid} started the app's process, alone: {pids:?}"),
        }
    }
}

/// A line of `/proc/PID/status`, its fields after the name.
fn status_field(pid: u32, name: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_pair_runs_from_the_image_saves_reads_and_drains_on_sigterm_as_pid_1() {
    let image = image();
    // The image as built: the static binary and the CA bundle, no user database.
    assert!(image.rootfs.join("dapr-pair").is_file());
    assert!(
        image
            .rootfs
            .join("etc/ssl/certs/ca-certificates.crt")
            .is_file()
    );
    assert!(!image.rootfs.join("etc/passwd").exists());
    assert_eq!(image.user.as_deref(), Some("10001:10001"));

    let mut pair = TestPair::spawn_with(TopologyOptions {
        image: Some(image.clone()),
        // Long enough that the drain below is seen in it; a second SIGTERM cuts it short.
        app_env: vec![("SHUTDOWN_DELAY".into(), "60s".into())],
        ..TopologyOptions::default()
    })
    .await;

    // Each app is the image's entrypoint, PID 1 of its own pid namespace, as the image's user,
    // with the image's root and only the image's and the launcher's variables.
    let rootfs = image.rootfs.canonicalize().unwrap();
    for service in [&pair.topology.frontend, &pair.topology.backend] {
        let app = app_pid(service.app_process().unwrap().pid().unwrap());
        let nspid = status_field(app, "NSpid");
        assert_eq!(nspid.last().map(String::as_str), Some("1"), "{nspid:?}");
        assert_eq!(status_field(app, "Uid"), ["10001"; 4]);
        assert_eq!(status_field(app, "Gid"), ["10001"; 4]);
        assert_eq!(
            std::fs::read_link(format!("/proc/{app}/root")).unwrap(),
            rootfs
        );
        // The image's entrypoint, `/dapr-pair` inside the root (seen from here, under it).
        assert_eq!(
            std::fs::read_link(format!("/proc/{app}/exe")).unwrap(),
            rootfs.join("dapr-pair")
        );
        let environ = std::fs::read(format!("/proc/{app}/environ")).unwrap();
        let environ: Vec<String> = environ
            .split(|byte| *byte == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        assert!(environ.contains(&"LOG_FORMAT=json".to_owned()));
        assert!(
            !environ.iter().any(|v| v.starts_with("CARGO")),
            "the test's environment leaked into the app: {environ:?}"
        );
    }

    // `/call` saves through the image's frontend and backend, and reads back.
    let saved = pair
        .save("from-the-image", json!({"built": "buildah"}))
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let read = pair.read("from-the-image").await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json(), json!({"built": "buildah"}));

    // SIGTERM to the backend, PID 1 of its namespace: it stops being ready but still serves,
    // then (a second signal cuts the delay short) drains and exits 0.
    let backend_url = pair.topology.backend.app_url();
    let process = pair.topology.backend.app_process_mut().unwrap();
    process.signal(Signal::SIGTERM);
    let mut logged = false;
    for _ in 0..300 {
        let log = std::fs::read_to_string(&process.log).unwrap_or_default();
        if log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("SIGTERM: /readyz answers 503"))
            })
        {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        logged,
        "the backend logged no SIGTERM:\n{}",
        process.log_tail(20)
    );
    let ready = pair
        .send(pair.http.get(format!("{backend_url}/readyz")))
        .await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    let alive = pair
        .send(pair.http.get(format!("{backend_url}/healthz")))
        .await;
    assert_eq!(alive.status, 200, "{}", alive.text);
    let process = pair.topology.backend.app_process_mut().unwrap();
    process.signal(Signal::SIGTERM);
    let exit = process.exit_within(Duration::from_secs(60)).await;
    assert!(
        exit.is_some_and(|status| status.success()),
        "SIGTERM drains and exits 0: {exit:?}\n{}",
        process.log_tail(20)
    );

    // The launcher's process killed (SIGKILL, as when the launcher itself dies or drops it):
    // the app in the image goes with it, although it changed its uid (which clears the
    // parent-death signal `--kill-child` had set).
    let frontend = app_pid(pair.topology.frontend.app_process().unwrap().pid().unwrap());
    pair.topology.frontend.kill_app().await;
    let mut gone = false;
    for _ in 0..100 {
        if !launcher::process::is_running(frontend) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the frontend ({frontend}) outlived its launcher's process"
    );
}

/// Runs `openssl` with these arguments in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA of the test's own and a certificate it signed for 127.0.0.1: `ca.pem`, `server.pem`
/// and `server.key` in `dir`.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "1",
        "-subj",
        "/CN=dapr-pair test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign"]);
    openssl(dir, &ca);
    let mut request = vec!["req", "-subj", "/CN=127.0.0.1"];
    request.extend(ec);
    request.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &request);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// Waits until `url` answers 200, or the process has exited.
async fn wait_healthy(http: &reqwest::Client, url: &str, process: &mut ManagedProcess) {
    for _ in 0..600 {
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|answer| answer.status() == 200)
        {
            return;
        }
        assert!(process.is_running(), "{}", process.log_tail(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer 200:\n{}", process.log_tail(20));
}

/// The frontend of the image, on its own (no sidecar: the token is checked before any call),
/// checking JWTs of an identity provider served over HTTPS by `openssl s_server` with a
/// certificate of the test's CA. From a copy of the image with that CA added to its bundle,
/// it fetches the keys and lets the token through (then the allowlist refuses the call, 403);
/// from the image as built, the certificate is refused and the keys cannot be had (503).
#[tokio::test]
async fn the_frontend_fetches_its_providers_keys_over_https_through_the_images_ca_bundle() {
    let image = image();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    make_certificates(dir);

    // The provider: its discovery document and key set, as files served over HTTPS.
    let port = launcher::free_port();
    let issuer = format!("https://127.0.0.1:{port}");
    let www = dir.join("www");
    std::fs::create_dir_all(www.join(".well-known")).unwrap();
    std::fs::write(
        www.join(".well-known/openid-configuration"),
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")}).to_string(),
    )
    .unwrap();
    let key = SigningKey::generate("image-test");
    std::fs::write(www.join("jwks.json"), key_set(&[&key]).to_string()).unwrap();
    let mut server = tokio::process::Command::new("openssl");
    server
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join("server.pem"))
        .arg("-key")
        .arg(dir.join("server.key"))
        .current_dir(&www);
    let logs = dir.join("logs");
    let _server = ManagedProcess::spawn("provider", server, &logs).unwrap();

    // A copy of the image's root with the test's CA added to its bundle.
    let trusting = dir.join("rootfs");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&image.rootfs)
        .arg(&trusting)
        .status()
        .unwrap();
    assert!(copied.success());
    let bundle = trusting.join("etc/ssl/certs/ca-certificates.crt");
    let mut certificates = std::fs::read_to_string(&bundle).unwrap();
    certificates.push_str(&std::fs::read_to_string(dir.join("ca.pem")).unwrap());
    std::fs::write(&bundle, certificates).unwrap();

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let audience = "dapr-pair-image-test";
    let token = key.sign(&claims(&issuer, audience, "ada", 600));
    for (name, root, trusted) in [
        (
            "frontend-trusting",
            image.with_rootfs(trusting.clone()),
            true,
        ),
        ("frontend-as-built", (*image).clone(), false),
    ] {
        let app_port = launcher::free_port();
        let mut command = root.command("frontend").unwrap();
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", app_port.to_string())
            .env("METRICS_PORT", launcher::free_port().to_string())
            .env("DAPR_HTTP_PORT", launcher::free_port().to_string())
            .env("AUTH_MODE", "jwt")
            .env("OIDC_ISSUER", &issuer)
            .env("OIDC_AUDIENCE", audience)
            .env("SHUTDOWN_DELAY", "0s");
        let mut app = ManagedProcess::spawn(name, command, &logs)
            .unwrap()
            .signals_its_child();
        let url = format!("http://127.0.0.1:{app_port}");
        wait_healthy(&http, &format!("{url}/healthz"), &mut app).await;
        let answer = http
            .post(format!("{url}/call"))
            .bearer_auth(&token)
            .json(&json!({"appId": "nobody", "method": "x"}))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        // The app writes its log lines a batch at a time (and what is left when it exits), so
        // its log is read once it has exited.
        let exit = app.stop(Duration::from_secs(10)).await;
        assert!(
            exit.is_some_and(|status| status.success()),
            "{exit:?}, after {status} {body}\n{}",
            app.log_tail(20)
        );
        if trusted {
            // Signed in: the allowlist, after the token check, refuses the call.
            assert_eq!(status, 403, "{body}\n{}", app.log_tail(20));
        } else {
            assert_eq!(status, 503, "{body}\n{}", app.log_tail(20));
            let log = std::fs::read_to_string(&app.log).unwrap();
            assert!(
                log.contains("UnknownIssuer"),
                "the certificate was refused for want of its CA:\n{log}"
            );
        }
    }
}
