//! Test doubles for unit tests of one layer.
//!
//! [`RecordingTransport`] stands *below* a layer: hand it to the layer's
//! `Protocol` methods as the lower transport and look at what the layer
//! wrote and asked for. To record what a layer hands *up*, put a
//! [`Recorder`] above it.

use std::time::{Duration, Instant};

use strata_core::{
    Addr, BoxProtocol, Bytes, BytesMut, ChannelId, Channels, LayerInfo, OpenError, TimerId, Timers,
    Transport, TransportInfo, WaterMarks,
};

pub use crate::conformance::{Event, Log, Recorder};

/// A call a layer made on the transport below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `write` of this many bytes.
    Write(usize),
    /// `close_write`.
    CloseWrite,
    /// `close`.
    Close,
    /// `abort`.
    Abort,
    /// `pause_reading`.
    PauseReading,
    /// `resume_reading`.
    ResumeReading,
    /// `set_timer`, with the id handed out and the delay from `now`.
    SetTimer(TimerId, Duration),
    /// `cancel_timer`.
    CancelTimer(TimerId),
    /// `set_write_buffer_limits`.
    SetLimits(usize, usize),
}

/// A transport that records everything done to it and moves nothing.
///
/// Written bytes accumulate in [`written`](RecordingTransport::written)
/// (take them with [`take_written`](RecordingTransport::take_written) to feed
/// a peer); [`buffered`](RecordingTransport::buffered) simulates a backlog
/// for `write_buffer_len`; the clock is set by hand.
#[derive(Debug)]
pub struct RecordingTransport {
    /// Every call, in order.
    pub calls: Vec<Call>,
    /// All bytes written, concatenated.
    pub written: BytesMut,
    /// What `write_buffer_len` reports.
    pub buffered: usize,
    /// Whether reading is paused (after the last pause/resume call).
    pub reading_paused: bool,
    /// Whether `close_write`, `close` or `abort` was called.
    pub write_closed: bool,
    /// The clock `now()` returns; move it by hand.
    pub now: Instant,
    /// Timers set and not cancelled.
    pub timers: Timers,
    /// Water marks as last set.
    pub marks: WaterMarks,
    /// What `info()` returns.
    pub info: TransportInfo,
    /// `Some(opened)`: the double offers [`Channels`] (as a mux subchannel
    /// does) and counts the channels opened through it, dropping their
    /// protocols. `None` (the default): `channels()` is `None`.
    pub siblings: Option<ChannelId>,
}

impl Default for RecordingTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingTransport {
    /// A fresh double named `recording`.
    pub fn new() -> Self {
        RecordingTransport {
            calls: Vec::new(),
            written: BytesMut::new(),
            buffered: 0,
            reading_paused: false,
            write_closed: false,
            now: Instant::now(),
            timers: Timers::new(),
            marks: WaterMarks::default(),
            info: TransportInfo::new(
                Addr::Memory(1),
                Addr::Memory(2),
                LayerInfo::new("recording"),
            ),
            siblings: None,
        }
    }

    /// Take the bytes written so far.
    pub fn take_written(&mut self) -> Bytes {
        self.written.split().freeze()
    }

    /// Whether `call` was made.
    pub fn called(&self, call: &Call) -> bool {
        self.calls.contains(call)
    }
}

impl Transport for RecordingTransport {
    fn write(&mut self, data: Bytes) {
        self.calls.push(Call::Write(data.len()));
        if !self.write_closed {
            self.written.extend_from_slice(&data);
        }
    }
    fn close_write(&mut self) {
        self.calls.push(Call::CloseWrite);
        self.write_closed = true;
    }
    fn close(&mut self) {
        self.calls.push(Call::Close);
        self.write_closed = true;
    }
    fn abort(&mut self) {
        self.calls.push(Call::Abort);
        self.write_closed = true;
    }
    fn pause_reading(&mut self) {
        self.calls.push(Call::PauseReading);
        self.reading_paused = true;
    }
    fn resume_reading(&mut self) {
        self.calls.push(Call::ResumeReading);
        self.reading_paused = false;
    }
    fn write_buffer_len(&self) -> usize {
        self.buffered
    }
    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.calls.push(Call::SetLimits(high, low));
        self.marks.set(high, low);
    }
    fn can_write(&self) -> bool {
        !self.write_closed
    }
    fn info(&self) -> TransportInfo {
        self.info.clone()
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        let id = self.timers.set(deadline);
        self.calls.push(Call::SetTimer(
            id,
            deadline.saturating_duration_since(self.now),
        ));
        id
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        self.calls.push(Call::CancelTimer(timer));
        self.timers.cancel(timer);
    }

    fn channels(&mut self) -> Option<&mut dyn Channels> {
        if self.siblings.is_some() {
            Some(self)
        } else {
            None
        }
    }
}

impl Channels for RecordingTransport {
    fn open_channel(&mut self, _proto: BoxProtocol) -> Result<ChannelId, OpenError> {
        let n = self.siblings.get_or_insert(0);
        *n += 1;
        Ok(*n)
    }
}
