//! Two datagram protocols joined by a lossy in-memory network with a
//! virtual clock.
//!
//! [`DatagramPair`] delivers what each side sends to the other after a delay,
//! and — with a seed, so every run is the same — drops, duplicates and
//! reorders datagrams as [`Faults`] says. It is the test bed for layers that
//! make streams out of datagrams.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use strata_core::{Bytes, DatagramProtocol, DatagramTransport, Reason, TimerId, Timers};

use crate::rng::Rng;

/// What the network does to datagrams. Probabilities are per datagram.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Probability of losing a datagram.
    pub drop: f64,
    /// Probability of delivering a datagram twice.
    pub duplicate: f64,
    /// Probability of holding a datagram back by up to `jitter` extra, which
    /// reorders it behind later ones.
    pub reorder: f64,
    /// One-way delay of every datagram.
    pub delay: Duration,
    /// The largest extra delay of a reordered datagram.
    pub jitter: Duration,
}

impl Default for Faults {
    /// A perfect network with 1 ms one-way delay.
    fn default() -> Self {
        Faults {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(5),
        }
    }
}

/// The transport side of one datagram endpoint of the harness.
#[derive(Debug)]
pub struct DatagramBase {
    local: SocketAddr,
    now: Instant,
    timers: Timers,
    outbox: Vec<(SocketAddr, Bytes)>,
    close_requested: bool,
    stopped: bool,
    max_size: usize,
    /// Datagrams this side sent.
    pub sent: u64,
    /// Datagrams delivered to this side.
    pub received: u64,
}

impl DatagramTransport for DatagramBase {
    fn send_to(&mut self, data: Bytes, to: SocketAddr) {
        if !self.close_requested && !self.stopped {
            self.outbox.push((to, data));
        }
    }
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn max_datagram_size(&self) -> usize {
        self.max_size
    }
    fn close(&mut self) {
        self.close_requested = true;
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        self.timers.set(deadline)
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.cancel(timer)
    }
}

/// One side of a [`DatagramPair`].
pub struct DSide<P> {
    /// The protocol.
    pub proto: P,
    /// Its transport.
    pub t: DatagramBase,
}

impl<P: DatagramProtocol> DSide<P> {
    fn new(proto: P, local: SocketAddr, now: Instant) -> Self {
        DSide {
            proto,
            t: DatagramBase {
                local,
                now,
                timers: Timers::new(),
                outbox: Vec::new(),
                close_requested: false,
                stopped: false,
                max_size: 1200,
                sent: 0,
                received: 0,
            },
        }
    }

    /// Whether `stopped` was delivered.
    pub fn is_stopped(&self) -> bool {
        self.t.stopped
    }

    fn settle(&mut self) {
        if self.t.close_requested && !self.t.stopped {
            self.t.stopped = true;
            self.t.timers.clear();
            self.t.outbox.clear();
            self.proto.stopped(Reason::Done);
        }
    }
}

/// Two datagram protocols on a faulty in-memory network.
pub struct DatagramPair<A, B> {
    /// The first endpoint, at [`DatagramPair::ADDR_A`].
    pub a: DSide<A>,
    /// The second endpoint, at [`DatagramPair::ADDR_B`].
    pub b: DSide<B>,
    faults: Faults,
    rng: Rng,
    start: Instant,
    now: Instant,
    seq: u64,
    in_flight: BinaryHeap<Reverse<(Instant, u64, bool, usize)>>,
    payloads: Vec<Option<(SocketAddr, Bytes)>>,
    started: bool,
    /// Datagrams the network dropped.
    pub dropped: u64,
}

