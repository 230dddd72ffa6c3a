//! A memory budget for what scanners send: result frames may be hundreds of MiB, and
//! the WebSocket layer holds a whole message before the hub sees it. [`Budgeted`] sits
//! under the WebSocket on each scanner connection, reads each frame's header as it passes,
//! and lets a data frame's payload through only once the hub-wide budget has room for all
//! of it. The room is given back when the connection has dealt with the message the frame
//! belongs to ([`Held::message_done`]). A frame that waits longer than the budget's wait
//! fails the connection (the scanner reconnects and sends again); one larger than the whole
//! budget is refused at once. So the frames held across all connections never exceed the
//! budget, whatever scanners send, and a waiting frame holds nothing.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB so that hundreds of GiB fit the semaphore's count.
const UNIT: u64 = 1024;

/// The hub-wide budget.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    units: u64,
    wait: Duration,
}

impl Budget {
    pub(crate) fn new(bytes: u64, wait: Duration) -> Self {
        let units = bytes.div_ceil(UNIT).max(1);
        Self {
            permits: Arc::new(Semaphore::new(
                usize::try_from(units).unwrap_or(Semaphore::MAX_PERMITS),
            )),
            units,
            wait,
        }
    }

    /// Bytes of frames held now.
    pub(crate) fn in_use(&self) -> u64 {
        (self.units - self.permits.available_permits() as u64) * UNIT
    }
}

/// The permits of frames read but not yet dealt with, in arrival order, each with whether
/// it ended its message.
#[derive(Debug, Default)]
pub(crate) struct Held(Mutex<VecDeque<(bool, Option<OwnedSemaphorePermit>)>>);

impl Held {
    /// The connection has dealt with the oldest message: its frames' room goes back.
    pub(crate) fn message_done(&self) {
        let Ok(mut q) = self.0.lock() else { return };
        while let Some((fin, permit)) = q.pop_front() {
            drop(permit);
            if fin {
                break;
            }
        }
    }

    fn push(&self, fin: bool, permit: Option<OwnedSemaphorePermit>) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back((fin, permit));
        }
    }
}

enum State {
    /// Reading a frame header: `have` bytes of it so far, held back.
    Header { hdr: [u8; 14], have: usize },
    /// Waiting for room for a data frame's payload; its header is still held back, so the
    /// WebSocket layer above (which sizes its buffer by the header) has not seen it.
    Room {
        hdr: [u8; 14],
        hlen: usize,
        len: u64,
        fin: bool,
    },
    /// Passing the held header on (`sent` bytes of it so far), then the payload.
    Release {
        hdr: [u8; 14],
        hlen: usize,
        sent: usize,
        len: u64,
    },
    /// Passing `remaining` payload bytes.
    Payload { remaining: u64 },
}

const NEXT_HEADER: State = State::Header {
    hdr: [0; 14],
    have: 0,
};

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// A stream whose incoming WebSocket frames are admitted against a [`Budget`].
pub(crate) struct Budgeted<S> {
    inner: S,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    state: State,
    budget: Budget,
    held: Arc<Held>,
    acquiring: Option<(Acquire, Pin<Box<tokio::time::Sleep>>)>,
}

impl<S> Budgeted<S> {
    pub(crate) fn new(inner: S, budget: Budget, held: Arc<Held>) -> Self {
        Self {
            inner,
            buf: vec![0; 8192].into_boxed_slice(),
            start: 0,
            end: 0,
            state: NEXT_HEADER,
            budget,
            held,
            acquiring: None,
        }
    }
}

/// The length of a frame header whose first bytes are `hdr` (2 until the second byte is
/// known).
fn header_len(hdr: &[u8]) -> usize {
    if hdr.len() < 2 {
        return 2;
    }
    let ext = match hdr[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if hdr[1] & 0x80 != 0 { 4 } else { 0 };
    2 + ext + mask
}

fn payload_len(hdr: &[u8]) -> u64 {
    match hdr[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([hdr[2], hdr[3]])),
        127 => u64::from_be_bytes([
            hdr[2], hdr[3], hdr[4], hdr[5], hdr[6], hdr[7], hdr[8], hdr[9],
        ]),
        n => u64::from(n),
    }
}

fn exhausted(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, message)
}

