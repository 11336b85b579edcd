//! Where log lines go: stdout, a batch at a time. Each line is added to a buffer, and the buffer
//! is written out when the runtime has nothing left to run and is about to wait (its
//! `on_thread_park` hook, [`flush`]), when it holds [`WRITE_AT`] bytes, and at the end of
//! `main`. A line written on every request cost the apps a `write` system call each, the
//! largest part of the line's cost in their profiles (docs/benchmark.md); now a burst of
//! requests shares one. A line waits until its runtime runs out of ready work (between bursts
//! of requests, and at once when it is idle) or until the buffer fills.
//!
//! Outside a runtime's thread nothing parks, so there each line is written at once. A process
//! killed with SIGKILL loses the lines of its last unfinished burst; a panic writes what is
//! buffered before it is reported.

use std::io::{self, Write};
use std::sync::Mutex;

/// Past this many buffered bytes (about fifty request lines) the buffer is written at once,
/// whether or not the runtime has parked.
pub const WRITE_AT: usize = 16 * 1024;

/// The log lines not yet written to stdout.
static STDOUT: Batches<io::Stdout> = Batches::new(io::stdout);

/// Writes what is buffered to stdout: the runtime's `on_thread_park` hook, and the end of `main`.
pub fn flush() {
    STDOUT.flush();
}

/// Where tracing-subscriber writes each log line (its `MakeWriter`): into the buffer.
pub fn writer() -> Line<'static, io::Stdout> {
    STDOUT.line()
}

/// A buffer of whole lines in front of a sink made by `open`.
pub struct Batches<W> {
    buffer: Mutex<Vec<u8>>,
    open: fn() -> W,
}

impl<W: Write> Batches<W> {
    pub const fn new(open: fn() -> W) -> Self {
        Self {
            buffer: Mutex::new(Vec::new()),
            open,
        }
    }

    pub fn line(&self) -> Line<'_, W> {
        Line(self)
    }

    /// Adds `line`, and writes the buffer if it is over [`WRITE_AT`] or if no runtime will
    /// park to write it later.
    fn add(&self, line: &[u8]) {
        let mut buffer = self
            .buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        buffer.extend_from_slice(line);
        if buffer.len() >= WRITE_AT || tokio::runtime::Handle::try_current().is_err() {
            self.write_out(&mut buffer);
        }
    }

    pub fn flush(&self) {
        let mut buffer = self
            .buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !buffer.is_empty() {
            self.write_out(&mut buffer);
        }
    }

    fn write_out(&self, buffer: &mut Vec<u8>) {
        // Nowhere to tell of a failed log write: the lines are dropped, as stdout's own
        // writer in tracing-subscriber would drop them.
        let mut sink = (self.open)();
        let _ = sink.write_all(buffer).and_then(|()| sink.flush());
        buffer.clear();
    }
}

/// One line as tracing-subscriber formats it (it formats into a buffer of its own and writes
/// the whole line with one `write_all`).
pub struct Line<'a, W: Write>(&'a Batches<W>);

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.add(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// What each write to the sink carried.
    static WRITES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    struct Recorded;

    impl Write for Recorded {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            WRITES.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn writes() -> Vec<String> {
        std::mem::take(&mut *WRITES.lock().unwrap())
            .into_iter()
            .map(|bytes| String::from_utf8(bytes).unwrap())
            .collect()
    }

    // One test, in order: the sink is a static the steps share.
    #[test]
    fn lines_wait_for_the_runtime_to_park_or_the_buffer_to_fill() {
        static BATCHES: Batches<Recorded> = Batches::new(|| Recorded);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .on_thread_park(|| BATCHES.flush())
            .enable_all()
            .build()
            .unwrap();

        // Lines logged by tasks that run without waiting reach the sink together, when the
        // runtime runs out of work.
        runtime.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                for n in 0..3 {
                    BATCHES
                        .line()
                        .write_all(format!("line {n}\n").as_bytes())
                        .unwrap();
                }
                tokio::task::yield_now().await;
                BATCHES.line().write_all(b"line 3\n").unwrap();
                tx.send(writes()).unwrap();
            });
            let before_parking = rx.await.unwrap();
            assert_eq!(before_parking, Vec::<String>::new());
            // Nothing left to run while it sleeps: the runtime parks.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            assert_eq!(writes(), ["line 0\nline 1\nline 2\nline 3\n"]);
        });

        // A full buffer is written without waiting for a park.
        runtime.block_on(async {
            let line = format!("{}\n", "x".repeat(1023));
            for _ in 0..WRITE_AT / line.len() {
                BATCHES.line().write_all(line.as_bytes()).unwrap();
            }
            assert_eq!(writes().concat().len(), WRITE_AT);
        });

        // Outside a runtime, each line is written at once.
        BATCHES.line().write_all(b"alone\n").unwrap();
        assert_eq!(writes(), ["alone\n"]);
    }
}
