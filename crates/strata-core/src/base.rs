//! The state every *bottom* stream transport keeps, written once.

use std::cell::Cell;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::{
    FlowUpcall, LayerInfo, Lifecycle, Protocol, Reason, TimerId, Timers, Transport, TransportInfo,
    Upcall, WaterMarks, WriteQueue,
};

/// The transport half of a bottom transport (a socket, the harness's
/// in-memory link), without the I/O.
///
/// It implements [`Transport`]: the protocol on top is lent `&mut BaseTransport`
/// in every callback. Its owner — the tokio driver, the test harness — does
/// the I/O around it:
///
/// * hands received bytes to [`deliver`](BaseTransport::deliver) (which honours
///   pause and close), reports end-of-stream with
///   [`peer_eof`](BaseTransport::peer_eof) and failures with
///   [`fail`](BaseTransport::fail);
/// * drains [`queue`](BaseTransport::queue) into the wire, and when
///   [`lifecycle`](BaseTransport::lifecycle) `.wants_fin()` with an empty
///   queue, sends its end-of-stream and calls [`fin_sent`](BaseTransport::fin_sent);
/// * resets the peer when [`take_reset_request`](BaseTransport::take_reset_request)
///   says so;
/// * keeps the clock current ([`set_now`](BaseTransport::set_now), or
///   [`clock_moved`](BaseTransport::clock_moved) to have it read from the
///   system clock when first asked) and fires timers with
///   [`fire_timers`](BaseTransport::fire_timers);
/// * after anything it did, calls [`settle`](BaseTransport::settle) so that
///   the callbacks the close contract and the water marks say are due get
///   delivered, in order.
#[derive(Debug)]
pub struct BaseTransport {
    /// The close contract.
    pub lifecycle: Lifecycle,
    /// Bytes written and not yet handed to the wire.
    pub queue: WriteQueue,
    /// Write-side flow control.
    pub marks: WaterMarks,
    /// Whether the protocol paused reading.
    pub read_paused: bool,
    /// Pending timers of the whole stack.
    pub timers: Timers,
    /// The clock reading callbacks see ([`Transport::now`]); `None` until
    /// first asked after [`clock_moved`](BaseTransport::clock_moved).
    now: Cell<Option<Instant>>,
    /// Addresses and the bottom layer's description.
    pub info: TransportInfo,
    /// Bytes received from the wire.
    pub bytes_in: u64,
    /// Bytes handed to the wire.
    pub bytes_out: u64,
    reset_requested: bool,
    made: bool,
}

impl BaseTransport {
    /// A fresh, open transport described by `info` (whose bottom layer the
    /// owner named), reading the clock `now`.
    pub fn new(info: TransportInfo, now: Instant) -> Self {
        BaseTransport {
            lifecycle: Lifecycle::new(),
            queue: WriteQueue::new(),
            marks: WaterMarks::default(),
            read_paused: false,
            timers: Timers::new(),
            now: Cell::new(Some(now)),
            info,
            bytes_in: 0,
            bytes_out: 0,
            reset_requested: false,
            made: false,
        }
    }

    /// Call `connection_made` (once) and settle.
    pub fn start<P: Protocol + ?Sized>(&mut self, p: &mut P) {
        if !self.made {
            self.made = true;
            p.connection_made(self);
            self.settle(p);
        }
    }

    /// Whether the owner should read from the wire now: live, not paused,
    /// not closed for reading.
    #[inline]
    pub fn wants_read(&self) -> bool {
        // `is_reading` is exactly "the peer may send and close was not
        // called", in one test.
        self.lifecycle.is_reading() && !self.read_paused
    }

    /// Hand received bytes to the protocol (dropped if the protocol closed
    /// or the connection is lost), then settle.
    #[inline]
    pub fn deliver<P: Protocol + ?Sized>(&mut self, p: &mut P, data: Bytes) {
        self.bytes_in += data.len() as u64;
        if self.lifecycle.is_reading() {
            p.data_received(self, data);
        }
        self.settle(p);
    }

    /// The peer's end-of-stream arrived.
    // Cold: once per connection at most, so callers lay out their
    // usual path without it.
    #[cold]
    pub fn peer_eof<P: Protocol + ?Sized>(&mut self, p: &mut P) {
        self.lifecycle.peer_eof();
        self.settle(p);
    }

    /// Our end-of-stream is out.
    // Cold: once per connection at most, so callers lay out their
    // usual path without it.
    #[cold]
    pub fn fin_sent<P: Protocol + ?Sized>(&mut self, p: &mut P) {
        self.lifecycle.fin_sent();
        self.settle(p);
    }

    /// The connection failed below (reset, I/O error, timeout).
    // Cold: once per connection at most, so callers lay out their
    // usual path without it.
    #[cold]
    pub fn fail<P: Protocol + ?Sized>(&mut self, p: &mut P, reason: Reason) {
        self.lifecycle.fail(reason);
        self.settle(p);
    }

