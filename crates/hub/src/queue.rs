//! The hub's side of the queue: one dispatcher per hub process hands queued jobs to the
//! scanners (connections and the embedded scanner) that have a free slot, first come first
//! served, and the wake-ups that tell it when to look.
//!
//! A slot asks once and waits; the dispatcher claims for it (up to its free slots, in one
//! statement) only when the queue may have changed since it last came back short: a local
//! enqueue or requeue, another hub's `NOTIFY` (PostgreSQL), or the one-second safety net.
//! So idle scanners cost nothing, and a new job wakes one claim, not every connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ferret_store::{Job, JobStore, LeaseEnd, Lessee};
use tokio::sync::{Notify, oneshot};

use crate::Hub;

/// A slot's ask: up to `want` jobs for `holder`, above `floor` when it has one.
struct Ask {
    holder: String,
    floor: Option<i64>,
    want: usize,
    /// The generation at which this ask last came back empty (asks with a floor only).
    empty_at: u64,
    reply: oneshot::Sender<Vec<Job>>,
}

/// The dispatcher's state, shared by the hub's tasks.
#[derive(Debug, Default)]
pub(crate) struct Dispatcher {
    asks: std::sync::Mutex<VecDeque<AskSlot>>,
    /// Bumped whenever the queue may have gained jobs.
    generation: AtomicU64,
    /// Wakes the dispatcher task.
    kick: Notify,
    /// Set when a `NOTIFY` should tell other hubs.
    notify_pending: AtomicBool,
    notify_kick: Notify,
}

/// `Ask` behind a newtype so `Dispatcher` can derive `Debug`.
struct AskSlot(Ask);

impl std::fmt::Debug for AskSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ask")
            .field("holder", &self.0.holder)
            .field("floor", &self.0.floor)
            .field("want", &self.0.want)
            .finish()
    }
}

impl Dispatcher {
    /// Asks for up to `want` jobs for `holder`; the answer comes when there are some.
    /// Dropping the receiver withdraws the ask (jobs claimed for it meanwhile go back).
    pub(crate) fn ask(
        &self,
        holder: &str,
        floor: Option<i64>,
        want: usize,
    ) -> oneshot::Receiver<Vec<Job>> {
        let (reply, rx) = oneshot::channel();
        if let Ok(mut asks) = self.asks.lock() {
            asks.push_back(AskSlot(Ask {
                holder: holder.to_owned(),
                floor,
                want: want.max(1),
                empty_at: u64::MAX,
                reply,
            }));
        }
        self.kick.notify_one();
        rx
    }

    /// The queue may have gained jobs here: look again, and tell other hubs.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.kick.notify_one();
        self.notify_pending.store(true, Ordering::SeqCst);
        self.notify_kick.notify_one();
    }

    /// The queue may have gained jobs elsewhere (another hub, or time): look again.
    pub(crate) fn changed_elsewhere(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.kick.notify_one();
    }

    fn take_ask(&self, skip_floorless: bool, generation: u64) -> Option<Ask> {
        let mut asks = self.asks.lock().ok()?;
        // Withdrawn asks are dropped on the way.
        asks.retain(|a| !a.0.reply.is_closed());
        let i = asks.iter().position(|a| {
            if a.0.floor.is_none() {
                !skip_floorless
            } else {
                a.0.empty_at != generation
            }
        })?;
        asks.remove(i).map(|a| a.0)
    }

    fn put_back(&self, ask: Ask) {
        if let Ok(mut asks) = self.asks.lock() {
            asks.push_front(AskSlot(ask));
        }
    }
}

