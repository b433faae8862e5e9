//! [`Framed`]: the frame layer — a [`Protocol`] of bytes to the transport
//! below, a [`FrameTransport`] to the [`FrameProtocol`] above.

use std::time::Instant;

use bytes::Bytes;
use strata_core::{Channels, LayerInfo, Protocol, Reason, TimerId, Transport, TransportInfo};

use crate::codec::{Decoder, Encoder};
use crate::{Flags, Frame, FrameError, FrameType, DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT};

/// What sits on a frame layer: [`Protocol`] with frames for bytes.
///
/// The callbacks and their order are those of the close contract
/// (`ARCHITECTURE.md`), with [`frame_received`](FrameProtocol::frame_received)
/// for `data_received` and one more, [`frame_error`](FrameProtocol::frame_error).
pub trait FrameProtocol {
    /// The connection is established.
    fn connection_made(&mut self, t: &mut dyn FrameTransport) {
        let _ = t;
    }

    /// A whole frame arrived.
    fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame);

    /// The bytes below are not frames (an oversized frame, an unknown type,
    /// undefined flags, or the stream ended inside a frame). No frame is
    /// delivered after this, and the rest of the input is discarded;
    /// `read_closed` still comes when the peer ends its side. The default
    /// closes the connection; a protocol may first send a frame saying why.
    fn frame_error(&mut self, t: &mut dyn FrameTransport, error: FrameError) {
        tracing::debug!(%error, "frame error: closing");
        t.close();
    }

    /// The peer ended its side, after its last whole frame. Default: close.
    fn read_closed(&mut self, t: &mut dyn FrameTransport) {
        t.close();
    }

    /// Our `close_write` is done.
    fn write_closed(&mut self, t: &mut dyn FrameTransport) {
        let _ = t;
    }

    /// The connection is over; exactly once, last.
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// The transport's write buffer is above its high-water mark.
    fn pause_writing(&mut self, t: &mut dyn FrameTransport) {
        let _ = t;
    }

    /// The write buffer drained to its low-water mark.
    fn resume_writing(&mut self, t: &mut dyn FrameTransport) {
        let _ = t;
    }

    /// A timer set through the transport expired.
    fn timer_fired(&mut self, t: &mut dyn FrameTransport, timer: TimerId) {
        let _ = (t, timer);
    }
}

impl<P: FrameProtocol + ?Sized> FrameProtocol for Box<P> {
    fn connection_made(&mut self, t: &mut dyn FrameTransport) {
        (**self).connection_made(t)
    }
    fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame) {
        (**self).frame_received(t, frame)
    }
    fn frame_error(&mut self, t: &mut dyn FrameTransport, error: FrameError) {
        (**self).frame_error(t, error)
    }
    fn read_closed(&mut self, t: &mut dyn FrameTransport) {
        (**self).read_closed(t)
    }
    fn write_closed(&mut self, t: &mut dyn FrameTransport) {
        (**self).write_closed(t)
    }
    fn connection_lost(&mut self, reason: Reason) {
        (**self).connection_lost(reason)
    }
    fn pause_writing(&mut self, t: &mut dyn FrameTransport) {
        (**self).pause_writing(t)
    }
    fn resume_writing(&mut self, t: &mut dyn FrameTransport) {
        (**self).resume_writing(t)
    }
    fn timer_fired(&mut self, t: &mut dyn FrameTransport, timer: TimerId) {
        (**self).timer_fired(t, timer)
    }
}

/// A transport of frames: what a [`FrameProtocol`] is lent in each callback.
///
/// Everything but [`send`](FrameTransport::send) means what it means on
/// [`Transport`], and is the transport below's (the frame layer buffers
/// nothing of its own on the way down).
pub trait FrameTransport {
    /// Send a frame: its header and then its payload, as it is (no copy),
    /// to the transport below. A payload over 2^24 - 1 bytes cannot be
    /// framed: that is a bug of the caller, logged, and the connection is
    /// aborted rather than a frame silently dropped.
    fn send(&mut self, frame: Frame);
    /// The largest payload this side sends and accepts.
    fn max_frame(&self) -> usize;
    /// [`Transport::close_write`].
    fn close_write(&mut self);
    /// [`Transport::close`].
    fn close(&mut self);
    /// [`Transport::abort`].
    fn abort(&mut self);
    /// [`Transport::pause_reading`]: no frame is delivered until
    /// `resume_reading`, even of bytes already received.
    fn pause_reading(&mut self);
    /// [`Transport::resume_reading`].
    fn resume_reading(&mut self);
    /// [`Transport::write_buffer_len`].
    fn write_buffer_len(&self) -> usize;
    /// [`Transport::can_write`].
    fn can_send(&self) -> bool;
    /// [`Transport::info`], with a `frames` layer on top.
    fn info(&self) -> TransportInfo;
    /// [`Transport::now`].
    fn now(&self) -> Instant;
    /// [`Transport::set_timer`].
    fn set_timer(&mut self, deadline: Instant) -> TimerId;
    /// [`Transport::cancel_timer`].
    fn cancel_timer(&mut self, timer: TimerId);
    /// [`Transport::channels`]: the sibling channels of the transport below
    /// (a frame layer on a mux subchannel can open more subchannels).
    fn channels(&mut self) -> Option<&mut dyn Channels> {
        None
    }

