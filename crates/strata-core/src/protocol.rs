use bytes::Bytes;

use crate::{Reason, TimerId, Transport};

/// The receiving side of a connection: something that makes sense of bytes.
///
/// A transport calls these methods; each call (but the last) lends the
/// protocol the transport as `t`, through which the protocol writes, closes,
/// pauses and sets timers. See the crate docs for the close contract that
/// fixes the order of these calls.
///
/// Every method but [`data_received`](Protocol::data_received) has a default,
/// so a protocol implements only what it cares about.
pub trait Protocol {
    /// The connection is established and `t` is ready for writing.
    /// Called once, first — unless the connection fails while it is being
    /// established by a layer (a TLS handshake that fails), in which case
    /// `connection_lost` is the only callback the protocol ever sees.
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let _ = t;
    }

    /// Bytes arrived from the peer. Chunk boundaries carry no meaning: the
    /// same stream may arrive in one call or one byte at a time.
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes);

    /// The peer closed its sending side (TCP FIN, TLS close_notify, mux FIN).
    /// No more data will arrive. Called at most once.
    ///
    /// The default closes our side too, as a protocol that does not know
    /// about half-close expects. A half-closing protocol overrides this and
    /// may keep writing until it calls [`Transport::close_write`] or
    /// [`Transport::close`].
    fn read_closed(&mut self, t: &mut dyn Transport) {
        t.close();
    }

    /// Our [`Transport::close_write`] has completed: everything written before
    /// it, and the end-of-stream marker after it, has been handed to the layer
    /// below. Called at most once.
    fn write_closed(&mut self, t: &mut dyn Transport) {
        let _ = t;
    }

    /// The connection is over. Called exactly once, always last; `reason`
    /// says whether it ended cleanly ([`Reason::Done`]) or not.
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// The transport's write buffer rose above its high-water mark: stop
    /// producing until [`resume_writing`](Protocol::resume_writing).
    /// Writes are still accepted; this is advice, so memory stays bounded.
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        let _ = t;
    }

    /// The write buffer drained below its low-water mark after a
    /// [`pause_writing`](Protocol::pause_writing).
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        let _ = t;
    }

    /// A timer set with [`Transport::set_timer`] expired.
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        let _ = (t, timer);
    }
}

/// A boxed protocol is a protocol: this is what makes run-time stacks
/// (`Box<dyn Protocol + Send>`) work with the same layers as static ones.
impl<P: Protocol + ?Sized> Protocol for Box<P> {
    #[inline]
    fn connection_made(&mut self, t: &mut dyn Transport) {
        (**self).connection_made(t)
    }
    #[inline]
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        (**self).data_received(t, data)
    }
    #[inline]
    fn read_closed(&mut self, t: &mut dyn Transport) {
        (**self).read_closed(t)
    }
    #[inline]
    fn write_closed(&mut self, t: &mut dyn Transport) {
        (**self).write_closed(t)
    }
    #[inline]
    fn connection_lost(&mut self, reason: Reason) {
        (**self).connection_lost(reason)
    }
    #[inline]
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        (**self).pause_writing(t)
    }
    #[inline]
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        (**self).resume_writing(t)
    }
    #[inline]
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        (**self).timer_fired(t, timer)
    }
}
