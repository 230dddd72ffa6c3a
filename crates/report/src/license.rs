//! License strings as metadata states them, mapped onto SPDX where they are SPDX.

/// How a declared license string relates to SPDX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum License {
    /// A single SPDX license id, e.g. `MIT`.
    Id(String),
    /// A valid SPDX expression, e.g. `GPL-2.0-or-later OR BSD-3-Clause`.
    Expression(String),
    /// Anything else, kept verbatim.
    Other(String),
}

/// Maps a declared license onto SPDX: strict SPDX expressions, and Debian's DEP-5 short
/// names (`GPL-2+`, `BSD-3-clause`, lower-case `or`).
pub(crate) fn classify(raw: &str) -> License {
    let raw = raw.trim();
    // `license_id` ignores a trailing `+`; only an exact name is a plain id.
    if let Some(l) = spdx::license_id(raw).filter(|l| l.name == raw) {
        return License::Id(l.name.to_owned());
    }
    // No guessing: a bare `GPL` names no version, so it stays as written. Only strict SPDX
    // and Debian's documented short names are mapped.
    let canonical = if spdx::Expression::parse(raw).is_ok() {
        raw.to_owned()
    } else {
        match debian_short_names(raw) {
            Some(c) => c,
            None => return License::Other(raw.to_owned()),
        }
    };
    match spdx::Expression::parse(&canonical) {
        Ok(e) => {
            let mut reqs = e.requirements();
            match (reqs.next(), reqs.next()) {
                (Some(r), None)
                    if r.req.addition.is_none() && !r.req.license.to_string().contains('+') =>
                {
                    match r.req.license.id() {
                        Some(id) if id.name == canonical => License::Id(canonical),
                        _ => License::Expression(canonical),
                    }
                }
                _ => License::Expression(canonical),
            }
        }
        Err(_) => License::Other(raw.to_owned()),
    }
}

/// Rewrites an expression written with Debian's DEP-5 short names (`GPL-2+`,
/// `LGPL-2.1`, `BSD-3-clause`, `Expat`, lower-case `or`) in SPDX terms; `None` when a
/// term has no SPDX equivalent.
fn debian_short_names(raw: &str) -> Option<String> {
    let spaced = raw
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " ");
    let mut out = Vec::new();
    for token in spaced.split_whitespace() {
        let mapped = match token.to_ascii_lowercase().as_str() {
            "or" | "|" => "OR".to_owned(),
            "and" | "&" => "AND".to_owned(),
            "with" => "WITH".to_owned(),
            "(" | ")" => token.to_owned(),
            "expat" => "MIT".to_owned(),
            _ => debian_term(token)?,
        };
        out.push(mapped);
    }
    let joined = out.join(" ").replace("( ", "(").replace(" )", ")");
    spdx::Expression::parse(&joined).ok().map(|_| joined)
}

fn debian_term(token: &str) -> Option<String> {
    let (base, plus) = match token.strip_suffix('+') {
        Some(b) => (b, true),
        None => (token, false),
    };
    for family in ["AGPL", "LGPL", "GPL", "GFDL"] {
        if let Some(version) = base.strip_prefix(family).and_then(|v| v.strip_prefix('-')) {
            let version = if version.contains('.') {
                version.to_owned()
            } else {
                format!("{version}.0")
            };
            let id = format!(
                "{family}-{version}-{}",
                if plus { "or-later" } else { "only" }
            );
            return spdx::license_id(&id).map(|l| l.name.to_owned());
        }
    }
    if plus {
        return None;
    }
    spdx::license_id(token)
        .filter(|l| l.name == token)
        .or_else(|| {
            spdx::identifiers::LICENSES
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(token))
                .and_then(|l| spdx::license_id(l.name))
        })
        .map(|l| l.name.to_owned())
}

/// Several declared licenses as one SPDX expression (all apply: AND), with the strings that
/// are not SPDX turned into `LicenseRef-` ids by `other`.
pub(crate) fn spdx_expression(
    raw: &[String],
    mut other: impl FnMut(&str) -> String,
) -> Option<String> {
    let parts: Vec<String> = raw
        .iter()
        .map(|l| match classify(l) {
            License::Id(id) => id,
            License::Expression(e) if raw.len() > 1 && e.contains(' ') => format!("({e})"),
            License::Expression(e) => e,
            License::Other(text) => other(&text),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" AND "))
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
        assert_eq!(
            classify("GPL-2+ or BSD-3-clause"),
            License::Expression("GPL-2.0-or-later OR BSD-3-Clause".into())
        );
        assert_eq!(classify("GPL-2"), License::Id("GPL-2.0-only".into()));
        assert_eq!(
            classify("LGPL-2.1+"),
            License::Id("LGPL-2.1-or-later".into())
        );
        assert!(matches!(classify("GPL"), License::Other(_)));
        assert_eq!(classify("Expat"), License::Id("MIT".into()));
        assert!(matches!(classify("MIT BSD GPL2+"), License::Other(_)));
        assert!(matches!(classify("public-domain"), License::Other(_)));
        assert!(matches!(classify("custom"), License::Other(_)));
    }

    #[test]
    fn combines() {
        let e = spdx_expression(
            &[
                "GPL-2+ or BSD-3-clause".into(),
                "GPL-3+".into(),
                "weird".into(),
            ],
            |t| format!("LicenseRef-{t}"),
        );
        assert_eq!(
            e.as_deref(),
            Some("(GPL-2.0-or-later OR BSD-3-Clause) AND GPL-3.0-or-later AND LicenseRef-weird")
        );
    }
}