    /// Send a frame of `kind` and `flags` whose payload is a copy of
    /// `payload`: for small frames made of bytes the caller keeps or builds
    /// on the spot (a command name, a short message), as
    /// [`Transport::write_slice`] is for bytes. The frame layer copies them
    /// straight into what it sends below, so no `Bytes` is made (no
    /// allocation, no reference count); the default makes one and calls
    /// [`send`](FrameTransport::send).
    fn send_slice(&mut self, kind: FrameType, flags: Flags, payload: &[u8]) {
        self.send(Frame::new(kind, flags, Bytes::copy_from_slice(payload)));
    }

    /// Send every frame of `frames`, in order.
    fn send_all(&mut self, frames: Vec<Frame>) {
        for f in frames {
            self.send(f);
        }
    }
}

/// The frame layer: bytes below, frames above, no I/O. See the
/// [crate docs](crate).
pub struct Framed<P> {
    app: P,
    core: Core,
}

struct Core {
    dec: Decoder,
    /// Frames sent in the current callback, flushed below when it returns
    /// (see [`View`]'s `Drop`).
    enc: Encoder,
    /// What holds delivery back, as bits ([`NOT_MADE`], [`READ_PAUSED`],
    /// [`CLOSED`], [`BROKEN`]): the loop delivering frames tests them all
    /// at once, per frame.
    hold: u8,
    /// The peer's end of stream arrived from below.
    eof: bool,
    eof_delivered: bool,
    frames_in: u64,
    frames_out: u64,
}

/// [`Core::hold`]: `connection_made` has not come yet.
const NOT_MADE: u8 = 1;
/// [`Core::hold`]: the protocol above paused reading.
const READ_PAUSED: u8 = 2;
/// [`Core::hold`]: the protocol above called `close` or `abort`: nothing
/// more is delivered but `connection_lost`.
const CLOSED: u8 = 4;
/// [`Core::hold`]: a decode error was delivered: the rest of the input is
/// discarded (the end of stream is still delivered).
const BROKEN: u8 = 8;
/// The bits that stop delivery altogether.
const STOPPED: u8 = NOT_MADE | READ_PAUSED | CLOSED;

impl Core {
    /// Whether the protocol above called `close` or `abort`.
    #[inline]
    fn closed(&self) -> bool {
        self.hold & CLOSED != 0
    }
}

impl<P: FrameProtocol> Framed<P> {
    /// A frame layer under `app`, with the default maximum frame (32 KiB).
    pub fn new(app: P) -> Self {
        Framed::with_max_frame(app, DEFAULT_MAX_FRAME)
    }

    /// A frame layer accepting payloads of at most `max_frame` bytes
    /// (clamped to 2^24 - 1).
    pub fn with_max_frame(app: P, max_frame: usize) -> Self {
        Framed {
            app,
            core: Core {
                dec: Decoder::new(max_frame.min(MAX_FRAME_LIMIT)),
                enc: Encoder::default(),
                hold: NOT_MADE,
                eof: false,
                eof_delivered: false,
                frames_in: 0,
                frames_out: 0,
            },
        }
    }

    /// The protocol above.
    pub fn app(&self) -> &P {
        &self.app
    }

    /// The protocol above, mutably.
    pub fn app_mut(&mut self) -> &mut P {
        &mut self.app
    }

    /// Bytes received and not yet handed up as frames.
    pub fn buffered(&self) -> usize {
        self.core.dec.buffered()
    }

    /// The most bytes ever gathered for one frame split across reads
    /// (at most the maximum frame plus its header).
    pub fn peak_buffered(&self) -> usize {
        self.core.dec.peak_stash()
    }

    /// Frames received and sent.
    pub fn frame_counts(&self) -> (u64, u64) {
        (self.core.frames_in, self.core.frames_out)
    }

    /// Deliver every frame (and the end of stream) that is due, until the
    /// protocol above pauses or closes.
    fn settle(&mut self, lower: &mut dyn Transport) {
        let Framed { app, core } = self;
        loop {
            if core.hold & STOPPED != 0 {
                return;
            }
            if core.hold & BROKEN == 0 {
                match core.dec.next_frame() {
                    Ok(Some(f)) => {
                        core.frames_in += 1;
                        app.frame_received(&mut View { core, lower }, f);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        core.hold |= BROKEN;
                        app.frame_error(&mut View { core, lower }, e);
                        continue;
                    }
                }
            }
            if core.eof && !core.eof_delivered {
                if core.hold & BROKEN == 0 {
                    if let Err(e) = core.dec.finish() {
                        core.hold |= BROKEN;
                        app.frame_error(&mut View { core, lower }, e);
                        continue;
                    }
                }
                core.eof_delivered = true;
                app.read_closed(&mut View { core, lower });
                continue;
            }
            return;
        }
    }
}

