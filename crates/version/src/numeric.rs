//! Versions that are lists of numbers: CRAN (`1.2-3`, separators `.` and `-`) and Hackage
//! (`1.0.2.1`). Compared component by component; a prefix sorts first.

use std::cmp::Ordering;

use crate::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone)]
pub struct Numeric {
    parts: Vec<String>,
}

impl Numeric {
    pub(crate) fn parse(
        input: &str,
        scheme: Scheme,
        separators: &[char],
    ) -> Result<Self, VersionError> {
        let s = input.trim();
        let parts: Vec<String> = s.split(separators).map(str::to_owned).collect();
        if s.is_empty()
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(VersionError::new(
                scheme,
                input,
                "expected numbers separated by dots",
            ));
        }
        Ok(Self { parts })
    }
}

impl Ord for Numeric {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.parts.iter().zip(&other.parts) {
            let o = cmp_digits(a, b);
            if o != Ordering::Equal {
                return o;
            }
        }
        self.parts.len().cmp(&other.parts.len())
    }
}

crate::ord_eq!(Numeric);
