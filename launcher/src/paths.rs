//! Where the project's files and the pinned Dapr binaries are.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("launcher/ sits in the repository")
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
