//! What long feed work reports as it goes, for a terminal's progress bars and the
//! service's log: each download's bytes (of the declared total), then each import's
//! records.

/// One step of `update` or an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEvent<'a> {
    /// A download started; `total` is the declared size, when the server gave one.
    Download { url: &'a str, total: Option<u64> },
    /// More bytes of the current download arrived.
    Downloaded(u64),
    /// The current download finished, with this many bytes.
    Fetched { url: &'a str, bytes: u64 },
    /// An import started (the inputs, or the URL they came from).
    Import { source: &'a str },
    /// Records read into the current import so far.
    Records(u64),
    /// A feed was imported: its name and record count.
    Imported { feed: &'a str, records: u64 },
}

/// Receives [`FeedEvent`]s; shared by the threads of an import.
pub type Progress<'a> = &'a (dyn Fn(FeedEvent<'_>) + Sync);

/// Reports nothing.
pub fn no_progress(_: FeedEvent<'_>) {}

/// How often (in records) an import reports.
pub(crate) const RECORDS_EVERY: u64 = 2048;

/// A reader that reports the bytes passing through it.
pub(crate) struct Counting<'p, R> {
    pub inner: R,
    pub progress: Progress<'p>,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.progress)(FeedEvent::Downloaded(n as u64));
        }
        Ok(n)
    }
}