impl<S: AsyncRead + Unpin> AsyncRead for Budgeted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = out.filled().len();
        loop {
            if out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            match &mut this.state {
                State::Room {
                    hdr,
                    hlen,
                    len,
                    fin,
                } => {
                    let (hdr, hlen, len, fin) = (*hdr, *hlen, *len, *fin);
                    // Bytes already passed in this call go first; an error comes on the next.
                    if out.filled().len() > before && this.acquiring.is_none() {
                        return Poll::Ready(Ok(()));
                    }
                    let units = len.div_ceil(UNIT);
                    if units > this.budget.units {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::FileTooLarge,
                            format!(
                                "a frame of {len} bytes is larger than the hub's whole result memory budget"
                            ),
                        )));
                    }
                    let (acquire, deadline) = this.acquiring.get_or_insert_with(|| {
                        let n = u32::try_from(units).unwrap_or(u32::MAX);
                        (
                            Box::pin(this.budget.permits.clone().acquire_many_owned(n)),
                            Box::pin(tokio::time::sleep(this.budget.wait)),
                        )
                    });
                    match acquire.as_mut().poll(cx) {
                        Poll::Ready(Ok(permit)) => {
                            this.acquiring = None;
                            this.held.push(fin, Some(permit));
                            this.state = State::Release {
                                hdr,
                                hlen,
                                sent: 0,
                                len,
                            };
                        }
                        Poll::Ready(Err(_)) => {
                            return Poll::Ready(Err(exhausted("the budget is closed".to_owned())));
                        }
                        Poll::Pending => {
                            if out.filled().len() > before {
                                return Poll::Ready(Ok(()));
                            }
                            if deadline.as_mut().poll(cx).is_ready() {
                                this.acquiring = None;
                                metrics::counter!("ferret_result_frames_refused_total", "reason" => "memory budget").increment(1);
                                return Poll::Ready(Err(exhausted(format!(
                                    "no room for a frame of {len} bytes in the hub's result memory budget within {:?}",
                                    this.budget.wait
                                ))));
                            }
                            return Poll::Pending;
                        }
                    }
                }
                State::Release {
                    hdr,
                    hlen,
                    sent,
                    len,
                } => {
                    let n = (*hlen - *sent).min(out.remaining());
                    out.put_slice(&hdr[*sent..*sent + n]);
                    *sent += n;
                    if *sent == *hlen {
                        this.state = if *len == 0 {
                            NEXT_HEADER
                        } else {
                            State::Payload { remaining: *len }
                        };
                    }
                }
                State::Header { .. } | State::Payload { .. } => {
                    if this.start == this.end {
                        if out.filled().len() > before {
                            return Poll::Ready(Ok(()));
                        }
                        let mut rb = ReadBuf::new(&mut this.buf);
                        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                        let n = rb.filled().len();
                        if n == 0 {
                            // End of stream; a header cut short is the layer above's to
                            // notice.
                            return Poll::Ready(Ok(()));
                        }
                        this.start = 0;
                        this.end = n;
                    }
                    let avail = &this.buf[this.start..this.end];
                    match &mut this.state {
                        State::Header { hdr, have } => {
                            let need = header_len(&hdr[..*have]) - *have;
                            let n = need.min(avail.len());
                            hdr[*have..*have + n].copy_from_slice(&avail[..n]);
                            *have += n;
                            this.start += n;
                            let hlen = header_len(&hdr[..*have]);
                            if *have >= 2 && *have == hlen {
                                let len = payload_len(hdr);
                                let fin = hdr[0] & 0x80 != 0;
                                // Data frames (continuation, text, binary) need room;
                                // control frames are at most 125 bytes.
                                let data = hdr[0] & 0x0f < 0x8;
                                let hdr = *hdr;
                                this.state = if data && len > 0 {
                                    State::Room {
                                        hdr,
                                        hlen,
                                        len,
                                        fin,
                                    }
                                } else {
                                    if data {
                                        this.held.push(fin, None);
                                    }
                                    State::Release {
                                        hdr,
                                        hlen,
                                        sent: 0,
                                        len,
                                    }
                                };
                            }
                        }
                        State::Payload { remaining } => {
                            let n = usize::try_from(*remaining)
                                .unwrap_or(usize::MAX)
                                .min(avail.len())
                                .min(out.remaining());
                            out.put_slice(&avail[..n]);
                            this.start += n;
                            *remaining -= n as u64;
                            if *remaining == 0 {
                                this.state = NEXT_HEADER;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Budgeted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A masked client frame.
    fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend_from_slice(payload);
        f
    }

    #[tokio::test]
    async fn frames_pass_whole_and_hold_room_until_their_message_is_done() {
        let budget = Budget::new(64 * 1024, Duration::from_millis(200));
        let held = Arc::new(Held::default());
        let mut wire = frame(0x1, false, &[b'a'; 20_000]);
        wire.extend(frame(0x9, true, b"ping"));
        wire.extend(frame(0x0, true, &[b'b'; 10_000]));
        wire.extend(frame(0x2, true, &[b'c'; 1000]));
        let mut r = Budgeted::new(&wire[..], budget.clone(), held.clone());
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, wire, "bytes pass unchanged");
        assert_eq!(budget.in_use(), (20 + 10 + 1) * 1024);
        held.message_done();
        assert_eq!(
            budget.in_use(),
            1024,
            "the first message's two frames went back"
        );
        held.message_done();
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_frame_waits_for_room_then_fails_and_one_larger_than_the_budget_at_once() {
        let budget = Budget::new(16 * 1024, Duration::from_millis(100));
        let held = Arc::new(Held::default());
        let first = frame(0x1, true, &[b'a'; 12_000]);
        let mut r = Budgeted::new(&first[..], budget.clone(), held.clone());
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        // Room for 12 KiB is held; a second 12 KiB frame cannot get in.
        let second = frame(0x1, true, &[b'b'; 12_000]);
        let mut r2 = Budgeted::new(&second[..], budget.clone(), Arc::new(Held::default()));
        let err = r2.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("within"), "{err}");
        // Once the first message is done, it fits.
        held.message_done();
        let mut r3 = Budgeted::new(&second[..], budget.clone(), Arc::new(Held::default()));
        r3.read_to_end(&mut Vec::new()).await.unwrap();
        let huge = frame(0x1, true, &[b'c'; 40_000]);
        let mut r4 = Budgeted::new(&huge[..], budget, Arc::new(Held::default()));
        let err = r4.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
