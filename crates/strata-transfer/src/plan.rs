//! [`plan`]: what a sender will send, worked out before anything is sent.
//!
//! Each command-line path becomes entries named relative to its own parent:
//! `send /data/report.pdf photos/` sends `report.pdf` and `photos/...`.
//! A directory is sent as one [`EntryKind::Dir`] entry per directory (so
//! empty ones and their modes survive) and one [`EntryKind::File`] entry per
//! file. Symbolic links inside a tree are skipped (and listed in
//! [`Plan::skipped`]); a link named on the command line is followed.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::path::RelPath;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of this many bytes.
    File {
        /// Its size when planned.
        size: u64,
    },
    /// A directory.
    Dir,
}

/// One thing to send.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its name on the receiver, under the target directory.
    pub path: RelPath,
    /// Where it is here.
    pub local: PathBuf,
    /// File or directory.
    pub kind: EntryKind,
    /// Permission bits (`0o777` part of the mode).
    pub mode: u32,
}

impl Entry {
    /// The file's size (0 for a directory).
    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::File { size } => size,
            EntryKind::Dir => 0,
        }
    }
}

/// Everything one transfer sends: directories first (parents before
/// children), then files.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The entries, in the order they are sent.
    pub entries: Vec<Entry>,
    /// Things left out (symbolic links, special files), with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Plan {
    /// Number of files.
    pub fn files(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File { .. }))
            .count() as u64
    }

    /// Number of directories.
    pub fn dirs(&self) -> u64 {
        self.entries.len() as u64 - self.files()
    }

    /// Bytes of file content.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(Entry::size).sum()
    }
}

#[cfg(unix)]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    if m.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Work out what sending `paths` means. Fails on a path that does not
/// exist or cannot be named (not UTF-8), and when two entries would land
/// on the same name.
pub fn plan<P: AsRef<Path>>(paths: &[P]) -> io::Result<Plan> {
    let mut plan = Plan::default();
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = std::fs::metadata(p)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        // The name it gets: its own last component (of the canonical path,
        // so "." and "dir/.." have one).
        let canon = std::fs::canonicalize(p)?;
        let name = canon
            .file_name()
            .ok_or_else(|| invalid(format!("{}: cannot send a root directory", p.display())))?;
        let rel = RelPath::from_local(Path::new(name))
            .map_err(|e| invalid(format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            walk(p, rel, &meta, &mut dirs, &mut files, &mut plan.skipped)?;
        } else if meta.is_file() {
            files.push(Entry {
                path: rel,
                local: p.to_path_buf(),
                kind: EntryKind::File { size: meta.len() },
                mode: mode_of(&meta),
            });
        } else {
            return Err(invalid(format!(
                "{}: not a regular file or directory",
                p.display()
            )));
        }
    }
    dirs.sort_by_key(|e: &Entry| e.path.depth());
    plan.entries = dirs;
    plan.entries.extend(files);
    let mut seen = HashSet::new();
    for e in &plan.entries {
        if !seen.insert(e.path.as_str()) {
            return Err(invalid(format!(
                "two things would be sent as \"{}\" (rename one)",
                e.path
            )));
        }
    }
    Ok(plan)
}

fn walk(
    dir: &Path,
    rel: RelPath,
    meta: &std::fs::Metadata,
    dirs: &mut Vec<Entry>,
    files: &mut Vec<Entry>,
    skipped: &mut Vec<(PathBuf, String)>,
) -> io::Result<()> {
    dirs.push(Entry {
        path: rel.clone(),
        local: dir.to_path_buf(),
        kind: EntryKind::Dir,
        mode: mode_of(meta),
    });
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .collect::<io::Result<_>>()?;
    children.sort_by_key(|c| c.file_name());
    for c in children {
        let path = c.path();
        let Some(name) = c.file_name().to_str().map(str::to_string) else {
            skipped.push((path, "the name is not UTF-8".into()));
            continue;
        };
        let child_rel = match rel.join(&name) {
            Ok(r) => r,
            Err(e) => {
                skipped.push((path, e.to_string()));
                continue;
            }
        };
        let m = std::fs::symlink_metadata(&path)?;
        if m.is_symlink() {
            skipped.push((path, "a symbolic link".into()));
        } else if m.is_dir() {
            walk(&path, child_rel, &m, dirs, files, skipped)?;
        } else if m.is_file() {
            files.push(Entry {
                path: child_rel,
                local: path,
                kind: EntryKind::File { size: m.len() },
                mode: mode_of(&m),
            });
        } else {
            skipped.push((path, "not a regular file or directory".into()));
        }
    }
    Ok(())
}