impl<P: FrameProtocol> Protocol for Framed<P> {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.core.hold &= !NOT_MADE;
        let Framed { app, core } = self;
        app.connection_made(&mut View { core, lower: t });
        self.settle(t);
    }

    #[inline]
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        if self.core.hold & (CLOSED | BROKEN) != 0 {
            return;
        }
        self.core.dec.push(data);
        self.settle(t);
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.core.eof = true;
        self.settle(t);
    }

    fn write_closed(&mut self, t: &mut dyn Transport) {
        if !self.core.closed() {
            let Framed { app, core } = self;
            app.write_closed(&mut View { core, lower: t });
        }
        self.settle(t);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.app.connection_lost(reason);
    }

    fn pause_writing(&mut self, t: &mut dyn Transport) {
        if !self.core.closed() {
            let Framed { app, core } = self;
            app.pause_writing(&mut View { core, lower: t });
        }
        self.settle(t);
    }

    fn resume_writing(&mut self, t: &mut dyn Transport) {
        if !self.core.closed() {
            let Framed { app, core } = self;
            app.resume_writing(&mut View { core, lower: t });
        }
        self.settle(t);
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if !self.core.closed() {
            let Framed { app, core } = self;
            app.timer_fired(&mut View { core, lower: t }, timer);
        }
        self.settle(t);
    }
}

/// The frame layer's face to the protocol above: borrows the layer's state
/// and the transport below for the length of one callback.
///
/// Frames sent in a callback are gathered by the [`Encoder`] and go below
/// as one write when the view is dropped, that is when the callback
/// returns (or earlier, before a close or a large payload): whatever a
/// callback sends leaves in the same order, in one piece.
struct View<'a> {
    core: &'a mut Core,
    lower: &'a mut dyn Transport,
}

impl View<'_> {
    #[inline]
    fn flush(&mut self) {
        let lower = &mut *self.lower;
        self.core.enc.flush_buf(|batch| lower.write_buf(batch));
    }
}

impl Drop for View<'_> {
    #[inline]
    fn drop(&mut self) {
        self.flush();
    }
}

impl FrameTransport for View<'_> {
    #[inline]
    fn send(&mut self, frame: Frame) {
        if frame.payload.len() > MAX_FRAME_LIMIT {
            tracing::error!(
                len = frame.payload.len(),
                "a frame payload over 2^24-1 bytes cannot be sent: aborting"
            );
            return self.abort();
        }
        if !self.lower.can_write() {
            tracing::warn!(layer = "frames", kind = %frame.kind, "send after close dropped");
            return;
        }
        self.core.frames_out += 1;
        let lower = &mut *self.lower;
        self.core.enc.encode(frame, |b| lower.write(b));
    }

    #[inline]
    fn send_slice(&mut self, kind: FrameType, flags: Flags, payload: &[u8]) {
        if payload.len() > MAX_FRAME_LIMIT {
            tracing::error!(
                len = payload.len(),
                "a frame payload over 2^24-1 bytes cannot be sent: aborting"
            );
            return self.abort();
        }
        if !self.lower.can_write() {
            tracing::warn!(layer = "frames", %kind, "send after close dropped");
            return;
        }
        self.core.frames_out += 1;
        self.core.enc.encode_slice(kind, flags, payload);
    }

    fn max_frame(&self) -> usize {
        self.core.dec.max_frame()
    }

    fn close_write(&mut self) {
        self.flush();
        self.lower.close_write();
    }

    fn close(&mut self) {
        self.flush();
        self.core.hold |= CLOSED;
        self.lower.close();
    }

    fn abort(&mut self) {
        self.core.enc.discard();
        self.core.hold |= CLOSED;
        self.lower.abort();
    }

    fn pause_reading(&mut self) {
        if self.core.hold & READ_PAUSED == 0 {
            self.core.hold |= READ_PAUSED;
            self.lower.pause_reading();
        }
    }

    fn resume_reading(&mut self) {
        if self.core.hold & READ_PAUSED != 0 {
            // Frames already received are delivered when this callback
            // returns, before anything new comes from below.
            self.core.hold &= !READ_PAUSED;
            self.lower.resume_reading();
        }
    }

    fn write_buffer_len(&self) -> usize {
        self.lower.write_buffer_len() + self.core.enc.pending()
    }

    fn can_send(&self) -> bool {
        self.lower.can_write()
    }

    fn info(&self) -> TransportInfo {
        let mut info = self.lower.info();
        let mut l = LayerInfo::new("frames")
            .with_fact("frames-in", self.core.frames_in.to_string())
            .with_fact("frames-out", self.core.frames_out.to_string());
        l.buffered = self.core.enc.pending();
        info.push(l);
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

    fn channels(&mut self) -> Option<&mut dyn Channels> {
        self.lower.channels()
    }
}
