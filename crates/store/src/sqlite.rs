//! SQLite's writes: one thread owns the database's write connection and runs what callers
//! send it, all that has queued up in one transaction (group commit), each caller's part
//! in a savepoint of its own so that one failing does not undo the others. A burst of
//! enqueues, claims or results then costs one wake-up and one commit, not a thread hop
//! per statement (the async driver's way, which capped the queue at a few hundred jobs a
//! second on two cores). Callers hear back only after the commit.
//!
//! Reads stay on the async pool: in WAL mode they see every committed batch.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::{Result, StoreError};

/// The most callers' parts one transaction takes.
const MAX_BATCH: usize = 512;

/// What becomes of a part once the batch's commit is known.
type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// A caller's part: run on the batch's transaction (`None` when none could be begun).
type Work = Box<dyn FnOnce(Option<&Transaction<'_>>) -> (bool, Finish) + Send>;

/// Which callers a part may keep waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// What someone waits for: every queued part of this lane goes in the next batch.
    Foreground,
    /// Bulk work (advisory rescans): a batch takes these only for [`BACKGROUND_BUDGET`]
    /// after its foreground parts (at least one), so a burst of them never holds a
    /// submission back for longer than that.
    Background,
}

/// How long a batch may spend on background parts.
const BACKGROUND_BUDGET: std::time::Duration = std::time::Duration::from_millis(2);

struct Part {
    lane: Lane,
    work: Work,
}

#[derive(Debug)]
pub(crate) struct Writer {
    parts: Mutex<Option<mpsc::Sender<Part>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Dropping the sender stops the checkpointer.
    checkpointer: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
}

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens a connection as the store uses them (WAL, a busy timeout for other processes'
/// writers, `synchronous = NORMAL`).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "cache_size", -32_768)?;
    // Each caller's savepoint keeps the pages it changes in a statement journal; in memory,
    // not in a temporary file written page by page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Writer {
    pub(crate) fn start(path: &Path) -> Result<Self> {
        let conn = open(path).map_err(StoreError::Sqlite)?;
        // Checkpoints run beside the writer, never inside one of its commits (where
        // SQLite's automatic ones would stall every caller of that batch while the WAL is
        // copied and synced).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(StoreError::Sqlite)?;
        let checkpoints = open(path).map_err(StoreError::Sqlite)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("ferret-sqlite-checkpoint".to_owned())
            .spawn(move || checkpoint(&checkpoints, &stopped))
            .map_err(|e| StoreError::Commit(format!("starting the checkpoint thread: {e}")))?;
        let (tx, rx) = mpsc::channel::<Part>();
        let thread = std::thread::Builder::new()
            .name("ferret-sqlite-writer".to_owned())
            .spawn(move || run(conn, &rx))
            .map_err(|e| StoreError::Commit(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            parts: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop, checkpointer))),
        })
    }

    /// Runs `f` on the writer's transaction; its result once the batch has committed.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.run_in(Lane::Foreground, f).await
    }

    /// Runs `f` on the writer's transaction in `lane`; its result once its batch has
    /// committed.
    pub(crate) async fn run_in<T, F>(&self, lane: Lane, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T>>();
        let work: Work = Box::new(move |tx| {
            let Some(tx) = tx else {
                let finish: Finish = Box::new(move |e| {
                    let _ = reply.send(Err(StoreError::Commit(
                        e.err().unwrap_or_else(|| "no transaction".to_owned()),
                    )));
                });
                return (true, finish);
            };
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(tx)))
                .unwrap_or_else(|_| Err(StoreError::Commit("a write panicked".to_owned())));
            match outcome {
                Ok(value) => (
                    false,
                    Box::new(move |commit| {
                        let _ = reply.send(commit.map(|()| value).map_err(StoreError::Commit));
                    }),
                ),
                Err(e) => (
                    true,
                    Box::new(move |_| {
                        let _ = reply.send(Err(e));
                    }),
                ),
            }
        });
        let part = Part { lane, work };
        let sent = self
            .parts
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(|s| s.send(part).is_ok()))
            .unwrap_or(false);
        if !sent {
            return Err(StoreError::Commit("the store is closed".to_owned()));
        }
        answer
            .await
            .map_err(|_| StoreError::Commit("the writer stopped".to_owned()))?
    }

    /// Lets the thread finish what it has, then stops it.
    pub(crate) fn close(&self) {
        if let Ok(mut p) = self.parts.lock() {
            p.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
        if let Some((stop, t)) = self.checkpointer.lock().ok().and_then(|mut c| c.take()) {
            drop(stop);
            let _ = t.join();
        }
    }
}

