//! The pair run from the container image, not from this build's binaries: both apps started
//! from the image's root filesystem (`cargo xtask image` builds and unpacks it; the README's
//! test command runs that first) with its entrypoint, `USER` and `ENV`, chrooted, each PID 1 of
//! a pid namespace of its own, next to real daprd. A dynamic library the binary needs, a file
//! it reads that the image lacks, a user name or a writable path fails here.

use std::sync::Arc;
use std::time::Duration;

use launcher::{ImageRoot, TopologyOptions};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::support::TestPair;

fn image() -> Arc<ImageRoot> {
    let dir = ImageRoot::default_dir();
    Arc::new(ImageRoot::load(&dir).unwrap_or_else(|error| panic!("{error:#}")))
}

/// The app a launcher's `unshare` started: its only child.
fn app_pid(unshare: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .unwrap_or_default();
    let pids: Vec<u32> = children
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 1, "unshare {unshare} has one child: {pids:?}");
    pids[0]
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
}
