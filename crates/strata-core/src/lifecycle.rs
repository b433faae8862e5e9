//! The close contract as a state machine, shared by every transport.

use std::fmt;

use crate::Reason;

/// A callback the close contract says is due. Produced by
/// [`Lifecycle::next_upcall`]; the transport delivers it to its protocol.
#[derive(Clone, Debug)]
pub enum Upcall {
    /// Call [`Protocol::read_closed`](crate::Protocol::read_closed).
    ReadClosed,
    /// Call [`Protocol::write_closed`](crate::Protocol::write_closed).
    WriteClosed,
    /// Call [`Protocol::connection_lost`](crate::Protocol::connection_lost);
    /// nothing follows.
    Lost(Reason),
}

// The state is one word of flags (every query is a mask test, which
// matters because transports ask several per message) plus the pending
// fatal reason. The write side is `Open` (neither of the first two bits),
// `Draining` or `Closed`.

/// `close_write` or `close` was called: flush, then send end-of-stream.
const DRAINING: u16 = 1;
/// The end-of-stream marker is out.
const FIN_SENT: u16 = 1 << 1;
/// The peer's end-of-stream arrived.
const READ_DONE: u16 = 1 << 2;
/// The protocol called `close`.
const CLOSE_REQ: u16 = 1 << 3;
/// The protocol called `close_write` (so `write_closed` is owed).
const WANT_WRITE_CLOSED: u16 = 1 << 4;
/// `read_closed` is due.
const PENDING_READ_CLOSED: u16 = 1 << 5;
/// `write_closed` is due.
const PENDING_WRITE_CLOSED: u16 = 1 << 6;
/// An abort or a failure is pending (`fatal` holds its reason).
const FATAL: u16 = 1 << 7;
/// `connection_lost` has been handed out.
const LOST: u16 = 1 << 8;
/// [`Lifecycle::next_upcall`] has something to return: derived from the
/// others after every change (see `refresh`).
const DUE: u16 = 1 << 9;

/// The close contract of one connection, without any I/O.
///
/// Every transport in Strata — the tokio driver, the in-memory harness, a
/// TLS view, a mux subchannel — keeps one of these and lets it decide which
/// callback is due, so the contract is written once:
///
/// * the protocol's requests come in through [`close_write`](Self::close_write),
///   [`close`](Self::close) and [`abort`](Self::abort);
/// * the transport reports what happened below: [`peer_eof`](Self::peer_eof),
///   [`fail`](Self::fail), and [`fin_sent`](Self::fin_sent) once its buffer is
///   flushed and the end-of-stream marker is out (it asks
///   [`wants_fin`](Self::wants_fin) to know when to send one);
/// * after every callback and every event, the transport drains
///   [`next_upcall`](Self::next_upcall) and delivers each upcall
///   ([`upcall_due`](Self::upcall_due) says, for one test, whether there is
///   any).
///
/// The rules it enforces:
///
/// * `connection_lost` exactly once, last; nothing after it;
/// * `read_closed` and `write_closed` at most once each, and only while
///   the protocol has not called `close`: after `close()` the next and last
///   callback is `connection_lost`;
/// * when both `write_closed` and `read_closed` are due, `write_closed`
///   comes first;
/// * `connection_lost(Done)` once our end-of-stream is out and the peer's
///   has arrived (or we called `close`);
/// * `abort` or a failure below preempts everything: `connection_lost` with
///   that reason comes next.
#[derive(Clone)]
pub struct Lifecycle {
    flags: u16,
    fatal: Option<Reason>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let write = if self.has(FIN_SENT) {
            "closed"
        } else if self.has(DRAINING) {
            "draining"
        } else {
            "open"
        };
        f.debug_struct("Lifecycle")
            .field("write", &write)
            .field("read_open", &!self.has(READ_DONE))
            .field("close_requested", &self.has(CLOSE_REQ))
            .field("want_write_closed", &self.has(WANT_WRITE_CLOSED))
            .field("pending_read_closed", &self.has(PENDING_READ_CLOSED))
            .field("pending_write_closed", &self.has(PENDING_WRITE_CLOSED))
            .field("fatal", &self.fatal)
            .field("lost", &self.has(LOST))
            .finish()
    }
}

impl Lifecycle {
    /// A connection open both ways.
    #[inline]
    pub fn new() -> Self {
        Lifecycle {
            flags: 0,
            fatal: None,
        }
    }

    #[inline]
    fn has(&self, bits: u16) -> bool {
        self.flags & bits != 0
    }

