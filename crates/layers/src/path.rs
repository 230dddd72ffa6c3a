/// Why a tar entry name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Absolute,
    ParentDir,
    Empty,
}

/// Normalises a tar entry name to a root-relative path without `.` components or
/// trailing `/`. Absolute names and names that climb with `..` are refused: a layer is
/// relative to the image root and may not reach outside it.
pub fn normalize(name: &str) -> Result<String, PathProblem> {
    if name.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    let mut out = String::with_capacity(name.len());
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathProblem::ParentDir),
            p => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(p);
            }
        }
    }
    if out.is_empty() {
        Err(PathProblem::Empty)
    } else {
        Ok(out)
    }
}

/// Splits `a/b/c` into (`a/b`, `c`); the parent of a top-level name is `""`.
pub(crate) fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Joins a parent directory and a name.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("./etc/os-release").unwrap(), "etc/os-release");
        assert_eq!(normalize("etc//apk/./db/").unwrap(), "etc/apk/db");
        assert_eq!(normalize("/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(normalize("a/../../x"), Err(PathProblem::ParentDir));
        assert_eq!(normalize("./"), Err(PathProblem::Empty));
    }
}
