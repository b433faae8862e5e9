//! What a transfer has done so far, as both ends see it: for progress bars
//! and the final report.

use std::time::{Duration, Instant};

use crate::path::RelPath;

/// Where one entry stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Not started.
    Waiting,
    /// Its subchannel is open; bytes are moving.
    Moving,
    /// Done. On the sender: the receiver's BLAKE3 matched ours. On the
    /// receiver: stored under its final name (the sender checks the hash).
    Done,
    /// Did not arrive, with why.
    Failed(String),
}

/// One file or directory of a transfer.
#[derive(Clone, Debug)]
pub struct Item {
    /// Its name under the target directory.
    pub path: RelPath,
    /// A directory (no content).
    pub dir: bool,
    /// Bytes of content.
    pub size: u64,
    /// Bytes sent (sender) or received (receiver) so far.
    pub moved: u64,
    /// Where it stands.
    pub state: State,
    /// BLAKE3 of the content, once known.
    pub hash: Option<[u8; 32]>,
}

impl Item {
    /// A new item, waiting.
    pub fn new(path: RelPath, dir: bool, size: u64) -> Item {
        Item {
            path,
            dir,
            size,
            moved: 0,
            state: State::Waiting,
            hash: None,
        }
    }

    /// Done or failed.
    pub fn is_resolved(&self) -> bool {
        matches!(self.state, State::Done | State::Failed(_))
    }
}

/// A snapshot of a transfer.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Every entry, in order.
    pub items: Vec<Item>,
    /// When the first byte moved.
    pub started: Option<Instant>,
    /// When the transfer ended (both ends agreed, or it failed).
    pub finished: Option<Instant>,
    /// The session's own outcome: `Some(Ok(summary))` when the other end
    /// confirmed the end of the transfer, `Some(Err(why))` if the session
    /// failed.
    pub session: Option<Result<String, String>>,
    /// Totals announced by the sender (files, dirs, bytes), on the receiver.
    pub announced: Option<(u64, u64, u64)>,
}

impl Progress {
    /// Total content bytes of all entries.
    pub fn total_bytes(&self) -> u64 {
        self.items.iter().map(|i| i.size).sum()
    }

    /// Content bytes moved so far.
    pub fn moved_bytes(&self) -> u64 {
        self.items.iter().map(|i| i.moved).sum()
    }

    /// Files (not directories) that are done.
    pub fn files_done(&self) -> usize {
        self.items
            .iter()
            .filter(|i| !i.dir && i.state == State::Done)
            .count()
    }

    /// Entries that failed or never arrived, with why.
    pub fn failures(&self) -> Vec<(&RelPath, String)> {
        self.items
            .iter()
            .filter_map(|i| match &i.state {
                State::Failed(w) => Some((&i.path, w.clone())),
                State::Waiting => Some((&i.path, "not sent".to_string())),
                State::Moving => Some((&i.path, "did not finish".to_string())),
                State::Done => None,
            })
            .collect()
    }

    /// Whether everything arrived and the session confirmed it.
    pub fn succeeded(&self) -> bool {
        matches!(self.session, Some(Ok(_))) && self.items.iter().all(|i| i.state == State::Done)
    }

    /// Time from the start to the end (or to now).
    pub fn elapsed(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(s), Some(f)) => f - s,
            (Some(s), None) => s.elapsed(),
            _ => Duration::ZERO,
        }
    }
}
