//! Language ecosystems inside images: installed packages and lockfiles.

pub(crate) mod binary;
pub(crate) mod java;
pub(crate) mod node;
pub(crate) mod python;
pub(crate) mod simple;

/// A package name normalised per PEP 503: lower case, runs of `-`, `_` and `.` as one `-`.
pub(crate) fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pep503_names() {
        assert_eq!(
            super::pep503("backports.ssl_match_hostname"),
            "backports-ssl-match-hostname"
        );
        assert_eq!(super::pep503("PyOpenSSL"), "pyopenssl");
        assert_eq!(super::pep503("a--_.b"), "a-b");
    }
}
