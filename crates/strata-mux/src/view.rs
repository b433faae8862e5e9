//! The face a subchannel shows its protocol: a short-lived [`Transport`]
//! borrowing the mux's state and the transport below.

use std::time::Instant;

use strata_core::{
    BoxProtocol, Bytes, ChannelId, Channels, OpenError, TimerId, Transport, TransportInfo,
};

use crate::core::Core;
use crate::stream::Stream;

/// What a subchannel's protocol is lent in each callback.
///
/// * `write` queues the bytes on the subchannel (no copy); they go out as
///   data frames when the callback returns, as the peer's window and the
///   transport below allow.
/// * `close_write` sends FIN after what is queued; `close` does the same
///   and ends the subchannel for the app; `abort` drops the queue and sends
///   RST at once.
/// * `pause_reading` holds this subchannel's data (and so its window
///   updates) without slowing any other subchannel.
/// * Timers go to the transport below; the mux routes them back here.
/// * [`channels`](Transport::channels) opens sibling subchannels.
pub(crate) struct View<'a> {
    pub core: &'a mut Core,
    pub key: usize,
    pub lower: &'a mut dyn Transport,
}

impl<'a> View<'a> {
    pub fn new(core: &'a mut Core, key: usize, lower: &'a mut dyn Transport) -> Self {
        View { core, key, lower }
    }

    #[inline]
    fn s(&mut self) -> &mut Stream {
        self.core
            .streams
            .get_mut(self.key)
            .expect("a subchannel's state outlives its protocol's callbacks")
    }

    #[inline]
    fn s_ref(&self) -> &Stream {
        self.core
            .streams
            .get(self.key)
            .expect("a subchannel's state outlives its protocol's callbacks")
    }
}

impl Transport for View<'_> {
    #[inline]
    fn write(&mut self, data: Bytes) {
        let s = self.s();
        if s.life.can_write() {
            s.send.queue.push(data);
        } else {
            tracing::warn!(
                layer = "mux",
                stream = s.id,
                len = data.len(),
                "write after close_write/close/abort dropped"
            );
        }
    }

    fn write_slice(&mut self, data: &[u8]) {
        let s = self.s();
        if s.life.can_write() {
            s.send.queue.push_copy(data);
        } else {
            // Closed: `write` logs the refusal.
            self.write(Bytes::copy_from_slice(data));
        }
    }

    fn close_write(&mut self) {
        self.s().life.close_write();
    }

    fn close(&mut self) {
        self.s().life.close();
    }

    fn abort(&mut self) {
        if self.s().life.is_live() {
            self.core.reset_stream(self.lower, self.key);
        }
    }

    fn pause_reading(&mut self) {
        self.s().recv.paused = true;
    }

    fn resume_reading(&mut self) {
        // What was held is delivered when this callback returns.
        self.s().recv.paused = false;
    }

    fn write_buffer_len(&self) -> usize {
        self.s_ref().send.queue.len()
    }

    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.s().send.marks.set(high, low);
    }

    fn can_write(&self) -> bool {
        self.s_ref().life.can_write()
    }

    fn info(&self) -> TransportInfo {
        self.core.stream_info(self.lower, self.key)
    }

    fn now(&self) -> Instant {
        self.lower.now()
    }

    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        let id = self.lower.set_timer(deadline);
        let s = self.s();
        s.timers = s.timers.saturating_add(1);
        let sid = s.id;
        self.core.timers.insert(id, (self.key, sid));
        id
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        let key = self.key;
        let sid = self.s().id;
        if self.core.timers.get(&timer) == Some(&(key, sid)) {
            self.core.timers.remove(&timer);
            let s = self.s();
            s.timers = s.timers.saturating_sub(1);
            self.lower.cancel_timer(timer);
        }
    }

    fn channels(&mut self) -> Option<&mut dyn Channels> {
        Some(self)
    }
}

impl Channels for View<'_> {
    fn open_channel(&mut self, proto: BoxProtocol) -> Result<ChannelId, OpenError> {
        let (key, id) = self.core.open_stream(self.lower)?;
        self.core.opened.push((key, proto));
        Ok(id)
    }
}
