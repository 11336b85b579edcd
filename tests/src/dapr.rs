//! Where the project's files and the pinned Dapr binaries are.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
}

/// The folder holding `daprd` and `sentry` of the pinned version: `$DAPR_BIN_DIR` if set, else
/// what `scripts/install-dapr.sh` prints (it builds them the first time).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("DAPR_BIN_DIR") {
            return PathBuf::from(dir);
        }
        let output = std::process::Command::new("bash")
            .arg(repo_root().join("scripts/install-dapr.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("running scripts/install-dapr.sh");
        assert!(output.status.success(), "scripts/install-dapr.sh failed");
        PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
    })
}

/// The folder with the `frontend` and `backend` binaries of this build: the one this program
/// runs from (target/debug for `run-local`, target/debug/deps for a test), or its parent.
pub fn app_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of this program");
    exe.ancestors()
        .skip(1)
        .take(2)
        .find(|dir| dir.join("frontend").is_file() && dir.join("backend").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            panic!(
                "no frontend and backend binaries next to {}: run `cargo build --bins` first",
                exe.display()
            )
        })
}

/// A fresh random token (API tokens for the local run and the tests).
pub fn random_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A free TCP port on 127.0.0.1, picked at random below 32768, where Linux and macOS do not
/// take the local ports of outgoing connections. A port the OS picks (`bind(0)`) comes from that
/// ephemeral range, so between this check and the server's own bind another process's outgoing
/// connection could take it, and daprd then failed at random with "address already in use".
/// A port is handed out once per process, so the topologies of parallel tests stay apart.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes).expect("random bytes");
        let port = 20_000 + u16::from_le_bytes(bytes) % 12_000;
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1")
}
