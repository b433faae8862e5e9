use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// A queue of outgoing buffers: what a transport holds between
/// [`Transport::write`](crate::Transport::write) and the layer below.
///
/// Writes are kept as the `Bytes` they came in (no copy); a flush hands
/// several of them at once to a vectored write and then
/// [`advance`](WriteQueue::advance)s past what was taken.
///
/// The first buffer has a slot of its own: most of the time a transport
/// holds one buffer (a message written, then flushed whole), and pushing,
/// looking at and dropping it then never touch the ring behind it.
#[derive(Debug, Default)]
pub struct WriteQueue {
    /// The first buffer; `None` only when the queue is empty.
    head: Option<Bytes>,
    /// The buffers after `head`.
    rest: VecDeque<Bytes>,
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
            if self.head.is_none() {
                self.head = Some(data);
            } else {
                self.push_back(data);
            }
        }
    }

    // Out of line: growing the ring is not the common case.
    #[inline(never)]
    fn push_back(&mut self, data: Bytes) {
        self.rest.push_back(data);
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
        for (slot, b) in dst.iter_mut().zip(self.head.iter().chain(self.rest.iter())) {
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }

    /// The first queued buffer.
    #[inline]
    pub fn front(&self) -> Option<&Bytes> {
        self.head.as_ref()
    }

    /// Drop `n` bytes from the front (they were written).
    #[inline]
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the write queue");
        self.len -= n;
        while n > 0 {
            let head = self.head.as_mut().expect("len says a buffer is here");
            if n >= head.len() {
                n -= head.len();
                self.head = self.rest.pop_front();
            } else {
                head.advance(n);
                n = 0;
            }
        }
    }

    /// Take up to `max` bytes from the front as one buffer. Takes a slice of
    /// the front buffer without copying when it alone is long enough.
    pub fn take(&mut self, max: usize) -> Bytes {
        let single = self.rest.is_empty();
        let Some(head) = self.head.as_mut() else {
            return Bytes::new();
        };
        if head.len() >= max || single {
            let n = max.min(head.len());
            let out = head.split_to(n);
            if head.is_empty() {
                self.head = self.rest.pop_front();
            }
            self.len -= n;
            return out;
        }
        let mut out = bytes::BytesMut::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some(head) = self.head.as_mut() else {
                break;
            };
            let n = (max - out.len()).min(head.len());
            out.extend_from_slice(&head[..n]);
            head.advance(n);
            self.len -= n;
            if head.is_empty() {
                self.head = self.rest.pop_front();
            }
        }
        out.freeze()
    }

    /// Take everything as a list of buffers.
    pub fn drain(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.len = 0;
        self.head.take().into_iter().chain(self.rest.drain(..))
    }

    /// Drop everything (abort).
    pub fn clear(&mut self) {
        self.head = None;
        self.rest.clear();
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

    /// Random pushes, advances, takes and drains against a plain byte
    /// vector: same bytes, same length, same slices.
    #[test]
    fn agrees_with_a_byte_vector() {
        let mut q = WriteQueue::new();
        let mut model: Vec<u8> = Vec::new();
        let mut next = 0u8;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            match rand(6) {
                0 | 1 => {
                    let n = rand(5) as usize;
                    let b: Vec<u8> = (0..n)
                        .map(|_| {
                            next = next.wrapping_add(1);
                            next
                        })
                        .collect();
                    model.extend_from_slice(&b);
                    q.push(Bytes::from(b));
                }
                2 => {
                    let n = rand(model.len() as u64 + 1) as usize;
                    q.advance(n);
                    model.drain(..n);
                }
                3 => {
                    let max = rand(7) as usize;
                    let got = q.take(max);
                    let n = max.min(model.len());
                    assert!(got.len() <= n);
                    assert_eq!(&got[..], &model[..got.len()]);
                    model.drain(..got.len());
                }
                4 => {
                    let mut sl = [IoSlice::new(&[]); 3];
                    let k = q.io_slices(&mut sl);
                    let flat: Vec<u8> = sl[..k].iter().flat_map(|s| s.iter().copied()).collect();
                    assert_eq!(&flat[..], &model[..flat.len()]);
                    assert_eq!(
                        q.front().map(|b| b.len()),
                        sl.first().filter(|_| k > 0).map(|s| s.len())
                    );
                }
                _ => {
                    if rand(50) == 0 {
                        let all: Vec<u8> = q.drain().flat_map(|b| b.to_vec()).collect();
                        assert_eq!(all, model);
                        model.clear();
                    }
                }
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.is_empty(), model.is_empty());
            assert_eq!(q.front().is_none(), model.is_empty());
        }
    }
}
