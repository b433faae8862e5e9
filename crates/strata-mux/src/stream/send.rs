//! The sending half of a stream: what the app wrote, and the credit the
//! peer gave us to send it.

use strata_core::{WaterMarks, WriteQueue};

use crate::frame::INITIAL_WINDOW;

/// Per-stream send state.
#[derive(Debug)]
pub(crate) struct SendState {
    /// Written by the app, not yet framed (kept as the app's `Bytes`).
    pub queue: WriteQueue,
    /// Bytes the peer's window lets us send now.
    pub credit: u32,
    /// The app's water marks over `queue`.
    pub marks: WaterMarks,
}

impl SendState {
    pub fn new() -> Self {
        SendState {
            queue: WriteQueue::new(),
            credit: INITIAL_WINDOW,
            marks: WaterMarks::default(),
        }
    }

    /// Add `delta` credit from a window update; `false` if it overflows.
    pub fn add_credit(&mut self, delta: u32) -> bool {
        match self.credit.checked_add(delta) {
            Some(c) => {
                self.credit = c;
                true
            }
            None => false,
        }
    }

    /// Bytes that may go in the next data frame, at most `limit`.
    #[inline]
    pub fn sendable(&self, limit: u32) -> usize {
        self.queue.len().min(self.credit.min(limit) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::Bytes;

    #[test]
    fn sendable_is_bounded_by_queue_credit_and_limit() {
        let mut s = SendState::new();
        assert_eq!(s.sendable(1000), 0);
        s.queue.push(Bytes::from(vec![0; 300 * 1024]));
        assert_eq!(s.sendable(u32::MAX), INITIAL_WINDOW as usize);
        assert_eq!(s.sendable(16 * 1024), 16 * 1024);
        s.credit = 10;
        assert_eq!(s.sendable(16 * 1024), 10);
        assert!(s.add_credit(5));
        assert_eq!(s.credit, 15);
        assert!(!s.add_credit(u32::MAX));
        assert_eq!(s.credit, 15);
    }
}
