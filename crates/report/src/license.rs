//! License strings as metadata states them, mapped onto SPDX where they are SPDX.

/// How a declared license string relates to SPDX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum License {
    /// A single SPDX license id, e.g. `MIT`.
    Id(String),
    /// A valid SPDX expression, e.g. `GPL-2.0-only OR MIT`.
    Expression(String),
    /// Anything else, kept verbatim.
    Other(String),
}

pub(crate) fn classify(raw: &str) -> License {
    let raw = raw.trim();
    if let Some(l) = spdx::license_id(raw) {
        return License::Id(l.name.to_owned());
    }
    match spdx::Expression::parse(raw) {
        Ok(e) => {
            let mut reqs = e.requirements();
            match (reqs.next(), reqs.next()) {
                (Some(r), None) if r.req.addition.is_none() && e.as_ref() == raw => {
                    match r.req.license.id() {
                        Some(id) => License::Id(id.name.to_owned()),
                        None => License::Expression(raw.to_owned()),
                    }
                }
                _ => License::Expression(raw.to_owned()),
            }
        }
        Err(_) => License::Other(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify("MIT"), License::Id("MIT".into()));
        assert_eq!(
            classify("GPL-2.0-only OR MIT"),
            License::Expression("GPL-2.0-only OR MIT".into())
        );
        assert!(matches!(classify("MIT BSD GPL2+"), License::Other(_)));
        assert!(matches!(classify("custom"), License::Other(_)));
    }
}
