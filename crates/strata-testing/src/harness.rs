//! Two stacks joined in memory, pumped deterministically.
//!
//! A [`Pair`] holds two protocols, each on a [`BaseTransport`] — the very
//! transport state the tokio driver uses over a socket — and plays the part
//! of the network and the event loop between them:
//!
//! * bytes written on one side are moved to the other in chunks of a chosen
//!   size ([`Chunking`]): whole, fixed (down to one byte) or seeded-random;
//! * a link holds at most [`Pair::set_link_capacity`] bytes in flight toward a
//!   side, so a side that stops reading ([`Pair::stall`] or the protocol's own
//!   `pause_reading`) pushes back on its peer, whose write buffer grows and
//!   crosses its water marks — as over a real socket;
//! * end-of-stream, resets and cut links behave as TCP's do under the tokio
//!   driver (a side that closed lingers: bytes sent to it are discarded);
//! * time is virtual: [`Pair::advance`] moves the clock and fires timers, and
//!   [`Pair::run`] jumps straight to the next deadline whenever the pair is
//!   otherwise idle, so a test of a 30-second keepalive takes microseconds.
//!
//! ```
//! use strata_core::{Bytes, Protocol, Transport};
//! use strata_testing::{Chunking, Pair};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) { t.write(data) }
//! }
//! #[derive(Default)]
//! struct Client { got: Vec<u8> }
//! impl Protocol for Client {
//!     fn connection_made(&mut self, t: &mut dyn Transport) {
//!         t.write_slice(b"hello");
//!         t.close_write(); // half-close: we keep reading
//!     }
//!     fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
//!         self.got.extend_from_slice(&data)
//!     }
//! }
//!
//! let mut pair = Pair::new(Client::default(), Echo).chunking(Chunking::Fixed(1));
//! pair.run();
//! assert_eq!(pair.a.proto.got, b"hello");
//! ```

use std::time::{Duration, Instant};

use strata_core::{Addr, BaseTransport, LayerInfo, Protocol, Reason, TransportInfo, WriteQueue};

use crate::rng::Rng;

/// How the harness cuts the byte stream into deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// As written (up to the link capacity).
    Whole,
    /// Exactly `n` bytes at a time (the last piece may be shorter).
    Fixed(usize),
    /// A seeded-random size from 1 to `max` each time.
    Random {
        /// The seed; the same seed gives the same cuts.
        seed: u64,
        /// The largest piece.
        max: usize,
    },
}

/// One end of a [`Pair`]: a protocol on its transport, plus the bytes in
/// flight toward it.
pub struct Side<P> {
    /// The protocol under test.
    pub proto: P,
    /// Its transport; inspect it (`t.write_buffer_len()`, `t.lifecycle`), or
    /// call its methods between pumps to act as the protocol would.
    pub t: BaseTransport,
    inbox: WriteQueue,
    inbox_eof: bool,
    eof_delivered: bool,
    stalled: bool,
}

impl<P: Protocol> Side<P> {
    fn new(proto: P, me: u64, peer: u64, now: Instant) -> Self {
        let info = TransportInfo::new(
            Addr::Memory(me),
            Addr::Memory(peer),
            LayerInfo::new("memory"),
        );
        Side {
            proto,
            t: BaseTransport::new(info, now),
            inbox: WriteQueue::new(),
            inbox_eof: false,
            eof_delivered: false,
            stalled: false,
        }
    }

    /// Whether this side has seen `connection_lost`.
    pub fn is_lost(&self) -> bool {
        self.t.lifecycle.is_lost()
    }

    /// Bytes in flight toward this side, not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.inbox.len()
    }
}

/// Two protocols joined by an in-memory, duplex, deterministic link.
/// `a` is conventionally the client, `b` the server.
pub struct Pair<A, B> {
    /// The first side (the client, by convention).
    pub a: Side<A>,
    /// The second side (the server, by convention).
    pub b: Side<B>,
    start: Instant,
    now: Instant,
    chunking: Chunking,
    rng: Rng,
    capacity: usize,
    cut: bool,
    started: bool,
    limit: Duration,
}

/// Default bytes in flight per direction before the sender is pushed back.
pub const DEFAULT_LINK_CAPACITY: usize = 256 * 1024;

impl<A: Protocol, B: Protocol> Pair<A, B> {
    /// Join `a` and `b`. Nothing happens until [`start`](Pair::start),
    /// [`pump`](Pair::pump) or [`run`](Pair::run).
    pub fn new(a: A, b: B) -> Self {
        let now = Instant::now();
        Pair {
            a: Side::new(a, 1, 2, now),
            b: Side::new(b, 2, 1, now),
            start: now,
            now,
            chunking: Chunking::Whole,
            rng: Rng::new(0),
            capacity: DEFAULT_LINK_CAPACITY,
            cut: false,
            started: false,
            limit: Duration::from_secs(24 * 3600),
        }
    }

    /// Choose how bytes are cut (builder style).
    pub fn chunking(mut self, c: Chunking) -> Self {
        if let Chunking::Random { seed, .. } = c {
            self.rng = Rng::new(seed);
        }
        self.chunking = c;
        self
    }

    /// Bytes in flight per direction before the sender is pushed back.
    pub fn set_link_capacity(&mut self, bytes: usize) {
        self.capacity = bytes.max(1);
    }

    /// How far [`run`](Pair::run) may move the virtual clock before it gives
    /// up (default: a day).
    pub fn set_time_limit(&mut self, limit: Duration) {
        self.limit = limit;
    }

