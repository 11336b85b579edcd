//! An app started from the container image's root filesystem instead of the build's binary:
//! its entrypoint, its `USER`, its `ENV` and nothing of the launcher's environment, chrooted
//! into the image's files, as PID 1 of a pid namespace of its own and in a mount namespace of
//! its own. Docker and Kubernetes cannot run here (no daemon, no cgroups for crun), so this is
//! the closest a test gets to them: a binary that needs a dynamic library, a file the image
//! lacks, a user name or a writable path fails here as it would in Azure.
//!
//! `cargo xtask image` builds the image with buildah and unpacks it into
//! `TARGET/image/rootfs`, with its configuration in `TARGET/image/image.json`
//! ([`ImageRoot::load`] reads them). What differs from a container runtime: the network is the
//! host's (the apps listen on 127.0.0.1 like every app the launcher runs); no `/proc`, `/sys`,
//! `/dev`, `/etc/hosts` or `/etc/resolv.conf` are mounted (the apps read none of them); no
//! cgroup limits; no capabilities are dropped beyond what the switch to the image's uid drops.
//! See docs/image.md.
//!
//! Needs root (namespaces and chroot): the launcher says so rather than failing in the child.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::Command;

use crate::paths::app_bin_dir;

/// What a container runtime sets when the image does not (Docker's and containerd's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An unpacked image: its root filesystem and what its configuration says to run there.
#[derive(Clone, Debug)]
pub struct ImageRoot {
    /// The image's name and tag, as `cargo xtask image` printed it.
    pub tag: String,
    /// The unpacked root filesystem.
    pub rootfs: PathBuf,
    /// `ENTRYPOINT` then `CMD`: what the runtime executes, inside the root.
    pub argv: Vec<String>,
    /// `USER`, numeric (`10001:10001`); `None` runs as root, as the image would.
    pub user: Option<String>,
    /// `ENV`, in order, with `PATH` added if the image sets none (as runtimes do).
    pub env: Vec<(String, String)>,
    unshare: PathBuf,
    chroot: PathBuf,
}

impl ImageRoot {
    /// Where `cargo xtask image` leaves the image of this build's target folder.
    pub fn default_dir() -> PathBuf {
        let bins = app_bin_dir();
        bins.parent().unwrap_or(&bins).join("image")
    }