/// Claims jobs for the asks waiting, in order, whenever the queue may have changed.
pub(crate) async fn dispatch(hub: Arc<Hub>) {
    let d = &hub.dispatcher;
    // The generation at which a floorless claim came back short: nothing to claim until
    // the queue changes again.
    let mut drained_at = u64::MAX;
    let lease_ms = i64::try_from(hub.config.lease_timeout.as_millis()).unwrap_or(i64::MAX);
    loop {
        let generation = d.generation.load(Ordering::SeqCst);
        let Some(mut ask) = d.take_ask(drained_at == generation, generation) else {
            tokio::select! {
                () = d.kick.notified() => continue,
                () = hub.stopped() => return,
            }
        };
        if hub.stopping() {
            return;
        }
        let lessee = Lessee {
            hub: &hub.instance,
            holder: &ask.holder,
        };
        let want = i64::try_from(ask.want).unwrap_or(1);
        match hub.store.claim(lessee, ask.floor, want, lease_ms).await {
            Ok(jobs) => {
                if jobs.len() < ask.want {
                    match ask.floor {
                        None => drained_at = generation,
                        Some(_) => ask.empty_at = generation,
                    }
                }
                if jobs.is_empty() {
                    d.put_back(ask);
                    continue;
                }
                metrics::counter!("ferret_jobs_dispatched_total").increment(jobs.len() as u64);
                if let Err(jobs) = ask.reply.send(jobs) {
                    // The slot went away while its jobs were claimed: they go back.
                    give_back(&hub, &ask.holder, &jobs).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming jobs");
                d.put_back(ask);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    () = hub.stopped() => return,
                }
            }
        }
    }
}

/// Returns jobs claimed for a slot that is gone, counting nothing.
async fn give_back(hub: &Arc<Hub>, holder: &str, jobs: &[Job]) {
    let end = LeaseEnd::Returned("the scanner left before the job was sent".to_owned());
    let mut back = Vec::new();
    for job in jobs {
        match hub.store.release(&job.id, holder, &end, hub.limits()).await {
            Ok(r) => back.extend(r),
            Err(e) => tracing::error!(error = %e, "returning a job"),
        }
    }
    hub.ended(&back, "returned");
}

/// Wakes the dispatcher every second whatever else happens: a safety net for wake-ups
/// lost with a dropped `LISTEN` connection, or jobs another process queued on SQLite.
pub(crate) async fn poll(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => hub.dispatcher.changed_elsewhere(),
            () = hub.stopped() => return,
        }
    }
}

/// PostgreSQL: tells the other hubs on the database when this one queued work
/// (`NOTIFY`, coalesced: one in flight at a time), and wakes this one when they did
/// (`LISTEN`, reconnecting after errors).
pub(crate) async fn cross_hub(hub: Arc<Hub>) {
    let Some(url) = hub
        .config
        .database_url
        .clone()
        .filter(|u| u.starts_with("postgres"))
    else {
        return;
    };
    let channel = match hub
        .store
        .setting_or_init("queue_channel", || {
            format!(
                "ferret_jobs_{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            )
        })
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reading the queue's notification channel");
            return;
        }
    };
    tokio::spawn(notifier(hub.clone(), channel.clone()));
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut listener = match ferret_store::Listener::connect(&url, &channel).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "listening for other hubs' jobs");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = hub.stopped() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        // Whatever was announced while not listening is looked for now.
        hub.dispatcher.changed_elsewhere();
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(Some(from)) => {
                        if from != hub.instance {
                            hub.dispatcher.changed_elsewhere();
                        }
                    }
                    // Reconnected: what was announced meanwhile is looked for now.
                    Ok(None) => hub.dispatcher.changed_elsewhere(),
                    Err(e) => {
                        tracing::warn!(error = %e, "the listening connection failed");
                        break;
                    }
                },
                () = hub.stopped() => return,
            }
        }
    }
}

async fn notifier(hub: Arc<Hub>, channel: String) {
    let d = &hub.dispatcher;
    loop {
        if !d.notify_pending.swap(false, Ordering::SeqCst) {
            tokio::select! {
                () = d.notify_kick.notified() => continue,
                () = hub.stopped() => return,
            }
        }
        if let Err(e) = hub.store.notify(&channel, &hub.instance).await {
            tracing::warn!(error = %e, "telling other hubs about queued jobs");
        }
    }
}