impl<A: DatagramProtocol, B: DatagramProtocol> DatagramPair<A, B> {
    /// Address of side `a`.
    pub const ADDR_A: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        1000,
    );
    /// Address of side `b`.
    pub const ADDR_B: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        2000,
    );

    /// Join `a` and `b` by a network with `faults`, randomised by `seed`.
    pub fn new(a: A, b: B, faults: Faults, seed: u64) -> Self {
        let now = Instant::now();
        DatagramPair {
            a: DSide::new(a, Self::ADDR_A, now),
            b: DSide::new(b, Self::ADDR_B, now),
            faults,
            rng: Rng::new(seed),
            start: now,
            now,
            seq: 0,
            in_flight: BinaryHeap::new(),
            payloads: Vec::new(),
            started: false,
            dropped: 0,
        }
    }

    /// Change the faults from now on (a network that gets worse, or heals).
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Virtual time since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.a.proto.started(&mut self.a.t);
            self.a.settle();
            self.b.proto.started(&mut self.b.t);
            self.b.settle();
            self.collect();
        }
    }

    /// Move datagrams from the outboxes onto the network, applying faults.
    fn collect(&mut self) {
        let mut sends: Vec<(bool, SocketAddr, Bytes)> = Vec::new();
        for (to, d) in self.a.t.outbox.drain(..) {
            self.a.t.sent += 1;
            sends.push((true, to, d));
        }
        for (to, d) in self.b.t.outbox.drain(..) {
            self.b.t.sent += 1;
            sends.push((false, to, d));
        }
        for (from_a, to, d) in sends {
            let to_b = to == Self::ADDR_B;
            let to_a = to == Self::ADDR_A;
            if !(to_a || to_b) || (from_a && to_a) || (!from_a && to_b) {
                self.dropped += 1; // nobody lives there
                continue;
            }
            if self.rng.chance(self.faults.drop) {
                self.dropped += 1;
                continue;
            }
            let copies = if self.rng.chance(self.faults.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut at = self.now + self.faults.delay;
                if self.rng.chance(self.faults.reorder) {
                    let j = self.faults.jitter.as_micros() as usize;
                    at += Duration::from_micros(self.rng.range(0, j) as u64);
                }
                let from = if from_a { Self::ADDR_A } else { Self::ADDR_B };
                self.seq += 1;
                let idx = self.payloads.len();
                self.payloads.push(Some((from, d.clone())));
                self.in_flight.push(Reverse((at, self.seq, to_b, idx)));
            }
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let mut t = self.in_flight.peek().map(|Reverse((at, ..))| *at);
        for d in [self.a.t.timers.earliest(), self.b.t.timers.earliest()]
            .into_iter()
            .flatten()
        {
            t = Some(t.map_or(d, |x| x.min(d)));
        }
        t
    }

    fn set_now(&mut self, now: Instant) {
        self.now = now;
        self.a.t.now = now;
        self.b.t.now = now;
    }

    /// Process everything due at the current time.
    fn step(&mut self) {
        while let Some(Reverse((at, _, to_b, idx))) = self.in_flight.peek().copied() {
            if at > self.now {
                break;
            }
            self.in_flight.pop();
            let Some((from, d)) = self.payloads[idx].take() else {
                continue;
            };
            if to_b && !self.b.is_stopped() {
                self.b.t.received += 1;
                self.b.proto.datagram_received(&mut self.b.t, d, from);
                self.b.settle();
            } else if !to_b && !self.a.is_stopped() {
                self.a.t.received += 1;
                self.a.proto.datagram_received(&mut self.a.t, d, from);
                self.a.settle();
            }
            self.collect();
        }
        if self.in_flight.is_empty() {
            self.payloads.clear();
        }
        while !self.a.is_stopped() {
            let Some(id) = self.a.t.timers.pop_expired(self.now) else {
                break;
            };
            self.a.proto.timer_fired(&mut self.a.t, id);
            self.a.settle();
            self.collect();
        }
        while !self.b.is_stopped() {
            let Some(id) = self.b.t.timers.pop_expired(self.now) else {
                break;
            };
            self.b.proto.timer_fired(&mut self.b.t, id);
            self.b.settle();
            self.collect();
        }
    }

    /// Run events in time order until `done(self)` holds, nothing is left to
    /// happen, or `limit` of virtual time passed. Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        self.start();
        let end = self.now + limit;
        loop {
            self.step();
            if done(self) {
                return true;
            }
            match self.next_event() {
                Some(t) if t <= end => self.set_now(t.max(self.now)),
                _ => return false,
            }
        }
    }

    /// Move the clock forward by `d`, processing everything due on the way.
    pub fn advance(&mut self, d: Duration) {
        self.start();
        let end = self.now + d;
        self.run_until(d, |_| false);
        self.set_now(end);
        self.step();
    }
}
