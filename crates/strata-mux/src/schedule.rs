//! The ready list: streams with a data frame to send, served round-robin.
//!
//! A stream enters at the back when it gets something to send (a write, new
//! credit, a FIN to emit) and leaves at the front when it is served; if it
//! still has work after one frame it goes to the back again. So with `n`
//! streams ready, each sends one frame of at most `max_frame` bytes in turn:
//! a bulk stream cannot starve a small request. Membership is a flag on the
//! stream (`Stream::queued`), so pushing is O(1) and never duplicates.

use std::collections::VecDeque;

use crate::stream::{Stream, StreamTable};

#[derive(Debug, Default)]
pub(crate) struct Schedule {
    queue: VecDeque<usize>,
}

impl Schedule {
    /// Queue the stream at `key` if it has send work and is not queued.
    #[inline]
    pub fn offer(&mut self, streams: &mut StreamTable, key: usize) {
        if let Some(s) = streams.get_mut(key) {
            if !s.queued && s.has_send_work() {
                s.queued = true;
                self.queue.push_back(key);
            }
        }
    }

    /// Queue `s` (at `key`) if it has send work and is not queued: as
    /// [`offer`](Self::offer), for a caller already holding the stream.
    #[inline]
    pub fn offer_held(&mut self, s: &mut Stream, key: usize) {
        if !s.queued && s.has_send_work() {
            s.queued = true;
            self.queue.push_back(key);
        }
    }

    /// The next stream to serve (its `queued` flag is cleared).
    #[inline]
    pub fn pop(&mut self, streams: &mut StreamTable) -> Option<usize> {
        while let Some(key) = self.queue.pop_front() {
            if let Some(s) = streams.get_mut(key) {
                if s.queued {
                    s.queued = false;
                    return Some(key);
                }
            }
        }
        None
    }

    /// Whether exactly one stream is queued (an entry left by a stream
    /// removed while queued counts until it is popped: the answer only
    /// picks the marks below, never who sends).
    #[inline]
    pub fn alone(&self) -> bool {
        self.queue.len() == 1
    }

    /// Whether no stream is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether another stream is waiting (frames are cut small then).
    #[inline]
    pub fn others_waiting(&self) -> bool {
        !self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::Bytes;

    #[test]
    fn round_robin_without_duplicates() {
        let mut t = StreamTable::default();
        let mut s = Schedule::default();
        let keys: Vec<usize> = (0..3)
            .map(|i| {
                let mut st = Stream::new(2 * i + 1, true);
                st.send.queue.push(Bytes::from_static(b"x"));
                t.insert(st)
            })
            .collect();
        for &k in &keys {
            s.offer(&mut t, k);
            s.offer(&mut t, k);
        }
        assert_eq!(s.pop(&mut t), Some(keys[0]));
        assert!(s.others_waiting());
        s.offer(&mut t, keys[0]);
        assert_eq!(s.pop(&mut t), Some(keys[1]));
        assert_eq!(s.pop(&mut t), Some(keys[2]));
        assert_eq!(s.pop(&mut t), Some(keys[0]));
        assert_eq!(s.pop(&mut t), None);
        // A stream without work is not queued.
        let idle = t.insert(Stream::new(9, true));
        s.offer(&mut t, idle);
        assert_eq!(s.pop(&mut t), None);
    }
}
