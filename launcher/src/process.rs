//! One child process: output captured to a log file, stopped with SIGTERM (then SIGKILL if it
//! does not exit in time), killed if dropped, and killed by the kernel if the launcher itself
//! dies (a test run killed with SIGKILL or a crashed `run-local` leaves no daprd behind).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How long a process is given to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct ManagedProcess {
    pub name: String,
    pub log: PathBuf,
    /// Taken just before the spawn: start-up times are measured from here.
    pub spawned_at: Instant,
    /// What it gets when dropped or when the launcher dies: SIGKILL, or for a supervisor of
    /// children of its own ([`Self::spawn_supervisor`]) SIGTERM.
    ends_with: Signal,
    /// Signals go to its last descendants rather than to it: `unshare --fork`, which blocks
    /// SIGTERM and SIGINT and waits for the app it started (see [`crate::image`]).
    signals_its_child: bool,
    child: Child,
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        // SIGKILL comes from tokio's `kill_on_drop`; a supervisor is asked to stop instead.
        if self.ends_with != Signal::SIGKILL {
            self.signal(self.ends_with);
        }
    }
}

impl ManagedProcess {
    pub fn spawn(name: &str, command: Command, log_dir: &Path) -> std::io::Result<Self> {
        Self::spawn_ending_with(name, command, log_dir, Signal::SIGKILL)
    }

    /// A process with children of its own (nginx's master and its worker): dropped, or when
    /// the launcher dies, it gets SIGTERM and stops them; SIGKILL would leave them running.
    pub fn spawn_supervisor(name: &str, command: Command, log_dir: &Path) -> std::io::Result<Self> {
        Self::spawn_ending_with(name, command, log_dir, Signal::SIGTERM)
    }

    fn spawn_ending_with(
        name: &str,
        mut command: Command,
        log_dir: &Path,
        ends_with: Signal,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(ends_with == Signal::SIGKILL);
        die_with_parent(&mut command, ends_with);
        let spawned_at = Instant::now();
        let child = command.spawn()?;
        Ok(Self {
            name: name.to_owned(),
            log,
            spawned_at,
            ends_with,
            signals_its_child: false,
            child,
        })
    }

    /// From now on [`Self::signal`] (and so [`Self::stop`]) signals the descendants of this
    /// process that have no children of their own, instead of it: for a process that only
    /// starts another and waits for it (`unshare --fork`, twice). Its exit is still what
    /// [`Self::wait`] waits for.
    pub fn signals_its_child(mut self) -> Self {
        self.signals_its_child = true;
        self
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM);
        self.exit_within(grace).await
    }

    /// Sends `signal`, if it is still running.
    pub fn signal(&self, signal: Signal) {
        let Some(pid) = self.pid() else { return };
        if self.signals_its_child {
            for leaf in leaves(pid) {
                let _ = kill(Pid::from_raw(leaf as i32), signal);
            }
        } else {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Waits for it to exit, and SIGKILLs it if it has not within `grace`.
    pub async fn exit_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => self.kill().await,
        }
    }

    /// Waits for it to exit; its exit status.
    pub async fn wait(&mut self) -> Option<ExitStatus> {
        self.child.wait().await.ok()
    }

    /// SIGKILL: the process gets no chance to clean up (a crash).
    pub async fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.start_kill();
        self.child.wait().await.ok()
    }

    /// The last `lines` lines of its log, to show when something went wrong.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The pids of a process's children, as the kernel lists them.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .collect()
}

/// The descendants of a process that have no children of their own.
fn leaves(pid: u32) -> Vec<u32> {
    children(pid)
        .into_iter()
        .flat_map(|child| match leaves(child) {
            below if below.is_empty() => vec![child],
            below => below,
        })
        .collect()
}

/// Asks the kernel to send the child `signal` when the thread that spawned it exits
/// (`PR_SET_PDEATHSIG`). `kill_on_drop` covers every orderly end of the launcher; this covers
/// the rest. The launcher spawns from its async tasks, whose runtime threads live as long as
/// the run (a `spawn_blocking` thread would not: never spawn from one).
fn die_with_parent(command: &mut Command, signal: Signal) {
    let parent = std::process::id();
    // SAFETY: between fork and exec only async-signal-safe calls are made: prctl and getppid.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(signal)?;
            // The parent may have died before prctl took effect: then nobody is left to reap us.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::other(
                    "the launcher exited during the spawn",
                ));
            }
            Ok(())
        });
    }
}

/// Whether process `pid` runs: it exists and is not a zombie (a dead process its parent has not
/// reaped yet).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    use super::*;

    /// Set for the copy of this test binary that plays the launcher.
    const LAUNCHER_ROLE: &str = "LAUNCHER_TEST_PLAY_THE_LAUNCHER";
    const THIS_TEST: &str = "process::tests::a_child_is_killed_when_the_launcher_is";

    #[tokio::test]
    async fn a_child_is_killed_when_the_launcher_is() {
        if std::env::var_os(LAUNCHER_ROLE).is_some() {
            // The launcher's part: start a child, say its pid, and wait to be killed.
            let logs = tempfile::tempdir().unwrap();
            let mut command = Command::new("sleep");
            command.arg("30");
            let child = ManagedProcess::spawn("sleep", command, logs.path()).unwrap();
            println!("child pid {}", child.pid().unwrap());
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        let mut launcher = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", THIS_TEST, "--nocapture", "--test-threads", "1"])
            .env(LAUNCHER_ROLE, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (pid_sender, pid) = std::sync::mpsc::channel();
        let output = BufReader::new(launcher.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in output.lines().map_while(Result::ok) {
                // libtest writes its own `test NAME ... ` in front on the same line.
                if let Some((_, pid)) = line.split_once("child pid ") {
                    let _ = pid_sender.send(pid.trim().parse::<u32>().unwrap());
                }
            }
        });
        let child = pid
            .recv_timeout(Duration::from_secs(20))
            .expect("the launcher's copy started a child");
        launcher.kill().unwrap(); // SIGKILL: no destructor runs, no kill_on_drop.
        launcher.wait().unwrap();
        // Dead means gone, or a zombie waiting for whoever adopted it to reap it.
        let alive = || super::is_running(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let still_alive = alive();
        if still_alive {
            let _ = kill(Pid::from_raw(child as i32), Signal::SIGKILL);
        }
        assert!(!still_alive, "the child outlived the launcher");
    }
}
