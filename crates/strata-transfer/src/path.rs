//! [`RelPath`]: a path a peer may name, checked before anything touches a
//! disk.
//!
//! A transfer names every file by a path *relative to the receiver's target
//! directory*, `/`-separated, UTF-8. The rules are strict on purpose, so
//! that joining a `RelPath` onto a directory can only ever land inside it:
//!
//! * not empty, at most [`MAX_PATH`] bytes, each component at most
//!   [`MAX_COMPONENT`] bytes;
//! * relative: no leading `/`;
//! * no `.` or `..` component, no empty component (`a//b`, trailing `/`);
//! * no `\` (a separator elsewhere), no NUL, no control characters.
//!
//! Symbolic links that could lead out of the directory are the receiver's
//! business (it refuses to go through any), see [`crate::recv`].

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The longest path accepted, in bytes.
pub const MAX_PATH: usize = 4096;
/// The longest path component accepted, in bytes.
pub const MAX_COMPONENT: usize = 255;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// The path is longer than [`MAX_PATH`] or a component is longer than
    /// [`MAX_COMPONENT`].
    #[error("the path is too long")]
    TooLong,
    /// The path starts with `/`.
    #[error(
        "\"{0}\" is an absolute path; only paths relative to the target directory are accepted"
    )]
    Absolute(String),
    /// The path has a `..` component.
    #[error("\"{0}\" has a \"..\" component; paths may not leave the target directory")]
    DotDot(String),
    /// Some other malformation: `.` or empty components, `\`, NUL, control
    /// characters, not UTF-8.
    #[error("\"{path}\" is not a plain relative path: {why}")]
    Malformed {
        /// The path (lossily printed).
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A checked relative path: see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Check `s` against the rules.
    pub fn new(s: &str) -> Result<RelPath, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if s.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        let shown = || s.chars().take(200).collect::<String>();
        if s.starts_with('/') {
            return Err(PathError::Absolute(shown()));
        }
        let bad = |why| PathError::Malformed { path: shown(), why };
        if s.contains('\\') {
            return Err(bad("it contains \"\\\""));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(bad("it contains a control character"));
        }
        for part in s.split('/') {
            match part {
                "" => return Err(bad("it has an empty component")),
                "." => return Err(bad("it has a \".\" component")),
                ".." => return Err(PathError::DotDot(shown())),
                p if p.len() > MAX_COMPONENT => return Err(PathError::TooLong),
                _ => {}
            }
        }
        Ok(RelPath(s.to_string()))
    }

    /// Check raw bytes from the wire (they must be UTF-8).
    pub fn from_bytes(b: &[u8]) -> Result<RelPath, PathError> {
        match std::str::from_utf8(b) {
            Ok(s) => RelPath::new(s),
            Err(_) => Err(PathError::Malformed {
                path: String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned(),
                why: "it is not UTF-8",
            }),
        }
    }

    /// The relative path of a local path (components must be plain names
    /// in UTF-8): how a sender names what it sends.
    pub fn from_local(p: &Path) -> Result<RelPath, PathError> {
        let mut parts = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(n) => match n.to_str() {
                    Some(s) => parts.push(s),
                    None => {
                        return Err(PathError::Malformed {
                            path: p.display().to_string(),
                            why: "it is not UTF-8",
                        })
                    }
                },
                Component::CurDir => {}
                Component::ParentDir => return Err(PathError::DotDot(p.display().to_string())),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(PathError::Absolute(p.display().to_string()))
                }
            }
        }
        RelPath::new(&parts.join("/"))
    }

    /// `a/b/c` joined onto `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        p.extend(self.0.split('/'));
        p
    }

    /// The components, first to last.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// How many components deep it is (`a` is 1).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self` with `name` appended.
    pub fn join(&self, name: &str) -> Result<RelPath, PathError> {
        RelPath::new(&format!("{}/{name}", self.0))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass() {
        for p in [
            "a",
            "a/b",
            "dir/file.txt",
            "x y/z",
            "ünï/cödé",
            ".hidden",
            "a..b",
        ] {
            assert_eq!(RelPath::new(p).unwrap().as_str(), p);
        }
    }

    #[test]
    fn escapes_are_refused() {
        assert!(matches!(
            RelPath::new("/etc/passwd"),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(RelPath::new("../x"), Err(PathError::DotDot(_))));
        assert!(matches!(
            RelPath::new("a/../../x"),
            Err(PathError::DotDot(_))
        ));
        assert!(matches!(RelPath::new(".."), Err(PathError::DotDot(_))));
        for p in ["", "a//b", "a/", "./a", "a/.", "a\\..\\b", "a\0b", "a\nb"] {
            assert!(RelPath::new(p).is_err(), "{p:?}");
        }
        assert_eq!(RelPath::new(&"x".repeat(256)), Err(PathError::TooLong));
        assert_eq!(RelPath::new(&"x/".repeat(3000)), Err(PathError::TooLong));
        assert!(RelPath::from_bytes(b"a\xff").is_err());
    }

    #[test]
    fn local_paths_become_relative() {
        assert_eq!(
            RelPath::from_local(Path::new("./a/b")).unwrap().as_str(),
            "a/b"
        );
        assert!(RelPath::from_local(Path::new("/a")).is_err());
        assert!(RelPath::from_local(Path::new("a/../b")).is_err());
        let r = RelPath::new("a/b").unwrap();
        assert_eq!(r.under(Path::new("/t")), PathBuf::from("/t/a/b"));
        assert_eq!(r.depth(), 2);
    }
}
