use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// A queue of outgoing buffers: what a transport holds between
/// [`Transport::write`](crate::Transport::write) and the layer below.
///
/// Writes are kept as the `Bytes` they came in (no copy); a flush hands
/// several of them at once to a vectored write and then
/// [`advance`](WriteQueue::advance)s past what was taken.
#[derive(Debug, Default)]
pub struct WriteQueue {
    bufs: VecDeque<Bytes>,
    len: usize,
}

impl WriteQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a buffer (empty ones are skipped).
    #[inline]
    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.len += data.len();
            self.bufs.push_back(data);
        }
    }

    /// Total bytes queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fill `dst` with slices of the queued buffers, front first; returns how
    /// many were filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, b) in dst.iter_mut().zip(self.bufs.iter()) {
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }

    /// The first queued buffer.
    #[inline]
    pub fn front(&self) -> Option<&Bytes> {
        self.bufs.front()
    }

    /// Drop `n` bytes from the front (they were written).
    #[inline]
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the write queue");
        self.len -= n;
        while n > 0 {
            let front = self.bufs.front_mut().expect("len says a buffer is here");
            if n >= front.len() {
                n -= front.len();
                self.bufs.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// Take up to `max` bytes from the front as one buffer. Takes a slice of
    /// the front buffer without copying when it alone is long enough.
    pub fn take(&mut self, max: usize) -> Bytes {
        let single = self.bufs.len() == 1;
        let Some(front) = self.bufs.front_mut() else {
            return Bytes::new();
        };
        if front.len() >= max || single {
            let n = max.min(front.len());
            let out = front.split_to(n);
            if front.is_empty() {
                self.bufs.pop_front();
            }
            self.len -= n;
            return out;
        }
        let mut out = bytes::BytesMut::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            let n = (max - out.len()).min(front.len());
            out.extend_from_slice(&front[..n]);
            front.advance(n);
            self.len -= n;
            if front.is_empty() {
                self.bufs.pop_front();
            }
        }
        out.freeze()
    }

    /// Take everything as a list of buffers.
    pub fn drain(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.len = 0;
        self.bufs.drain(..)
    }

    /// Drop everything (abort).
    pub fn clear(&mut self) {
        self.bufs.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_and_advance_keep_order() {
        let mut q = WriteQueue::new();
        q.push(Bytes::from_static(b"hello "));
        q.push(Bytes::new());
        q.push(Bytes::from_static(b"world"));
        assert_eq!(q.len(), 11);
        assert_eq!(&q.take(3)[..], b"hel");
        assert_eq!(&q.take(5)[..], b"lo wo");
        q.advance(1);
        assert_eq!(&q.take(100)[..], b"ld");
        assert!(q.is_empty());
        assert!(q.take(4).is_empty());
    }

    #[test]
    fn io_slices_cover_the_queue() {
        let mut q = WriteQueue::new();
        for s in ["a", "bc", "def"] {
            q.push(Bytes::from(s));
        }
        let mut sl = [IoSlice::new(&[]); 2];
        assert_eq!(q.io_slices(&mut sl), 2);
        assert_eq!(&*sl[1], b"bc");
        q.advance(2);
        assert_eq!(q.len(), 4);
        assert_eq!(&q.take(10)[..], b"cdef");
    }
}
