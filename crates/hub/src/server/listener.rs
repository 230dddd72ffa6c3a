//! The HTTP listener, made so that no client can starve the hub: every connection has a
//! deadline for its request headers (from their first byte) and for idling between
//! requests; request bodies have one too; open connections are capped below the process's
//! file-descriptor limit, and when the cap is reached the connection that has waited
//! longest without a request in progress is closed to make room, so a crowd of
//! half-sent requests cannot keep a new client — a health check, a scanner — out.
//! WebSocket connections leave this accounting once upgraded (they authenticated first).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Limits on HTTP clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a request's headers may take to arrive, from their first byte.
    pub header_timeout: Duration,
    /// How long a connection may sit without a request.
    pub idle_timeout: Duration,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// Open connections at most (WebSockets aside); lowered to fit the file-descriptor
    /// limit.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// File descriptors kept back for the database, blobs, the gRPC port and WebSockets.
const FD_RESERVE: u64 = 1024;

/// The connection cap: the configured one, or less when the process may not open that
/// many files.
pub(crate) fn connection_cap(configured: usize) -> usize {
    let fds = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
    let room = usize::try_from(fds.saturating_sub(FD_RESERVE).max(64)).unwrap_or(usize::MAX);
    configured.clamp(1, room)
}

/// Milliseconds since the listener started (0 means "never").
fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// One connection's state, shared by its task, its I/O and its requests.
#[derive(Debug)]
struct Conn {
    cancel: Notify,
    /// Requests whose responses are not yet sent.
    active: AtomicUsize,
    /// When it last became idle (ms since start).
    idle_since: AtomicU64,
    /// When the first byte of a request arrived while idle (0: none yet).
    first_byte: AtomicU64,
}

impl Conn {
    fn waiting(&self) -> bool {
        self.active.load(Ordering::SeqCst) == 0
    }
}

/// Counts a request in progress until its response body is dropped (sent or abandoned).
struct InFlight {
    conn: Arc<Conn>,
    start: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.conn.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.conn.first_byte.store(0, Ordering::SeqCst);
            self.conn
                .idle_since
                .store(ms_since(self.start), Ordering::SeqCst);
        }
    }
}

