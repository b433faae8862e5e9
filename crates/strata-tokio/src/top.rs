//! The protocol at the top of a driven stack, plus what the driver must
//! learn from its callbacks.

use strata_core::{Bytes, Protocol, Reason, TimerId, Transport};

/// Wraps the stack's protocol so the driver learns the reason handed to
/// `connection_lost` (which `BaseTransport` delivers and does not keep).
pub(crate) struct Top<P> {
    pub(crate) proto: P,
    pub(crate) lost: Option<Reason>,
}

impl<P: Protocol> Protocol for Top<P> {
    #[inline]
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.proto.connection_made(t)
    }
    #[inline]
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.proto.data_received(t, data)
    }
    #[inline]
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.proto.read_closed(t)
    }
    #[inline]
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.proto.write_closed(t)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.lost = Some(reason.clone());
        self.proto.connection_lost(reason)
    }
    #[inline]
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.proto.pause_writing(t)
    }
    #[inline]
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.proto.resume_writing(t)
    }
    #[inline]
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.proto.timer_fired(t, timer)
    }
}