/// Copies what the WAL holds back into the database every [`CHECKPOINT_EVERY`] until
/// `stop` is dropped. Passive: it takes no lock the writer or readers wait on, and copies
/// what no reader still needs.
fn checkpoint(conn: &Connection, stop: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpointing the WAL");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut p) = self.parts.lock() {
            p.take();
        }
        if let Ok(mut c) = self.checkpointer.lock() {
            c.take();
        }
    }
}

fn run(mut conn: Connection, parts: &mpsc::Receiver<Part>) {
    // Background parts received but not yet run, oldest first.
    let mut deferred: std::collections::VecDeque<Part> = std::collections::VecDeque::new();
    loop {
        let mut batch = Vec::new();
        if deferred.is_empty() {
            match parts.recv() {
                Ok(p) => batch.push(p),
                Err(_) => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match parts.try_recv() {
                Ok(p) => batch.push(p),
                Err(mpsc::TryRecvError::Empty) => break,
                // Closed: what is queued still runs; the next `recv` ends the loop.
                Err(mpsc::TryRecvError::Disconnected) => break,
            }
        }
        let (foreground, background): (Vec<Part>, Vec<Part>) =
            batch.into_iter().partition(|p| p.lane == Lane::Foreground);
        deferred.extend(background);
        commit_batch(&mut conn, foreground, &mut deferred);
    }
}

/// Runs `foreground` and then deferred background parts (for [`BACKGROUND_BUDGET`], at
/// least one) in one transaction, and tells each caller the commit's outcome.
fn commit_batch(
    conn: &mut Connection,
    foreground: Vec<Part>,
    deferred: &mut std::collections::VecDeque<Part>,
) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let message = e.to_string();
            for part in foreground.into_iter().chain(deferred.pop_front()) {
                let (_, finish) = (part.work)(None);
                finish(Err(message.clone()));
            }
            return;
        }
    };
    let mut finishes = Vec::with_capacity(foreground.len() + 1);
    let mut run_part = |part: Part| {
        if let Err(e) = tx.execute_batch("SAVEPOINT part") {
            let (_, finish) = (part.work)(None);
            finish(Err(e.to_string()));
            return;
        }
        let (failed, finish) = (part.work)(Some(&tx));
        let end = if failed {
            "ROLLBACK TO part; RELEASE part"
        } else {
            "RELEASE part"
        };
        if let Err(e) = tx.execute_batch(end) {
            tracing::error!(error = %e, "ending a savepoint");
        }
        finishes.push(finish);
    };
    for part in foreground {
        run_part(part);
    }
    let started = std::time::Instant::now();
    let mut ran = 0usize;
    while ran == 0 || started.elapsed() < BACKGROUND_BUDGET {
        let Some(part) = deferred.pop_front() else {
            break;
        };
        run_part(part);
        ran += 1;
    }
    let committed = tx.commit().map_err(|e| e.to_string());
    for finish in finishes {
        finish(committed.clone());
    }
}

/// SQL written for the async driver (`$1`, `$2`, …) as rusqlite binds it: `?1`, `?2`, …
/// bind by number whatever order they appear in.
pub(crate) fn sql(text: &str) -> Cow<'_, str> {
    if !text.contains('$') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_question_marks() {
        assert_eq!(
            sql("UPDATE t SET a = $2 WHERE b = $1 AND c = '$x'"),
            "UPDATE t SET a = ?2 WHERE b = ?1 AND c = '$x'"
        );
    }

    /// Background parts queued before a foreground one do not hold it back: it runs after
    /// at most a budget's worth of them, and every background part still runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_parts_let_foreground_ones_by() {
        let dir = tempfile::tempdir().unwrap();
        let writer = std::sync::Arc::new(Writer::start(&dir.path().join("db")).unwrap());
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..40 {
            let (w, order) = (writer.clone(), order.clone());
            let part = tokio::spawn(async move {
                w.run_in(Lane::Background, move |_| {
                    // Each takes half the budget.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    order.lock().unwrap().push(format!("b{n}"));
                    Ok(())
                })
                .await
            });
            waiting.push(part);
            // Queued in this order.
            tokio::task::yield_now().await;
        }
        while order.lock().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
        let o = order.clone();
        // Already run when the foreground part was sent.
        let before = order.lock().unwrap().len();
        writer
            .run(move |_| {
                o.lock().unwrap().push("f".to_owned());
                Ok(())
            })
            .await
            .unwrap();
        for part in waiting {
            part.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 41, "every part ran: {order:?}");
        let at = order.iter().position(|p| p == "f").unwrap();
        assert!(
            at - before < 6,
            "the foreground part waited for {} background parts: {order:?}",
            at - before
        );
        writer.close();
    }
}