    /// The virtual time elapsed since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Call `connection_made` on both sides (a first). Idempotent; `pump`
    /// and `run` call it.
    pub fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.a.t.set_now(self.now);
            self.b.t.set_now(self.now);
            self.a.t.start(&mut self.a.proto);
            self.b.t.start(&mut self.b.proto);
        }
    }

    /// Make side `a` (`true`) or `b` stop (or resume) taking bytes off the
    /// link, whatever its protocol does: a peer that stops reading.
    pub fn stall(&mut self, side_a: bool, stalled: bool) {
        if side_a {
            self.a.stalled = stalled;
        } else {
            self.b.stalled = stalled;
        }
    }

    /// Cut the link silently: nothing crosses it any more, and neither side
    /// is told (as when a cable is pulled). Timers still fire.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    /// Reset the link: both sides see `connection_lost(Reset)`.
    pub fn reset(&mut self) {
        self.a.inbox.clear();
        self.b.inbox.clear();
        self.a.t.fail(&mut self.a.proto, Reason::Reset);
        self.b.t.fail(&mut self.b.proto, Reason::Reset);
    }

    /// Move bytes, end-of-stream and resets both ways until nothing moves.
    /// Does not move the clock. Returns whether anything happened.
    pub fn pump(&mut self) -> bool {
        self.start();
        let mut any = false;
        loop {
            let mut progress = false;
            let Pair {
                a,
                b,
                chunking,
                rng,
                capacity,
                cut,
                ..
            } = self;
            let mut next_chunk = || match *chunking {
                Chunking::Whole => usize::MAX,
                Chunking::Fixed(n) => n.max(1),
                Chunking::Random { max, .. } => rng.range(1, max.max(1)),
            };
            progress |= flow(a, b, &mut next_chunk, *capacity, *cut);
            progress |= flow(b, a, &mut next_chunk, *capacity, *cut);
            if !progress {
                return any;
            }
            any = true;
        }
    }

    /// Move the virtual clock forward by `d`, firing timers on the way in
    /// deadline order and pumping after each.
    pub fn advance(&mut self, d: Duration) {
        self.start();
        let target = self.now + d;
        loop {
            self.pump();
            match self.next_deadline() {
                Some(t) if t <= target => self.set_now(t),
                _ => break,
            }
            self.fire();
        }
        self.set_now(target);
        self.fire();
        self.pump();
    }

    /// Pump and move the clock to each next deadline until both sides are
    /// lost, or nothing is left to happen, or the time limit is reached.
    /// Returns whether both sides are lost.
    pub fn run(&mut self) -> bool {
        self.start();
        loop {
            self.pump();
            if self.a.is_lost() && self.b.is_lost() {
                return true;
            }
            let Some(t) = self.next_deadline() else {
                return false;
            };
            if t - self.start > self.limit {
                return false;
            }
            self.set_now(t.max(self.now));
            self.fire();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.a.t.timers.earliest(), self.b.t.timers.earliest()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    fn set_now(&mut self, t: Instant) {
        self.now = t;
        self.a.t.set_now(t);
        self.b.t.set_now(t);
    }

    fn fire(&mut self) {
        self.a.t.fire_timers(&mut self.a.proto);
        self.b.t.fire_timers(&mut self.b.proto);
    }
}

/// Move what can move from `src` toward `dst`, and deliver what `dst` can
/// take. Returns whether anything happened.
fn flow<S: Protocol, D: Protocol>(
    src: &mut Side<S>,
    dst: &mut Side<D>,
    next_chunk: &mut dyn FnMut() -> usize,
    capacity: usize,
    cut: bool,
) -> bool {
    let mut progress = false;

    // An abort: the peer sees a reset (unless the link is cut).
    if src.t.take_reset_request() {
        progress = true;
        if !cut {
            dst.inbox.clear();
            dst.t.fail(&mut dst.proto, Reason::Reset);
        }
    }
    if cut {
        return progress;
    }

    // A side that has gone away *lingers*, as the tokio driver does: what
    // is sent to it is read and discarded until the sender's end-of-stream,
    // so a clean close stays clean (a kernel answering with a reset could
    // destroy data the closing side just flushed).
    let lingering = dst.is_lost();
    if lingering && !dst.inbox.is_empty() {
        dst.inbox.clear();
        progress = true;
    }

    // Bytes onto the link, up to its capacity.
    let mut moved = false;
    while !src.t.queue.is_empty() && dst.inbox.len() < capacity && !dst.inbox_eof {
        let n = next_chunk().min(capacity - dst.inbox.len());
        let piece = src.t.queue.take(n);
        src.t.bytes_out += piece.len() as u64;
        if !lingering {
            dst.inbox.push(piece);
        }
        moved = true;
    }
    if moved {
        progress = true;
        src.t.settle(&mut src.proto);
    }

    // End-of-stream once everything before it is on the link.
    if src.t.lifecycle.wants_fin() && src.t.queue.is_empty() {
        dst.inbox_eof = true;
        src.t.fin_sent(&mut src.proto);
        progress = true;
    }

    // A side that closed takes no more data: what arrives is discarded.
    if dst.t.lifecycle.close_requested() && !dst.inbox.is_empty() {
        dst.inbox.clear();
        progress = true;
    }

    // Deliveries, as the receiving side is willing to read.
    while !dst.stalled && dst.t.wants_read() && !dst.inbox.is_empty() {
        let piece = dst.inbox.take(next_chunk());
        dst.t.deliver(&mut dst.proto, piece);
        progress = true;
    }
    if dst.inbox_eof
        && !dst.eof_delivered
        && dst.inbox.is_empty()
        && !dst.stalled
        && (dst.t.wants_read() || !dst.t.lifecycle.is_live() || dst.t.lifecycle.close_requested())
    {
        dst.eof_delivered = true;
        dst.t.peer_eof(&mut dst.proto);
        progress = true;
    }
    progress
}
