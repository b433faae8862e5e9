//! The close contract as a state machine, shared by every transport.

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteSide {
    /// Writes accepted.
    Open,
    /// `close_write` or `close` was called: flush, then send end-of-stream.
    Draining,
    /// The end-of-stream marker is out.
    Closed,
}

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
///   [`next_upcall`](Self::next_upcall) and delivers each upcall.
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
#[derive(Clone, Debug)]
pub struct Lifecycle {
    write: WriteSide,
    read_open: bool,
    close_requested: bool,
    want_write_closed: bool,
    pending_read_closed: bool,
    pending_write_closed: bool,
    fatal: Option<Reason>,
    lost: bool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A connection open both ways.
    pub fn new() -> Self {
        Lifecycle {
            write: WriteSide::Open,
            read_open: true,
            close_requested: false,
            want_write_closed: false,
            pending_read_closed: false,
            pending_write_closed: false,
            fatal: None,
            lost: false,
        }
    }

    // ----- queries -------------------------------------------------------

    /// Whether a write would be accepted now.
    #[inline]
    pub fn can_write(&self) -> bool {
        self.write == WriteSide::Open && self.is_live()
    }

    /// Whether received data should still be delivered to the protocol.
    #[inline]
    pub fn is_reading(&self) -> bool {
        self.read_open && !self.close_requested && self.is_live()
    }

    /// Whether the peer's end-of-stream has not yet been seen.
    #[inline]
    pub fn peer_may_send(&self) -> bool {
        self.read_open && self.is_live()
    }

    /// Neither lost nor about to be (no abort or failure pending).
    #[inline]
    pub fn is_live(&self) -> bool {
        !self.lost && self.fatal.is_none()
    }

    /// Whether `connection_lost` has been handed out.
    #[inline]
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Whether the protocol called `close`.
    #[inline]
    pub fn close_requested(&self) -> bool {
        self.close_requested
    }

    /// Whether the protocol asked to end the write side (by `close_write` or
    /// `close`) and the end-of-stream marker is not out yet. The transport
    /// sends it once its buffer is empty, then calls [`fin_sent`](Self::fin_sent).
    #[inline]
    pub fn wants_fin(&self) -> bool {
        self.write == WriteSide::Draining && self.is_live()
    }

    /// Whether our end-of-stream marker is out.
    #[inline]
    pub fn fin_is_sent(&self) -> bool {
        self.write == WriteSide::Closed
    }

    /// Whether an abort is pending: buffered data should be dropped and the
    /// peer reset.
    pub fn is_aborting(&self) -> bool {
        matches!(self.fatal, Some(Reason::Aborted))
    }

    // ----- the protocol's requests --------------------------------------

    /// The protocol called `close_write`. Returns `false` (and changes
    /// nothing) if the write side was already closing.
    pub fn close_write(&mut self) -> bool {
        if self.write == WriteSide::Open && self.is_live() {
            self.write = WriteSide::Draining;
            self.want_write_closed = true;
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
        self.close_requested = true;
        self.pending_read_closed = false;
        self.pending_write_closed = false;
        if self.write == WriteSide::Open {
            self.write = WriteSide::Draining;
        }
    }

    /// The protocol called `abort`.
    pub fn abort(&mut self) {
        self.fail(Reason::Aborted);
    }

    // ----- what happened below ------------------------------------------

    /// The peer's end-of-stream arrived.
    pub fn peer_eof(&mut self) {
        if self.read_open && self.is_live() {
            self.read_open = false;
            if !self.close_requested {
                self.pending_read_closed = true;
            }
        }
    }

    /// The connection failed (reset, error, timeout) or was aborted. The
    /// first reason wins.
    pub fn fail(&mut self, reason: Reason) {
        if self.is_live() {
            self.fatal = Some(reason);
        }
    }

    /// Our end-of-stream marker is out (after everything buffered).
    pub fn fin_sent(&mut self) {
        if self.write == WriteSide::Draining && self.is_live() {
            self.write = WriteSide::Closed;
            if self.want_write_closed && !self.close_requested {
                self.pending_write_closed = true;
            }
        }
    }

    /// The next callback the contract says is due, if any. Call until `None`
    /// after every callback and every event.
    pub fn next_upcall(&mut self) -> Option<Upcall> {
        if self.lost {
            return None;
        }
        if let Some(r) = self.fatal.take() {
            self.lost = true;
            return Some(Upcall::Lost(r));
        }
        if self.pending_write_closed {
            self.pending_write_closed = false;
            return Some(Upcall::WriteClosed);
        }
        if self.pending_read_closed {
            self.pending_read_closed = false;
            return Some(Upcall::ReadClosed);
        }
        if self.write == WriteSide::Closed && (!self.read_open || self.close_requested) {
            self.lost = true;
            return Some(Upcall::Lost(Reason::Done));
        }
        None
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
}
