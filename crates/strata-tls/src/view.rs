//! The face the TLS layer shows the protocol above: a short-lived
//! [`Transport`] borrowing the layer's [`Engine`] and the transport below.

use std::time::Instant;

use bytes::Bytes;
use strata_core::{Channels, LayerInfo, TimerId, Transport, TransportInfo};

use crate::engine::Engine;

/// What the protocol above a [`Tls`](crate::Tls) layer is lent in each
/// callback. Writes are queued as plaintext (no copy) and encrypted in one
/// batch when the callback returns, so many small writes become few full
/// TLS records; close requests are recorded and carried out then too.
pub(crate) struct View<'a> {
    pub eng: &'a mut Engine,
    pub lower: &'a mut dyn Transport,
}

impl Transport for View<'_> {
    #[inline]
    fn write(&mut self, data: Bytes) {
        if self.eng.life.can_write() {
            self.eng.plain.push(data);
        } else {
            tracing::warn!(
                layer = "tls",
                len = data.len(),
                "write after close_write/close/abort dropped"
            );
        }
    }

    fn write_slice(&mut self, data: &[u8]) {
        if self.eng.life.can_write() {
            self.eng.plain.push_copy(data);
        } else {
            // Closed: `write` logs the refusal.
            self.write(Bytes::copy_from_slice(data));
        }
    }

    fn close_write(&mut self) {
        self.eng.life.close_write();
    }

    fn close(&mut self) {
        self.eng.life.close();
    }

    fn abort(&mut self) {
        if self.eng.life.is_live() {
            self.eng.plain.clear();
            self.eng.inbox.clear();
            self.eng.life.abort();
            if !self.eng.lower_lost && !self.eng.lower_closed {
                self.eng.lower_closed = true;
                if self.eng.flight_pending {
                    // The peer still needs our last handshake flight, which
                    // an abort below would drop, leaving it with a failed
                    // handshake it cannot tell from an attack. Let the
                    // flight out and close without close_notify: the peer
                    // sees its connection truncated, an error, as an abort.
                    self.lower.close();
                } else {
                    self.lower.abort();
                }
            }
        }
    }

    fn pause_reading(&mut self) {
        if !self.eng.read_paused {
            self.eng.read_paused = true;
            self.lower.pause_reading();
        }
    }

    fn resume_reading(&mut self) {
        if self.eng.read_paused {
            // Buffered plaintext is delivered when this callback returns,
            // before anything new can come from below.
            self.eng.read_paused = false;
            self.lower.resume_reading();
        }
    }

    fn write_buffer_len(&self) -> usize {
        self.eng.plain.len() + self.lower.write_buffer_len()
    }

    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        // The marks apply to plaintext here and ciphertext below together;
        // the layer keeps its own below (`Engine::tend_lower_marks`).
        self.eng.marks.set(high, low);
        self.eng.tend_lower_marks(self.lower);
    }

    fn can_write(&self) -> bool {
        self.eng.life.can_write()
    }

    fn info(&self) -> TransportInfo {
        let mut info = self.lower.info();
        info.push(self.eng.layer_info());
        info
    }

    fn now(&self) -> Instant {
        self.lower.now()
    }

    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        self.lower.set_timer(deadline)
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        self.lower.cancel_timer(timer)
    }

    /// TLS passes data through, so the multiplexer below it (if any) is
    /// reachable from the protocol above: a protocol on TLS inside a mux
    /// subchannel can open sibling subchannels.
    fn channels(&mut self) -> Option<&mut dyn Channels> {
        self.lower.channels()
    }
}

impl Engine {
    /// This layer's entry in [`TransportInfo`].
    pub fn layer_info(&self) -> LayerInfo {
        let mut l = LayerInfo::new("tls");
        l.buffered = self.plain.len();
        l.bytes_in = self.bytes_in;
        l.bytes_out = self.bytes_out;
        match &self.facts {
            Some(f) => f.publish(&mut l),
            None => l.facts.push(("handshake", "in progress".to_string())),
        }
        l
    }
}
