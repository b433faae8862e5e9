use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::{Channels, TimerId, TransportInfo, Upgrade, UpgradeError};

/// The sending side of a connection, as a protocol sees it: something that
/// moves bytes.
///
/// A protocol never owns its transport; it is lent one as `&mut dyn Transport`
/// in each callback. None of these methods blocks and none of them calls back
/// into the protocol: requested effects (closing, pausing, flow-control
/// notifications) take place after the current callback returns.
pub trait Transport {
    /// Queue `data` for sending. Never blocks: the bytes are buffered and
    /// flushed when the layer below can take them. When the buffer crosses
    /// the high-water mark the protocol is told to
    /// [`pause_writing`](crate::Protocol::pause_writing).
    ///
    /// After [`close_write`](Transport::close_write), [`close`](Transport::close)
    /// or [`abort`](Transport::abort) this is a no-op that logs a warning:
    /// the bytes are dropped. Use [`can_write`](Transport::can_write) to check.
    fn write(&mut self, data: Bytes);

    /// Half-close: flush what is buffered, then send the end-of-stream marker
    /// (TCP FIN, TLS close_notify, mux FIN). Reading goes on; the protocol is
    /// told [`write_closed`](crate::Protocol::write_closed) when done and the
    /// connection ends when the peer closes its side too.
    fn close_write(&mut self);

    /// Close both directions after flushing what is buffered. No more data is
    /// delivered; [`connection_lost`](crate::Protocol::connection_lost) with
    /// [`Reason::Done`](crate::Reason::Done) follows once the flush is done.
    fn close(&mut self);

    /// Drop buffered data and end the connection now. The peer sees a reset
    /// where the transport can express one (TCP RST, mux RST). The protocol
    /// gets `connection_lost(Reason::Aborted)` right after the current
    /// callback.
    fn abort(&mut self);

    /// Stop delivering [`data_received`](crate::Protocol::data_received)
    /// until [`resume_reading`](Transport::resume_reading). The transport stops
    /// reading from below, so the peer is eventually slowed down by flow
    /// control; nothing is lost.
    fn pause_reading(&mut self);

    /// Undo [`pause_reading`](Transport::pause_reading).
    fn resume_reading(&mut self);

    /// Bytes written but not yet handed to the layer below, at this layer and
    /// every layer beneath it.
    fn write_buffer_len(&self) -> usize;

    /// Set the high- and low-water marks of the write buffer (`low <= high`).
    fn set_write_buffer_limits(&mut self, high: usize, low: usize);

    /// Whether a [`write`](Transport::write) now would be accepted.
    fn can_write(&self) -> bool;

    /// A snapshot of facts about the connection: addresses, the layers of the
    /// stack from the bottom up, and what each layer knows (TLS version,
    /// buffered bytes, ...).
    fn info(&self) -> TransportInfo;

    /// The current time on the clock that drives this stack's timers: real
    /// time under the tokio driver, virtual time under the test harness.
    fn now(&self) -> Instant;

    /// Ask for [`timer_fired`](crate::Protocol::timer_fired) at `deadline`.
    /// Returns an id unique within this connection.
    fn set_timer(&mut self, deadline: Instant) -> TimerId;

    /// Cancel a timer. Cancelling a timer that already fired or was
    /// cancelled is a no-op.
    fn cancel_timer(&mut self, timer: TimerId);

    /// Convenience: [`set_timer`](Transport::set_timer) `after` from now.
    fn set_timer_after(&mut self, after: Duration) -> TimerId {
        let deadline = self.now() + after;
        self.set_timer(deadline)
    }

    /// Put a layer (TLS, typically) under the calling protocol, after the
    /// current callback returns; see [`Upgradable`](crate::Upgradable).
    /// Transports that cannot do this return
    /// [`UpgradeError::Unsupported`] (the default).
    fn upgrade(&mut self, upgrade: Upgrade) -> Result<(), UpgradeError> {
        drop(upgrade);
        Err(UpgradeError::Unsupported)
    }

    /// The multiplexer reachable from here, if any: lets a protocol open
    /// sibling channels (see [`Channels`]). Pass-through layers (TLS) forward
    /// this to the transport below them; the default is `None`.
    fn channels(&mut self) -> Option<&mut dyn Channels> {
        None
    }

    /// Write a copy of `data`, like `write(Bytes::copy_from_slice(data))`
    /// (which is the default): for small writes encoded into a buffer of
    /// the caller's own (headers, short messages) that it then reuses. A
    /// transport that owns its write buffer appends the bytes to it (the
    /// tokio driver's, TLS, a mux subchannel), so small messages cost no
    /// allocation and no reference counting. Order with
    /// [`write`](Transport::write) is the order of the calls.
    fn write_slice(&mut self, data: &[u8]) {
        self.write(Bytes::copy_from_slice(data))
    }

    /// Write the bytes of `buf` and leave it empty, its allocation the
    /// caller's to fill again: for a layer that encodes its messages into
    /// a buffer of its own (a framing layer, say) and hands them below in
    /// batches. Like [`write_slice`](Transport::write_slice) of them and
    /// `buf.clear()` (the default), but a transport that owns its write
    /// buffer may take `buf`'s allocation and give its own (empty) in
    /// exchange instead of copying the bytes: the tokio driver does so when
    /// nothing else is queued, so a request/response exchange copies each
    /// message once, into `buf`, on its way to the socket.
    fn write_buf(&mut self, buf: &mut BytesMut) {
        self.write_slice(buf);
        buf.clear();
    }
}
