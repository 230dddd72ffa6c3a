//! Readers that check what they stream: the digest and size of a blob, checked at the end
//! of the stream, so no byte of a corrupted blob is taken as good once the stream ends.

use std::io::{self, Read};

use ferret_model::{Digest, Hasher};

use crate::ImageError;

/// Wraps a blob stream, hashing every byte. At end of stream the digest (and the size,
/// when known) must match, or the final read fails with an [`ImageError`] inside the
/// `io::Error`; reading past the expected size fails at once.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    expected_size: Option<u64>,
    read: u64,
    what: String,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>, what: String) -> Self {
        Self {
            inner,
            hasher: Some(expected.hasher()),
            expected,
            expected_size,
            read: 0,
            what,
        }
    }

    fn fail(&self, err: ImageError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        let n = self.inner.read(buf)?;
        if n > 0 {
            hasher.update(&buf[..n]);
            self.read += n as u64;
            if let Some(size) = self.expected_size
                && self.read > size
            {
                return Err(self.fail(ImageError::SizeMismatch {
                    what: self.what.clone(),
                    expected: size,
                    actual: self.read,
                }));
            }
            return Ok(n);
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(0);
        };
        if let Some(size) = self.expected_size
            && self.read != size
        {
            return Err(self.fail(ImageError::SizeMismatch {
                what: self.what.clone(),
                expected: size,
                actual: self.read,
            }));
        }
        let actual = hasher.finish();
        if actual != self.expected {
            return Err(self.fail(ImageError::DigestMismatch {
                what: self.what.clone(),
                expected: self.expected.clone(),
                actual,
            }));
        }
        Ok(0)
    }
}

/// Reads a small document fully, refusing more than `limit` bytes, and checks its digest.
pub fn read_verified(
    mut reader: impl Read,
    expected: &Digest,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, ImageError> {
    let mut buf = Vec::new();
    (&mut reader)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ImageError::read(what, e))?;
    if buf.len() as u64 > limit {
        return Err(ImageError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    let mut hasher = expected.hasher();
    hasher.update(&buf);
    let actual = hasher.finish();
    if &actual != expected {
        return Err(ImageError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_mismatch_at_end_of_stream() {
        let good = Digest::sha256_of(b"hello");
        let mut r = VerifyingReader::new(&b"hello"[..], good.clone(), Some(5), "blob".into());
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();

        let mut r = VerifyingReader::new(&b"hellx"[..], good.clone(), None, "blob".into());
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&good.to_string()), "{msg}");

        let mut r = VerifyingReader::new(&b"hello!"[..], good, Some(5), "blob".into());
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }
}