    /// Recompute `DUE` after a change: what `next_upcall` would return.
    #[inline]
    fn refresh(&mut self) {
        let f = self.flags;
        let due = f & LOST == 0
            && (f & (FATAL | PENDING_READ_CLOSED | PENDING_WRITE_CLOSED) != 0
                || (f & FIN_SENT != 0 && f & (READ_DONE | CLOSE_REQ) != 0));
        self.flags = if due { f | DUE } else { f & !DUE };
    }

    // ----- queries -------------------------------------------------------

    /// Whether a write would be accepted now.
    #[inline]
    pub fn can_write(&self) -> bool {
        self.flags & (DRAINING | FIN_SENT | FATAL | LOST) == 0
    }

    /// Whether received data should still be delivered to the protocol.
    #[inline]
    pub fn is_reading(&self) -> bool {
        self.flags & (READ_DONE | CLOSE_REQ | FATAL | LOST) == 0
    }

    /// Whether the peer's end-of-stream has not yet been seen.
    #[inline]
    pub fn peer_may_send(&self) -> bool {
        self.flags & (READ_DONE | FATAL | LOST) == 0
    }

    /// Neither lost nor about to be (no abort or failure pending).
    #[inline]
    pub fn is_live(&self) -> bool {
        self.flags & (FATAL | LOST) == 0
    }

    /// Whether `connection_lost` has been handed out.
    #[inline]
    pub fn is_lost(&self) -> bool {
        self.has(LOST)
    }

    /// Whether the protocol called `close`.
    #[inline]
    pub fn close_requested(&self) -> bool {
        self.has(CLOSE_REQ)
    }

    /// Whether the protocol asked to end the write side (by `close_write` or
    /// `close`) and the end-of-stream marker is not out yet. The transport
    /// sends it once its buffer is empty, then calls [`fin_sent`](Self::fin_sent).
    #[inline]
    pub fn wants_fin(&self) -> bool {
        self.flags & (DRAINING | FATAL | LOST) == DRAINING
    }

    /// Whether our end-of-stream marker is out.
    #[inline]
    pub fn fin_is_sent(&self) -> bool {
        self.has(FIN_SENT)
    }

    /// Whether an abort is pending: buffered data should be dropped and the
    /// peer reset.
    pub fn is_aborting(&self) -> bool {
        matches!(self.fatal, Some(Reason::Aborted))
    }

    /// Whether [`next_upcall`](Self::next_upcall) would return a callback:
    /// one test, so a transport can skip its settling when nothing changed.
    #[inline]
    pub fn upcall_due(&self) -> bool {
        self.has(DUE)
    }

    // ----- the protocol's requests --------------------------------------

    /// The protocol called `close_write`. Returns `false` (and changes
    /// nothing) if the write side was already closing.
    pub fn close_write(&mut self) -> bool {
        if self.can_write() {
            self.flags |= DRAINING | WANT_WRITE_CLOSED;
            true
        } else {
            false
        }
    }

    /// The protocol called `close`.
    pub fn close(&mut self) {
        if !self.is_live() {
            return;
        }
        self.flags |= CLOSE_REQ;
        self.flags &= !(PENDING_READ_CLOSED | PENDING_WRITE_CLOSED);
        if self.flags & (DRAINING | FIN_SENT) == 0 {
            self.flags |= DRAINING;
        }
        self.refresh();
    }

    /// The protocol called `abort`.
    pub fn abort(&mut self) {
        self.fail(Reason::Aborted);
    }

    // ----- what happened below ------------------------------------------

    /// The peer's end-of-stream arrived.
    pub fn peer_eof(&mut self) {
        if self.peer_may_send() {
            self.flags |= READ_DONE;
            if !self.has(CLOSE_REQ) {
                self.flags |= PENDING_READ_CLOSED;
            }
            self.refresh();
        }
    }

    /// The connection failed (reset, error, timeout) or was aborted. The
    /// first reason wins.
    pub fn fail(&mut self, reason: Reason) {
        if self.is_live() {
            self.fatal = Some(reason);
            self.flags |= FATAL;
            self.refresh();
        }
    }

    /// Our end-of-stream marker is out (after everything buffered).
    pub fn fin_sent(&mut self) {
        if self.wants_fin() {
            self.flags = (self.flags & !DRAINING) | FIN_SENT;
            if self.flags & (WANT_WRITE_CLOSED | CLOSE_REQ) == WANT_WRITE_CLOSED {
                self.flags |= PENDING_WRITE_CLOSED;
            }
            self.refresh();
        }
    }