/// A response body that keeps its request counted until it is done.
struct Counted {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl http_body::Body for Counted {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting when a request's first byte arrives on an idle connection.
struct Watched<S> {
    io: S,
    conn: Arc<Conn>,
    start: Instant,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before
            && self.conn.waiting()
            && self.conn.first_byte.load(Ordering::SeqCst) == 0
        {
            self.conn
                .first_byte
                .store(ms_since(self.start), Ordering::SeqCst);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Every open connection, in the order they came, for making room.
#[derive(Debug, Default)]
struct Registry {
    conns: HashMap<u64, Arc<Conn>>,
    order: VecDeque<u64>,
}

impl Registry {
    /// Closes the connection that has been waiting for a request the longest; `false` when
    /// every connection has a request in progress.
    fn evict_one(&mut self) -> bool {
        let mut busy = Vec::new();
        let mut evicted = false;
        while let Some(id) = self.order.pop_front() {
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            if c.waiting() {
                c.cancel.notify_one();
                self.conns.remove(&id);
                evicted = true;
                break;
            }
            busy.push(id);
        }
        // Busy ones keep their turn, at the back.
        self.order.extend(busy);
        evicted
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets open requests finish for
/// up to `drain`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    stop: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let cap = connection_cap(limits.max_connections);
    let start = Instant::now();
    let registry = Arc::new(Mutex::new(Registry::default()));
    let live = Arc::new(AtomicUsize::new(0));
    let all_closed = Arc::new(Notify::new());
    let shutdown = Arc::new(tokio::sync::watch::channel(false).0);
    let mut next_id = 0u64;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let limits = Arc::new(limits);
    tokio::pin!(stop);
    let mut accept_errors_logged: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: make room,
                    // wait a moment, go on.
                    if accept_errors_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "accepting a connection");
                        accept_errors_logged = Some(Instant::now());
                    }
                    if let Ok(mut r) = registry.lock() {
                        r.evict_one();
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        if live.load(Ordering::SeqCst) >= cap {
            let made_room = registry.lock().map(|mut r| r.evict_one()).unwrap_or(false);
            if made_room {
                metrics::counter!("ferret_http_connections_evicted_total").increment(1);
            } else {
                metrics::counter!("ferret_http_connections_refused_total").increment(1);
                drop(stream);
                continue;
            }
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn {
            cancel: Notify::new(),
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(ms_since(start)),
            first_byte: AtomicU64::new(0),
        });
        if let Ok(mut r) = registry.lock() {
            r.conns.insert(id, conn.clone());
            r.order.push_back(id);
        }
        live.fetch_add(1, Ordering::SeqCst);
        let (router, builder, limits) = (router.clone(), builder.clone(), limits.clone());
        let (registry, live, all_closed) = (registry.clone(), live.clone(), all_closed.clone());
        let mut shutdown = shutdown.subscribe();
        tokio::spawn(async move {
            let service_conn = conn.clone();
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    let mut router = router.clone();
                    service_conn.active.fetch_add(1, Ordering::SeqCst);
                    let in_flight = InFlight {
                        conn: service_conn.clone(),
                        start,
                    };
                    req.extensions_mut().insert(ConnectInfo(peer));
                    async move {
                        let response =
                            match tower::Service::call(&mut router, req.map(axum::body::Body::new))
                                .await
                            {
                                Ok(r) => r,
                                Err(never) => match never {},
                            };
                        Ok::<_, Infallible>(response.map(|body| Counted {
                            body,
                            _in_flight: in_flight,
                        }))
                    }
                },
            );
            let io = TokioIo::new(Watched {
                io: stream,
                conn: conn.clone(),
                start,
            });
            let served = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(served);
            let mut draining = false;
            loop {
                // The next deadline: headers due since their first byte, or idleness.
                let now = ms_since(start);
                let deadline_ms = if conn.waiting() {
                    let first = conn.first_byte.load(Ordering::SeqCst);
                    Some(if first > 0 {
                        first + limits.header_timeout.as_millis() as u64
                    } else {
                        conn.idle_since.load(Ordering::SeqCst)
                            + limits.idle_timeout.as_millis() as u64
                    })
                } else {
                    None
                };
                let sleep = deadline_ms.map(|d| Duration::from_millis(d.saturating_sub(now)));
                tokio::select! {
                    _ = served.as_mut() => break,
                    () = conn.cancel.notified() => {
                        tracing::debug!(%peer, "connection closed to make room");
                        break;
                    }
                    () = async { tokio::time::sleep(sleep.unwrap_or_default()).await }, if sleep.is_some() && !draining => {
                        // Woken for the deadline; it may have moved (a request began).
                        let still_due = conn.waiting() && {
                            let first = conn.first_byte.load(Ordering::SeqCst);
                            let due = if first > 0 {
                                first + limits.header_timeout.as_millis() as u64
                            } else {
                                conn.idle_since.load(Ordering::SeqCst) + limits.idle_timeout.as_millis() as u64
                            };
                            ms_since(start) >= due
                        };
                        if still_due {
                            metrics::counter!("ferret_http_connections_timed_out_total").increment(1);
                            break;
                        }
                    }
                    // Give it a 100 ms tick while a request runs, to look at the deadline again.
                    () = tokio::time::sleep(Duration::from_millis(100)), if sleep.is_none() && !draining => {}
                    r = shutdown.changed(), if !draining => {
                        if r.is_ok() {
                            draining = true;
                            served.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            if let Ok(mut r) = registry.lock() {
                r.conns.remove(&id);
            }
            if live.fetch_sub(1, Ordering::SeqCst) == 1 {
                all_closed.notify_waiters();
            }
        });
    }
    drop(listener);
    let _ = shutdown.send(true);
    let closed = all_closed.notified();
    tokio::pin!(closed);
    closed.as_mut().enable();
    if live.load(Ordering::SeqCst) > 0 {
        let _ = tokio::time::timeout(drain, closed).await;
    }
}

/// Times out request bodies that arrive too slowly.
pub(crate) fn body_timeout<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    timeout: Duration,
) -> Router<S> {
    router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(timeout))
}

/// Listens on `addr` with a deep accept queue (the kernel caps it at `somaxconn`): a burst
/// of connections waits to be accepted instead of having its SYNs dropped, which would
/// cost a well-behaved client a one-second retransmission.
pub(crate) fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
