//! The run's name resolution: every daprd registers the address of its internal gRPC API under
//! its app id in one SQLite file in the run's folder (Dapr's `nameresolution.sqlite`, table
//! `hosts`), and a caller's daprd picks one of the fresh rows of the app id it calls, at random,
//! on every call (components-contrib 1.16.5 `nameresolution/sqlite`).
//!
//! The launcher keeps it as Kubernetes keeps a Service's endpoints, by moving rows to another
//! app id, so callers do not pick them, while daprd can still renew and, at its shutdown,
//! delete its row (both go by its registration id and address, not its app id; deleting the
//! row instead would make daprd's next renewal end the process: "Host registration lost"):
//! - a new replica is **held** until it can serve, as a pod joins the endpoints only once it
//!   is ready: daprd registers early in its start, before its internal gRPC API listens and
//!   before its first app health probe has passed, and a call routed to it then is refused;
//! - a stopping replica is **withdrawn**, as a terminating pod leaves the endpoints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, params};

/// The file's name, as `dapr-config/*.yaml` give it (`connectionString`), in daprd's working
/// folder, the run's.
const FILE: &str = "nameresolution.db";

/// What a withdrawn registration's app id becomes.
const WITHDRAWN_SUFFIX: &str = " (withdrawn)";
/// What a held registration's app id is until it is admitted.
const HELD_SUFFIX: &str = " (starting)";
/// Moves `address`'s row from app id `?2` to `?1`.
const MOVE: &str = "UPDATE hosts SET app_id = ?1 WHERE app_id = ?2 AND address = ?3";

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

    /// Keeps the registration daprd will make for `address` out of what callers of `app_id`
    /// are given, until [`Self::admit`]: a trigger moves the row to another app id as daprd
    /// writes it. False, and nothing held, when `app_id` has no replica registered yet: callers
    /// have no other replica to be given meanwhile, and daprd needs a row of its own app id to
    /// invoke its own app (it resolves the app id before it sees the call is its own).
    pub fn hold(&self, app_id: &str, address: &str) -> anyhow::Result<bool> {
        let Ok(connection) = self.open() else {
            return Ok(false);
        };
        let has_replicas = connection
            .query_row(
                "SELECT count(*) FROM hosts WHERE app_id = ?1",
                params![app_id],
                |row| row.get::<_, i64>(0),
            )
            .is_ok_and(|count| count > 0);
        if !has_replicas {
            return Ok(false);
        }
        // A trigger takes no parameters: the values go in as SQL literals.
        let held = format!("{app_id}{HELD_SUFFIX}");
        connection
            .execute_batch(&format!(
                "CREATE TRIGGER IF NOT EXISTS {trigger} AFTER INSERT ON hosts \
                 WHEN NEW.app_id = {app_id} AND NEW.address = {address} \
                 BEGIN UPDATE hosts SET app_id = {held} WHERE rowid = NEW.rowid; END",
                trigger = hold_trigger(address),
                app_id = literal(app_id),
                address = literal(address),
                held = literal(&held),
            ))
            .with_context(|| format!("holding {address} in {}", self.path.display()))?;
        Ok(true)
    }

    /// Gives `address`, held by [`Self::hold`], to callers of `app_id`.
    pub fn admit(&self, app_id: &str, address: &str) -> anyhow::Result<()> {
        let held = format!("{app_id}{HELD_SUFFIX}");
        self.open()
            .and_then(|mut connection| {
                let admitting = connection.transaction()?;
                admitting
                    .execute_batch(&format!("DROP TRIGGER IF EXISTS {}", hold_trigger(address)))?;
                admitting.execute(MOVE, params![app_id, held, address])?;
                admitting.commit()
            })
            .with_context(|| format!("admitting {address} in {}", self.path.display()))
    }

    /// Takes `address` out of what callers of `app_id` are given; false if it was not there
    /// (its daprd had already exited, which deletes its row).
    pub fn withdraw(&self, app_id: &str, address: &str) -> anyhow::Result<bool> {
        let withdrawn = format!("{app_id}{WITHDRAWN_SUFFIX}");
        let changed = self
            .open()
            .and_then(|connection| connection.execute(MOVE, params![withdrawn, app_id, address]))
            .with_context(|| format!("withdrawing {address} in {}", self.path.display()))?;
        Ok(changed > 0)
    }
}

fn hold_trigger(address: &str) -> String {
    literal_with(&format!("hold {address}"), '"')
}

fn literal(value: &str) -> String {
    literal_with(value, '\'')
}

/// `value` quoted with `quote` for SQL, the quote doubled inside.
fn literal_with(value: &str, quote: char) -> String {
    let doubled: String = [quote, quote].iter().collect();
    format!("{quote}{}{quote}", value.replace(quote, &doubled))
}
