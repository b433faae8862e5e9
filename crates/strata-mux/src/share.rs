//! Sharing the connection's receive budget among the streams busy
//! receiving.
//!
//! yamux has no connection window: every stream is owed 256 KiB, and
//! auto-tuning grows a busy one further. Left alone, sixteen busy streams
//! keep 4 MiB or more in flight, which is what sits in the socket buffers
//! ahead of a small request on another stream, and what has to pass
//! through the CPU caches (on loopback, 16 streams with 256 KiB windows
//! moved 3 GB/s, with 64 KiB windows 7–8 GB/s). So each window update
//! grants a stream at most its *share*: the budget divided among the
//! streams that were busy in the last epoch or this one, never below a
//! floor. A stream counts as busy in an epoch when it earns a window update
//! in it; one that falls quiet stops counting after two epochs, and one
//! that is freed stops counting at once.

use std::time::{Duration, Instant};

/// How long a stream counts as busy after its last window update (between
/// one and two epochs).
pub(crate) const EPOCH: Duration = Duration::from_millis(50);

/// When a stream last counted as busy (kept by the stream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The epoch it last counted in (0: never).
    epoch: u64,
    /// It counted in the epoch before that too.
    also_before: bool,
}

/// Busy streams, counted per epoch.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    /// The current epoch (from 2; a [`Mark`] of 0 means "never").
    epoch: u64,
    started: Option<Instant>,
    /// Streams counted in the current epoch.
    cur: usize,
    /// Streams counted in the previous one.
    prev: usize,
}

impl Shares {
    /// A stream (marked `mark`) earns a window update at `now`: count it
    /// in the current epoch.
    pub fn note(&mut self, now: Instant, mark: &mut Mark) {
        match self.started {
            Some(t) if now.saturating_duration_since(t) < EPOCH => {}
            Some(t) if now.saturating_duration_since(t) < EPOCH * 2 => {
                self.prev = self.cur;
                self.cur = 0;
                self.epoch += 1;
                self.started = Some(now);
            }
            _ => {
                // First use, or a quiet spell: nothing recent counts.
                self.prev = 0;
                self.cur = 0;
                self.epoch += 2;
                self.started = Some(now);
            }
        }
        // A stream counted last epoch too is in both counts; `busy` takes
        // the larger one, so it is not counted twice.
        if mark.epoch != self.epoch {
            *mark = Mark {
                also_before: mark.epoch != 0 && mark.epoch + 1 == self.epoch,
                epoch: self.epoch,
            };
            self.cur += 1;
        }
    }

    /// A stream marked `mark` is freed: it stops counting.
    pub fn forget(&mut self, mark: Mark) {
        if mark.epoch == 0 {
            return;
        }
        if mark.epoch == self.epoch {
            self.cur = self.cur.saturating_sub(1);
            if mark.also_before {
                self.prev = self.prev.saturating_sub(1);
            }
        } else if mark.epoch + 1 == self.epoch {
            self.prev = self.prev.saturating_sub(1);
        }
    }

    /// Streams busy now: the larger of this epoch's count and the last.
    pub fn busy(&self) -> usize {
        self.cur.max(self.prev).max(1)
    }

    /// One busy stream's share of `budget`, at least `floor`.
    pub fn share(&self, budget: u64, floor: u32) -> u32 {
        let each = budget / self.busy() as u64;
        each.min(u32::MAX as u64).max(floor as u64) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_split_among_busy_streams() {
        let t0 = Instant::now();
        let mut s = Shares::default();
        let mut marks = [Mark::default(); 4];
        s.note(t0, &mut marks[0]);
        assert_eq!(s.share(1 << 20, 1000), 1 << 20);
        for m in &mut marks {
            s.note(t0, m);
            // Noting again in the same epoch counts once.
            s.note(t0, m);
        }
        assert_eq!(s.busy(), 4);
        assert_eq!(s.share(1 << 20, 1000), 1 << 18);
        // The floor wins over a tiny share.
        assert_eq!(s.share(1 << 20, 1 << 19), 1 << 19);
        // Next epoch: the last epoch's count still holds while streams
        // come back one by one, so a share never jumps up for a moment.
        let t1 = t0 + EPOCH;
        s.note(t1, &mut marks[0]);
        assert_eq!(s.busy(), 4);
        s.note(t1, &mut marks[1]);
        assert_eq!(s.busy(), 4);
        // Two streams fell quiet: an epoch later only two count.
        let t2 = t1 + EPOCH;
        s.note(t2, &mut marks[0]);
        s.note(t2, &mut marks[1]);
        assert_eq!(s.busy(), 2);
        // A freed stream stops counting at once.
        s.forget(marks[1]);
        assert_eq!(s.busy(), 1);
        // After a quiet spell nothing old counts.
        let t3 = t2 + EPOCH * 3;
        s.note(t3, &mut marks[2]);
        assert_eq!(s.busy(), 1);
        // Forgetting a stream counted long ago, or never, changes nothing.
        s.forget(marks[0]);
        s.forget(Mark::default());
        assert_eq!(s.busy(), 1);
    }
}
