//! What the hub's benchmarks share: a free loopback address and latency percentiles.

use std::time::Duration;

/// A loopback address no one listens on yet.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// How many samples, and their p50, p99 and max in milliseconds.
pub struct Latency {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn latency(mut v: Vec<Duration>) -> Latency {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]);
    Latency {
        n: v.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: ms(*v.last().unwrap()),
    }
}
