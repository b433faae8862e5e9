use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// The tail's first allocation: room for dozens of small messages.
const TAIL: usize = 4 * 1024;

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
///
/// Small writes made from borrowed bytes ([`push_copy`](WriteQueue::push_copy))
/// are copied into a *tail* buffer that the queue owns and reuses: after
/// every pushed `Bytes`, written out like them, and cleared (not freed)
/// once written, so a stream of small messages costs no allocation and no
/// reference counting. A `push` after copied bytes seals them into the
/// ring first, so order is always the order of the calls.
#[derive(Debug, Default)]
pub struct WriteQueue {
    /// The first buffer; `None` when only the tail (or nothing) is queued.
    head: Option<Bytes>,
    /// The buffers after `head`.
    rest: VecDeque<Bytes>,
    /// Copied bytes, after everything in `head` and `rest` (boxed: most
    /// queues never copy, and a queue stays small).
    tail: Option<Box<BytesMut>>,
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
            if self.has_tail() {
                self.seal_tail();
            }
            self.len += data.len();
            if self.head.is_none() {
                self.head = Some(data);
            } else {
                self.push_back(data);
            }
        }
    }

    /// Append a copy of `data` (see the type's documentation: for small
    /// writes; a large one is better pushed as `Bytes`, without a copy).
    #[inline]
    pub fn push_copy(&mut self, data: &[u8]) {
        self.len += data.len();
        // The usual case, inline: the tail exists and has room. Making it
        // or growing it is out of line, so that a copy into room already
        // there does not pay for the allocating paths' register saves.
        match self.tail.as_deref_mut() {
            Some(tail) if tail.capacity() - tail.len() >= data.len() => {
                tail.extend_from_slice(data)
            }
            _ => self.copy_to_new_room(data),
        }
    }

    /// Append the bytes of `buf` and leave it empty, for the caller to fill
    /// again. When nothing is queued the two buffers change places instead
    /// of the bytes being copied: the queue goes on with `buf`'s
    /// allocation, already warm in the cache, and the caller with the
    /// tail's, emptied by the last write. Otherwise the bytes are copied,
    /// as by [`push_copy`](WriteQueue::push_copy).
    #[inline]
    pub fn push_buf(&mut self, buf: &mut BytesMut) {
        if self.len == 0 {
            if let Some(tail) = self.tail.as_deref_mut() {
                std::mem::swap(tail, buf);
                buf.clear();
                self.len = tail.len();
                return;
            }
        }
        self.push_copy(buf);
        buf.clear();
    }

    #[inline(never)]
    fn copy_to_new_room(&mut self, data: &[u8]) {
        self.tail
            .get_or_insert_with(|| Box::new(BytesMut::with_capacity(TAIL)))
            .extend_from_slice(data);
    }

    /// Whether copied bytes are queued.
    #[inline]
    fn has_tail(&self) -> bool {
        self.tail.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// The copied bytes queued (empty if none).
    #[inline]
    fn tail(&self) -> &[u8] {
        self.tail.as_deref().map_or(&[], |t| &t[..])
    }

    // Out of line: growing the ring is not the common case.
    #[inline(never)]
    fn push_back(&mut self, data: Bytes) {
        self.rest.push_back(data);
    }

    /// Move the tail's bytes into the ring as one buffer (the length is
    /// unchanged: they were counted when copied in).
    #[inline(never)]
    fn seal_tail(&mut self) {
        let Some(tail) = self.tail.as_mut() else {
            return;
        };
        let sealed = tail.split().freeze();
        if self.head.is_none() {
            self.head = Some(sealed);
        } else {
            self.rest.push_back(sealed);
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
        let buffers = self.head.iter().chain(self.rest.iter()).map(|b| &b[..]);
        let tail = Some(self.tail()).filter(|t| !t.is_empty());
        let mut n = 0;
        for (slot, b) in dst.iter_mut().zip(buffers.chain(tail)) {
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }

    /// The first queued `Bytes`. `None` when the queue is empty, and also
    /// when only copied bytes are queued: [`front_slice`](Self::front_slice)
    /// is what goes out first in every case.
    #[inline]
    pub fn front(&self) -> Option<&Bytes> {
        self.head.as_ref()
    }

    /// The first contiguous run of queued bytes (`None` only when empty).
    #[inline]
    pub fn front_slice(&self) -> Option<&[u8]> {
        match &self.head {
            Some(h) => Some(h),
            None => Some(self.tail()).filter(|t| !t.is_empty()),
        }
    }

    /// Drop `n` bytes from the front (they were written).
    #[inline]
    pub fn advance(&mut self, n: usize) {
        // The usual case of small messages, inline: only copied bytes were
        // queued and all of them went out. Empty the tail in place (as the
        // general path does), without the general path's loop.
        if self.head.is_none() && n == self.len {
            if let Some(tail) = self.tail.as_mut() {
                tail.clear();
                self.len = 0;
                return;
            }
        }
        self.advance_general(n);
    }

    #[inline(never)]
    fn advance_general(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the write queue");
        self.len -= n;
        while n > 0 {
            let Some(head) = self.head.as_mut() else {
                // Only the tail is left (the ring is empty when `head` is).
                let tail = self.tail.as_mut().expect("len says copied bytes are here");
                if n == tail.len() {
                    // All written: empty it in place, so the next copies
                    // reuse the whole allocation (advancing would move its
                    // start and shrink what is left of it).
                    tail.clear();
                } else {
                    tail.advance(n);
                }
                return;
            };
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
        if self.has_tail() {
            self.seal_tail();
        }
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
        if self.has_tail() {
            self.seal_tail();
        }
        self.len = 0;
        self.head.take().into_iter().chain(self.rest.drain(..))
    }

    /// Drop everything (abort).
    pub fn clear(&mut self) {
        self.head = None;
        self.rest.clear();
        if let Some(t) = self.tail.as_mut() {
            t.clear();
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `push_buf` exchanges buffers when nothing is queued (the bytes are
    /// not copied: the queue now holds the caller's allocation) and copies
    /// otherwise; either way the caller gets an empty buffer back and the
    /// bytes go out in the order of the calls.
    #[test]
    fn push_buf_swaps_into_an_empty_queue_and_copies_behind_bytes() {
        let mut q = WriteQueue::new();
        let mut mine = BytesMut::from(&b"first"[..]);
        // No tail yet: copied, the caller keeps its buffer.
        q.push_buf(&mut mine);
        assert!(mine.is_empty());
        assert_eq!(q.tail(), b"first");
        q.advance(5);
        // Queue empty, tail allocated: the buffers change places.
        mine.extend_from_slice(b"second");
        let ptr = mine.as_ptr();
        q.push_buf(&mut mine);
        assert!(mine.is_empty());
        assert_eq!(q.front_slice().map(|s| s.as_ptr()), Some(ptr), "not copied");
        assert_eq!(q.len(), 6);
        // Bytes queued: copied behind them.
        mine.extend_from_slice(b" third");
        q.push_buf(&mut mine);
        assert!(mine.is_empty());
        q.push(Bytes::from_static(b" fourth"));
        let all: Vec<u8> = q.drain().flat_map(|b| b.to_vec()).collect();
        assert_eq!(all, b"second third fourth");
    }

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

    /// `advance`'s inline fast path (only copied bytes queued, all
    /// written) leaves the queue exactly as the general path does: same
    /// contents, same tail allocation kept for the next copies.
    #[test]
    fn advance_fast_path_is_the_general_path() {
        for pushed in [false, true] {
            for copied in [0usize, 1, 5] {
                for n in 0..=copied + usize::from(pushed) * 3 {
                    let make = || {
                        let mut q = WriteQueue::new();
                        if pushed {
                            q.push(Bytes::from_static(b"abc"));
                        }
                        q.push_copy(&b"vwxyz"[..copied]);
                        q
                    };
                    let (mut fast, mut general) = (make(), make());
                    fast.advance(n);
                    general.advance_general(n);
                    assert_eq!(format!("{fast:?}"), format!("{general:?}"));
                    let cap = |q: &WriteQueue| q.tail.as_ref().map(|t| t.capacity());
                    assert_eq!(cap(&fast), cap(&general));
                }
            }
        }
    }

    /// `push_copy`'s inline fast path (room in the tail) leaves the queue
    /// exactly as the out-of-line path does, on both sides of the room
    /// left, with and without a tail yet.
    #[test]
    fn push_copy_fast_path_is_the_general_path() {
        for before in [None, Some(0usize), Some(TAIL - 3), Some(TAIL)] {
            for n in [0usize, 1, 3, 4, 64] {
                let make = || {
                    let mut q = WriteQueue::new();
                    if let Some(k) = before {
                        q.push_copy(&vec![7u8; k]);
                    }
                    q
                };
                let (mut fast, mut general) = (make(), make());
                let data: Vec<u8> = (0..n as u8).collect();
                fast.push_copy(&data);
                general.len += data.len();
                general.copy_to_new_room(&data);
                assert_eq!(format!("{fast:?}"), format!("{general:?}"));
            }
        }
    }

    /// Random pushes, advances, takes and drains against a plain byte
    /// vector: same bytes, same length, same slices.
    #[test]
    fn agrees_with_a_byte_vector() {
        let mut q = WriteQueue::new();
        let mut model: Vec<u8> = Vec::new();
        // The caller's buffer for `push_buf`, reused as a framing layer does.
        let mut mine = BytesMut::new();
        let mut next = 0u8;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            match rand(8) {
                op @ (0 | 1 | 6 | 7) => {
                    // Fresh bytes (a running counter), by push or by copy.
                    let n = rand(5) as usize;
                    let b: Vec<u8> = (0..n)
                        .map(|_| {
                            next = next.wrapping_add(1);
                            next
                        })
                        .collect();
                    model.extend_from_slice(&b);
                    if op == 6 {
                        q.push_copy(&b);
                    } else if op == 7 {
                        mine.extend_from_slice(&b);
                        q.push_buf(&mut mine);
                        assert!(mine.is_empty());
                    } else {
                        q.push(Bytes::from(b));
                    }
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
                        q.front_slice().map(|b| b.len()),
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
            assert_eq!(q.front_slice().is_none(), model.is_empty());
            if let Some(f) = q.front_slice() {
                assert_eq!(f, &model[..f.len()]);
            }
        }
    }
}
