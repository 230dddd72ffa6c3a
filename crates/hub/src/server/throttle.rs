//! Failed authentications, counted per client address: past `limit` failures within a
//! `window`, that address is refused without a check until the window has passed, so a
//! wrong secret or password cannot be tried fast or cost the hub argon2 work and log
//! lines at the attacker's pace. Refusals are counted in `/metrics` and logged at most
//! once a second, as a sum.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; past it, those whose window is over are forgotten first.
const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug)]
struct Entry {
    since: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
struct Log {
    last: Option<Instant>,
    failed: u64,
    throttled: u64,
}

#[derive(Debug)]
pub(crate) struct Throttle {
    limit: u32,
    window: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
    log: Mutex<Log>,
}

/// IPv6 clients are counted by their /64, which one host usually holds whole.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
    }
}

impl Throttle {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            entries: Mutex::new(HashMap::new()),
            log: Mutex::new(Log::default()),
        }
    }

    /// How long `ip` must wait before trying again; `None` when it may try now.
    pub(crate) fn blocked(&self, door: &'static str, ip: IpAddr) -> Option<Duration> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(&key(ip))?;
        let elapsed = e.since.elapsed();
        if e.failures >= self.limit && elapsed < self.window {
            drop(entries);
            metrics::counter!("ferret_auth_throttled_total", "door" => door).increment(1);
            self.note(door, false);
            return Some(self.window - elapsed);
        }
        None
    }

    /// Counts a failed authentication from `ip`.
    pub(crate) fn failed(&self, door: &'static str, ip: IpAddr) {
        metrics::counter!("ferret_auth_failures_total", "door" => door).increment(1);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ADDRESSES {
                let window = self.window;
                entries.retain(|_, e| e.since.elapsed() < window);
                if entries.len() >= MAX_ADDRESSES {
                    // Still full of live windows: forget the oldest half.
                    let mut ages: Vec<Instant> = entries.values().map(|e| e.since).collect();
                    ages.sort();
                    let cut = ages[ages.len() / 2];
                    entries.retain(|_, e| e.since > cut);
                }
            }
            let e = entries.entry(key(ip)).or_insert(Entry {
                since: Instant::now(),
                failures: 0,
            });
            if e.since.elapsed() >= self.window {
                *e = Entry {
                    since: Instant::now(),
                    failures: 0,
                };
            }
            e.failures = e.failures.saturating_add(1);
        }
        self.note(door, true);
    }

    /// Logs refusals as one line a second at most.
    fn note(&self, door: &'static str, failed: bool) {
        let Ok(mut log) = self.log.lock() else { return };
        if failed {
            log.failed += 1;
        } else {
            log.throttled += 1;
        }
        let now = Instant::now();
        if log
            .last
            .is_none_or(|l| now.duration_since(l) >= Duration::from_secs(1))
        {
            tracing::warn!(
                door,
                failed = log.failed,
                throttled = log.throttled,
                "authentication refused (counts since the last such line)"
            );
            *log = Log {
                last: Some(now),
                failed: 0,
                throttled: 0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_past_its_limit_until_the_window_ends() {
        let t = Throttle::new(3, Duration::from_millis(200));
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..3 {
            assert!(t.blocked("scanner", a).is_none());
            t.failed("scanner", a);
        }
        assert!(t.blocked("scanner", a).is_some());
        assert!(t.blocked("scanner", b).is_none(), "other addresses are not");
        std::thread::sleep(Duration::from_millis(250));
        assert!(t.blocked("scanner", a).is_none());
    }

    #[test]
    fn ipv6_hosts_count_by_their_64() {
        let t = Throttle::new(1, Duration::from_secs(60));
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "2001:db8::2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        t.failed("api", a);
        assert!(t.blocked("api", b).is_some());
    }
}