    /// Set the clock callbacks see (a virtual clock, or the time a timer
    /// was due).
    #[inline]
    pub fn set_now(&mut self, now: Instant) {
        self.now.set(Some(now));
    }

    /// Time has passed: the next [`Transport::now`] reads the system clock
    /// (once; later calls in the same callback see the same reading). The
    /// tokio driver calls this at each poll, so a poll whose stack never
    /// asks the time never reads the clock.
    #[inline]
    pub fn clock_moved(&mut self) {
        self.now.set(None);
    }

    /// Whether the protocol aborted and the owner has not yet reset the
    /// peer; clears the request.
    #[inline]
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }

    /// Fire every timer due at [`now`](BaseTransport::now), settling after each.
    pub fn fire_timers<P: Protocol + ?Sized>(&mut self, p: &mut P) {
        while self.lifecycle.is_live() {
            let Some(id) = self.timers.pop_expired(self.now()) else {
                break;
            };
            p.timer_fired(self, id);
            self.settle(p);
        }
    }

    /// Deliver every callback that is due: the close contract's, then the
    /// water marks' (only while the write side is open: after `close_write`
    /// there is nothing to pause). Call after anything that may have changed
    /// state.
    ///
    /// When nothing is due (the common case: a write or a delivery that
    /// changed no state and crossed no mark) this is two tests, inlined.
    #[inline]
    pub fn settle<P: Protocol + ?Sized>(&mut self, p: &mut P) {
        if self.lifecycle.upcall_due()
            || (self.lifecycle.can_write() && self.marks.due(self.queue.len()))
        {
            self.settle_due(p);
        }
    }

    #[inline(never)]
    fn settle_due<P: Protocol + ?Sized>(&mut self, p: &mut P) {
        loop {
            if let Some(u) = self.lifecycle.next_upcall() {
                match u {
                    Upcall::ReadClosed => p.read_closed(self),
                    Upcall::WriteClosed => p.write_closed(self),
                    Upcall::Lost(reason) => {
                        self.queue.clear();
                        self.timers.clear();
                        p.connection_lost(reason);
                        return;
                    }
                }
                continue;
            }
            // Flow-control advice only matters while the protocol may write.
            if self.lifecycle.can_write() {
                if let Some(f) = self.marks.check(self.queue.len()) {
                    match f {
                        FlowUpcall::Pause => p.pause_writing(self),
                        FlowUpcall::Resume => p.resume_writing(self),
                    }
                    continue;
                }
            }
            return;
        }
    }

    // Out of line: the warning's formatting would otherwise burden every
    // write with its register saves.
    #[cold]
    #[inline(never)]
    fn write_dropped(&self, len: usize) {
        tracing::warn!(
            layer = self.info.layers.first().map(|l| l.name).unwrap_or("?"),
            len,
            "write after close_write/close/abort dropped"
        );
    }

    /// Record that `n` bytes of the queue went out on the wire.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        self.queue.advance(n);
        self.bytes_out += n as u64;
    }
}

impl Transport for BaseTransport {
    #[inline]
    fn write(&mut self, data: Bytes) {
        if self.lifecycle.can_write() {
            self.queue.push(data);
        } else {
            self.write_dropped(data.len());
        }
    }

    #[inline]
    fn write_slice(&mut self, data: &[u8]) {
        if self.lifecycle.can_write() {
            self.queue.push_copy(data);
        } else {
            self.write_dropped(data.len());
        }
    }

    #[inline]
    fn write_buf(&mut self, buf: &mut BytesMut) {
        if self.lifecycle.can_write() {
            self.queue.push_buf(buf);
        } else {
            self.write_dropped(buf.len());
            buf.clear();
        }
    }

    fn close_write(&mut self) {
        self.lifecycle.close_write();
    }

    fn close(&mut self) {
        self.lifecycle.close();
    }

    fn abort(&mut self) {
        if self.lifecycle.is_live() {
            self.queue.clear();
            self.reset_requested = true;
            self.lifecycle.abort();
        }
    }

    fn pause_reading(&mut self) {
        self.read_paused = true;
    }

    fn resume_reading(&mut self) {
        self.read_paused = false;
    }

    fn write_buffer_len(&self) -> usize {
        self.queue.len()
    }

    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.marks.set(high, low);
    }

    fn can_write(&self) -> bool {
        self.lifecycle.can_write()
    }

    fn info(&self) -> TransportInfo {
        let mut info = self.info.clone();
        if let Some(bottom) = info.layers.first_mut() {
            bottom.buffered = self.queue.len();
            bottom.bytes_in = self.bytes_in;
            bottom.bytes_out = self.bytes_out;
        } else {
            info.layers.push(LayerInfo::new("?"));
        }
        info
    }

    #[inline]
    fn now(&self) -> Instant {
        match self.now.get() {
            Some(t) => t,
            None => {
                let t = Instant::now();
                self.now.set(Some(t));
                t
            }
        }
    }

    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        self.timers.set(deadline)
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.cancel(timer)
    }
}