    /// The image `cargo xtask image` unpacked into `dir` (`image.json` and `rootfs/`).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let manifest = dir.join("image.json");
        let text = std::fs::read_to_string(&manifest).with_context(|| {
            format!(
                "reading {}: build and unpack the image first with `cargo xtask image`",
                manifest.display()
            )
        })?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", manifest.display()))?;
        let rootfs = dir.join("rootfs");
        if !rootfs.is_dir() {
            bail!("{} is missing: run `cargo xtask image`", rootfs.display());
        }
        Self::from_config(
            json["tag"].as_str().unwrap_or("(untagged)").to_owned(),
            rootfs,
            &json["config"],
        )
    }

    /// From the image's OCI configuration (`User`, `Env`, `Entrypoint`, `Cmd`, `WorkingDir`).
    pub fn from_config(tag: String, rootfs: PathBuf, config: &Value) -> anyhow::Result<Self> {
        let strings = |field: &str| -> Vec<String> {
            config[field]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let argv: Vec<String> = strings("Entrypoint")
            .into_iter()
            .chain(strings("Cmd"))
            .collect();
        if argv.is_empty() {
            bail!("the image {tag} has neither ENTRYPOINT nor CMD");
        }
        match config["WorkingDir"].as_str() {
            None | Some("") | Some("/") => {}
            // chroot starts in `/`; no image of this project sets another.
            Some(other) => bail!("the image's WORKDIR {other} is not supported here"),
        }
        let user = match config["User"].as_str() {
            None | Some("") => None,
            Some(user) => Some(numeric_user(user)?),
        };
        let mut env: Vec<(String, String)> = strings("Env")
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        if !env.iter().any(|(name, _)| name == "PATH") {
            env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
        }
        Ok(Self {
            tag,
            rootfs,
            argv,
            user,
            env,
            unshare: host_program("unshare")?,
            chroot: host_program("chroot")?,
        })
    }

    /// The same image's configuration on another root filesystem: a copy of this one with a
    /// file changed (a test's CA added to the bundle).
    pub fn with_rootfs(&self, rootfs: PathBuf) -> Self {
        Self {
            rootfs,
            ..self.clone()
        }
    }

    /// The command that runs the image's entrypoint: `unshare --pid --fork --kill-child unshare
    /// --pid --mount --fork --kill-child chroot --userspec=UID:GID ROOTFS ENTRYPOINT…`, with the
    /// image's `ENV` and
    /// nothing else but `SERVICE` (which app: `frontend` or `backend`, as the deployments set
    /// it); the caller adds its own variables on top, as `docker run -e` does.
    /// `unshare` stays the launcher's child and passes on the app's exit status; it does not
    /// pass on signals, so the app's process is spawned with
    /// [`crate::ManagedProcess::signals_its_child`].
    ///
    /// Why two: killed, an `unshare --kill-child` sends its child SIGKILL (the kernel's
    /// parent-death signal), but `chroot --userspec` changes the uid, which clears that
    /// signal, so the app would outlive it (the test saw it). The outer one's child is the
    /// inner `unshare`, root and unchanged, and the init of a pid namespace the app is in:
    /// when the outer one is killed (the launcher dropped it, or died), the inner one gets
    /// SIGKILL, and with its namespace's init every process in it goes, the app too. The app
    /// is PID 1 of the inner namespace.
    pub fn command(&self, service: &str) -> anyhow::Result<Command> {
        if !nix::unistd::geteuid().is_root() {
            bail!(
                "running the image's root filesystem needs root (a pid and a mount namespace, chroot): run as root"
            );
        }
        let mut command = Command::new(&self.unshare);
        command
            .args(["--pid", "--fork", "--kill-child"])
            .arg(&self.unshare)
            .args(["--pid", "--mount", "--fork", "--kill-child"])
            .arg(&self.chroot);
        if let Some(user) = &self.user {
            command.arg(format!("--userspec={user}"));
        }
        command
            .arg(&self.rootfs)
            .args(&self.argv)
            .env_clear()
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("SERVICE", service);
        Ok(command)
    }
}

/// `USER` as `UID[:GID]` numbers: the image has no `/etc/passwd` to look a name up in, and
/// Kubernetes' `runAsNonRoot` refuses a user it cannot see is not root.
fn numeric_user(user: &str) -> anyhow::Result<String> {
    // A uid alone runs with group 0, as Docker and containerd do for a user not in /etc/passwd.
    let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
    let number = |part: &str| part.parse::<u32>().is_ok();
    if !number(uid) || !number(gid) {
        bail!(
            "the image's USER {user:?} is not numeric: the image has no /etc/passwd to find it in, and Kubernetes' runAsNonRoot refuses it"
        );
    }
    Ok(format!("{uid}:{gid}"))
}

/// A program of the host, by absolute path (the child's environment is the image's).
fn host_program(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from(DEFAULT_PATH));
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("`{name}` (util-linux, coreutils) is not installed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(user: &str) -> Value {
        serde_json::json!({
            "User": user,
            "Env": ["HOST=0.0.0.0", "PORT=8080", "LOG_FORMAT=json"],
            "Entrypoint": ["/dapr-pair"],
            "WorkingDir": "",
        })
    }

    #[test]
    fn the_image_configuration_gives_the_argv_user_and_environment() {
        let image =
            ImageRoot::from_config("t".into(), "/r".into(), &config("10001:10001")).unwrap();
        assert_eq!(image.argv, ["/dapr-pair"]);
        assert_eq!(image.user.as_deref(), Some("10001:10001"));
        assert_eq!(image.env[0], ("PATH".into(), DEFAULT_PATH.into()));
        assert!(image.env.contains(&("HOST".into(), "0.0.0.0".into())));
    }

    #[test]
    fn a_user_name_is_refused_as_the_image_cannot_resolve_it() {
        let error = ImageRoot::from_config("t".into(), "/r".into(), &config("app")).unwrap_err();
        assert!(error.to_string().contains("not numeric"), "{error}");
        let uid_only = ImageRoot::from_config("t".into(), "/r".into(), &config("10001")).unwrap();
        assert_eq!(uid_only.user.as_deref(), Some("10001:0"));
    }
}
