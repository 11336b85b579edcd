//! The run's name resolution: every daprd registers the address of its internal gRPC API under
//! its app id in one SQLite file in the run's folder (Dapr's `nameresolution.sqlite`, table
//! `hosts`), and a caller's daprd picks one of the fresh rows of the app id it calls, at random,
//! on every call (components-contrib 1.16.5 `nameresolution/sqlite`).
//!
//! A rollout reads it to know a new replica is callable, and withdraws a replica that is
//! stopping, as Kubernetes removes a terminating pod from its endpoints: its row moves to
//! another app id, so callers stop picking it, while daprd can still renew and, at its
//! shutdown, delete the row (both go by its registration id and address, not its app id;
//! deleting the row instead would make daprd's next renewal end the process: "Host
//! registration lost").

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, params};

/// The file's name, as `dapr-config/*.yaml` give it (`connectionString`), in daprd's working
/// folder, the run's.
const FILE: &str = "nameresolution.db";

/// What a withdrawn registration's app id becomes.
const WITHDRAWN_SUFFIX: &str = " (withdrawn)";

pub struct NameResolution {
    path: PathBuf,
}

impl NameResolution {
    pub fn of_run(workdir: &Path) -> Self {
        Self {
            path: workdir.join(FILE),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection =
            Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        // The sidecars write it too (renewals every few seconds): wait for their locks.
        connection.busy_timeout(Duration::from_secs(5))?;
        Ok(connection)
    }

    /// Whether `address` is registered under `app_id` (false while the file or its table does
    /// not exist yet).
    pub fn is_registered(&self, app_id: &str, address: &str) -> bool {
        let found = self.open().and_then(|connection| {
            connection.query_row(
                "SELECT count(*) FROM hosts WHERE app_id = ?1 AND address = ?2",
                params![app_id, address],
                |row| row.get::<_, i64>(0),
            )
        });
        matches!(found, Ok(count) if count > 0)
    }

    /// Takes `address` out of what callers of `app_id` are given; false if it was not there
    /// (its daprd had already exited, which deletes its row).
    pub fn withdraw(&self, app_id: &str, address: &str) -> anyhow::Result<bool> {
        let withdrawn = format!("{app_id}{WITHDRAWN_SUFFIX}");
        let changed = self
            .open()
            .and_then(|connection| {
                connection.execute(
                    "UPDATE hosts SET app_id = ?1 WHERE app_id = ?2 AND address = ?3",
                    params![withdrawn, app_id, address],
                )
            })
            .with_context(|| format!("withdrawing {address} in {}", self.path.display()))?;
        Ok(changed > 0)
    }
}