    /// The next callback the contract says is due, if any. Call until `None`
    /// after every callback and every event.
    #[inline]
    pub fn next_upcall(&mut self) -> Option<Upcall> {
        if !self.upcall_due() {
            return None;
        }
        self.next_due_upcall()
    }

    fn next_due_upcall(&mut self) -> Option<Upcall> {
        let up = if let Some(r) = self.fatal.take() {
            self.flags = (self.flags & !FATAL) | LOST;
            Upcall::Lost(r)
        } else if self.has(PENDING_WRITE_CLOSED) {
            self.flags &= !PENDING_WRITE_CLOSED;
            Upcall::WriteClosed
        } else if self.has(PENDING_READ_CLOSED) {
            self.flags &= !PENDING_READ_CLOSED;
            Upcall::ReadClosed
        } else if self.has(FIN_SENT) && self.has(READ_DONE | CLOSE_REQ) {
            self.flags |= LOST;
            Upcall::Lost(Reason::Done)
        } else {
            debug_assert!(false, "DUE set with no upcall due");
            self.refresh();
            return None;
        };
        self.refresh();
        Some(up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(l: &mut Lifecycle) -> Vec<String> {
        std::iter::from_fn(|| l.next_upcall())
            .map(|u| match u {
                Upcall::ReadClosed => "read_closed".to_string(),
                Upcall::WriteClosed => "write_closed".to_string(),
                Upcall::Lost(r) => format!("lost:{}", r.kind()),
            })
            .collect()
    }

    #[test]
    fn close_write_then_peer_eof() {
        let mut l = Lifecycle::new();
        assert!(l.close_write());
        assert!(!l.can_write());
        assert!(l.is_reading());
        assert!(drain(&mut l).is_empty());
        assert!(l.wants_fin());
        l.fin_sent();
        assert_eq!(drain(&mut l), ["write_closed"]);
        l.peer_eof();
        assert_eq!(drain(&mut l), ["read_closed", "lost:done"]);
        assert!(drain(&mut l).is_empty());
    }

    #[test]
    fn peer_eof_then_close() {
        let mut l = Lifecycle::new();
        l.peer_eof();
        assert_eq!(drain(&mut l), ["read_closed"]);
        assert!(l.can_write());
        l.close();
        assert!(drain(&mut l).is_empty());
        l.fin_sent();
        assert_eq!(drain(&mut l), ["lost:done"]);
    }

    #[test]
    fn simultaneous_half_close_orders_write_closed_first() {
        let mut l = Lifecycle::new();
        l.close_write();
        l.peer_eof();
        l.fin_sent();
        assert_eq!(drain(&mut l), ["write_closed", "read_closed", "lost:done"]);
    }

    #[test]
    fn close_suppresses_half_close_callbacks() {
        let mut l = Lifecycle::new();
        l.close_write();
        l.peer_eof();
        l.close();
        l.fin_sent();
        assert_eq!(drain(&mut l), ["lost:done"]);
    }

    #[test]
    fn abort_preempts_and_is_final() {
        let mut l = Lifecycle::new();
        l.close_write();
        l.abort();
        assert!(l.is_aborting());
        assert!(!l.wants_fin());
        l.peer_eof();
        l.fin_sent();
        l.fail(Reason::Reset);
        assert_eq!(drain(&mut l), ["lost:aborted"]);
        l.close();
        assert!(drain(&mut l).is_empty());
        assert!(l.is_lost());
    }

    /// The state machine as it was first written (one field per fact), kept
    /// as the reference the flag word must agree with.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum RefWrite {
        Open,
        Draining,
        Closed,
    }

    struct Reference {
        write: RefWrite,
        read_open: bool,
        close_requested: bool,
        want_write_closed: bool,
        pending_read_closed: bool,
        pending_write_closed: bool,
        fatal: Option<Reason>,
        lost: bool,
    }

    impl Reference {
        fn new() -> Self {
            Reference {
                write: RefWrite::Open,
                read_open: true,
                close_requested: false,
                want_write_closed: false,
                pending_read_closed: false,
                pending_write_closed: false,
                fatal: None,
                lost: false,
            }
        }
        fn is_live(&self) -> bool {
            !self.lost && self.fatal.is_none()
        }
        fn queries(&self) -> [bool; 9] {
            [
                self.write == RefWrite::Open && self.is_live(),
                self.read_open && !self.close_requested && self.is_live(),
                self.read_open && self.is_live(),
                self.is_live(),
                self.lost,
                self.close_requested,
                self.write == RefWrite::Draining && self.is_live(),
                self.write == RefWrite::Closed,
                matches!(self.fatal, Some(Reason::Aborted)),
            ]
        }
        fn close_write(&mut self) -> bool {
            if self.write == RefWrite::Open && self.is_live() {
                self.write = RefWrite::Draining;
                self.want_write_closed = true;
                true
            } else {
                false
            }
        }
        fn close(&mut self) {
            if !self.is_live() {
                return;
            }
            self.close_requested = true;
            self.pending_read_closed = false;
            self.pending_write_closed = false;
            if self.write == RefWrite::Open {
                self.write = RefWrite::Draining;
            }
        }
        fn peer_eof(&mut self) {
            if self.read_open && self.is_live() {
                self.read_open = false;
                if !self.close_requested {
                    self.pending_read_closed = true;
                }
            }
        }
        fn fail(&mut self, reason: Reason) {
            if self.is_live() {
                self.fatal = Some(reason);
            }
        }
        fn fin_sent(&mut self) {
            if self.write == RefWrite::Draining && self.is_live() {
                self.write = RefWrite::Closed;
                if self.want_write_closed && !self.close_requested {
                    self.pending_write_closed = true;
                }
            }
        }
        fn next_upcall(&mut self) -> Option<String> {
            if self.lost {
                return None;
            }
            if let Some(r) = self.fatal.take() {
                self.lost = true;
                return Some(format!("lost:{}", r.kind()));
            }
            if self.pending_write_closed {
                self.pending_write_closed = false;
                return Some("write_closed".into());
            }
            if self.pending_read_closed {
                self.pending_read_closed = false;
                return Some("read_closed".into());
            }
            if self.write == RefWrite::Closed && (!self.read_open || self.close_requested) {
                self.lost = true;
                return Some("lost:done".into());
            }
            None
        }
    }

    fn queries(l: &Lifecycle) -> [bool; 9] {
        [
            l.can_write(),
            l.is_reading(),
            l.peer_may_send(),
            l.is_live(),
            l.is_lost(),
            l.close_requested(),
            l.wants_fin(),
            l.fin_is_sent(),
            l.is_aborting(),
        ]
    }

    fn name(u: Upcall) -> String {
        match u {
            Upcall::ReadClosed => "read_closed".to_string(),
            Upcall::WriteClosed => "write_closed".to_string(),
            Upcall::Lost(r) => format!("lost:{}", r.kind()),
        }
    }

    /// Every sequence of up to seven operations (requests, events, taking
    /// one upcall) leaves the flag word and the reference agreeing on every
    /// query, on `upcall_due`, and on each upcall handed out.
    #[test]
    fn agrees_with_the_reference_on_every_short_sequence() {
        const OPS: u32 = 8;
        const LEN: u32 = 7;
        for seq in 0..OPS.pow(LEN) {
            let (mut l, mut r) = (Lifecycle::new(), Reference::new());
            let mut s = seq;
            for _ in 0..LEN {
                match s % OPS {
                    0 => assert_eq!(l.close_write(), r.close_write()),
                    1 => {
                        l.close();
                        r.close();
                    }
                    2 => {
                        l.abort();
                        r.fail(Reason::Aborted);
                    }
                    3 => {
                        l.peer_eof();
                        r.peer_eof();
                    }
                    4 => {
                        l.fail(Reason::Reset);
                        r.fail(Reason::Reset);
                    }
                    5 => {
                        l.fin_sent();
                        r.fin_sent();
                    }
                    _ => assert_eq!(l.next_upcall().map(name), r.next_upcall()),
                }
                s /= OPS;
                assert_eq!(queries(&l), r.queries(), "sequence {seq}");
                let mut probe = r.clone_probe();
                assert_eq!(
                    l.upcall_due(),
                    probe.next_upcall().is_some(),
                    "sequence {seq}"
                );
            }
            // Drain both: same upcalls, in the same order.
            let ours: Vec<String> = std::iter::from_fn(|| l.next_upcall()).map(name).collect();
            let theirs: Vec<String> = std::iter::from_fn(|| r.next_upcall()).collect();
            assert_eq!(ours, theirs, "sequence {seq}");
            assert!(!l.upcall_due());
        }
    }

    impl Reference {
        fn clone_probe(&self) -> Reference {
            Reference {
                write: self.write,
                read_open: self.read_open,
                close_requested: self.close_requested,
                want_write_closed: self.want_write_closed,
                pending_read_closed: self.pending_read_closed,
                pending_write_closed: self.pending_write_closed,
                fatal: self.fatal.clone(),
                lost: self.lost,
            }
        }
    }
}
