//! One subchannel's state, as the mux keeps it: the close contract, the
//! send half and the receive half, apart from the app protocol itself
//! (which the mux keeps in a table of its own, so a view can borrow this
//! state while the protocol is being called).

mod recv;
mod send;
mod table;

pub(crate) use recv::RecvState;
pub(crate) use send::SendState;
pub(crate) use table::StreamTable;

use strata_core::Lifecycle;

use crate::share::Mark;

/// Per-stream state. Small on purpose (no map, no `TransportInfo`): an idle
/// subchannel costs a few hundred bytes.
#[derive(Debug)]
pub(crate) struct Stream {
    /// The yamux stream id.
    pub id: u32,
    /// The close contract, as the app sees it.
    pub life: Lifecycle,
    pub send: SendState,
    pub recv: RecvState,
    /// We opened it (our parity).
    pub outbound: bool,
    /// The peer acknowledged our SYN.
    pub acked: bool,
    /// The app has been given `connection_made`.
    pub made: bool,
    /// The app is attached (until `connection_lost`).
    pub app_live: bool,
    /// The peer's end-of-stream has been handed to the lifecycle.
    pub eof_reported: bool,
    /// The stream was reset on the wire (either way): nothing more flows.
    pub reset: bool,
    /// We sent the RST (so the peer may still have data in flight).
    pub rst_sent: bool,
    /// In the ready list.
    pub queued: bool,
    /// In the dirty list.
    pub dirty: bool,
    /// Timers the app has pending.
    pub timers: u16,
    /// When this stream last counted as busy receiving; see
    /// [`Shares`](crate::share::Shares).
    pub busy: Mark,
}

impl Stream {
    pub fn new(id: u32, outbound: bool) -> Self {
        Stream {
            id,
            life: Lifecycle::new(),
            send: SendState::new(),
            recv: RecvState::new(),
            outbound,
            acked: !outbound,
            made: false,
            app_live: true,
            eof_reported: false,
            reset: false,
            busy: Mark::default(),
            rst_sent: false,
            queued: false,
            dirty: false,
            timers: 0,
        }
    }

    /// Nothing more will flow either way on the wire: our FIN is out and the
    /// peer's arrived, or the stream was reset.
    pub fn wire_done(&self) -> bool {
        self.reset || (self.life.fin_is_sent() && self.recv.fin)
    }

    /// The state can go: the app is detached and the wire is done.
    pub fn can_free(&self) -> bool {
        !self.app_live && self.wire_done()
    }

    /// Whether the next data frame can go out: data and credit, or a FIN
    /// once the queue is empty.
    pub fn has_send_work(&self) -> bool {
        if self.reset || !self.life.is_live() {
            return false;
        }
        let fin_due = self.life.wants_fin() && self.send.queue.is_empty();
        (self.send.credit > 0 && !self.send.queue.is_empty()) || fin_due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_stream_is_small() {
        let size = std::mem::size_of::<Stream>();
        eprintln!("Stream: {size} bytes");
        assert!(size <= 320, "Stream is {size} bytes");
    }

    #[test]
    fn freeing_needs_both_directions_done_and_no_app() {
        let mut s = Stream::new(1, true);
        assert!(!s.can_free());
        s.life.close();
        s.life.fin_sent();
        s.app_live = false;
        assert!(!s.can_free(), "the peer's FIN is still to come");
        s.recv.fin = true;
        assert!(s.can_free());
        let mut r = Stream::new(3, true);
        r.app_live = false;
        r.reset = true;
        assert!(r.can_free());
    }
}
