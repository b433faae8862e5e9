//! Bytes to frames and frames to bytes.
//!
//! [`Decoder`] takes the byte stream in whatever pieces it arrives and hands
//! out whole frames:
//!
//! * a frame that lies within one piece is handed out as a **slice of that
//!   piece** (`Bytes::slice`, no copy);
//! * a frame split across pieces is gathered, once, into a buffer of exactly
//!   its size — the only copy, and never more than one frame's worth;
//! * the header is checked as soon as its 4 bytes are in (type known, flags
//!   defined for the type, length within the limit), so an oversized frame
//!   is refused before any of its payload is buffered: memory held is at
//!   most `max_frame + 4` bytes.
//!
//! After an error the decoder is poisoned (the stream cannot be
//! resynchronised) and repeats the error.
//!
//! [`Encoder`] makes bytes for sending: headers and small payloads are
//! gathered into one buffer per batch, large payloads go below as they are.

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{header, parse_header, HEADER_LEN};
use crate::{Flags, Frame, FrameError, FrameType, DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT};

/// Bytes to frames, under any chunking. See the [module docs](self).
#[derive(Debug)]
pub struct Decoder {
    max: usize,
    /// The rest of the piece being decoded.
    cur: Bytes,
    /// A frame split across pieces, being gathered (header included).
    stash: BytesMut,
    /// The stashed frame's total length, once its header is in.
    need: usize,
    poisoned: Option<FrameError>,
    peak: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder {
    /// A decoder accepting payloads of at most `max_frame` bytes (clamped to
    /// [`MAX_FRAME_LIMIT`]).
    pub fn new(max_frame: usize) -> Decoder {
        Decoder {
            max: max_frame.min(MAX_FRAME_LIMIT),
            cur: Bytes::new(),
            stash: BytesMut::new(),
            need: 0,
            poisoned: None,
            peak: 0,
        }
    }

    /// The largest payload accepted.
    pub fn max_frame(&self) -> usize {
        self.max
    }

    /// Add the next piece of the stream. Take frames out with
    /// [`next_frame`](Decoder::next_frame) until it returns `Ok(None)`.
    #[inline]
    pub fn push(&mut self, piece: Bytes) {
        if self.poisoned.is_some() || piece.is_empty() {
            return;
        }
        if self.cur.is_empty() {
            self.cur = piece;
        } else {
            self.join(piece);
        }
    }

    /// Only when a caller pushes before draining (rare): join the pieces.
    #[cold]
    fn join(&mut self, piece: Bytes) {
        let mut joined = BytesMut::with_capacity(self.cur.len() + piece.len());
        joined.extend_from_slice(&self.cur);
        joined.extend_from_slice(&piece);
        self.cur = joined.freeze();
    }

    /// Bytes held and not yet handed out as frames.
    pub fn buffered(&self) -> usize {
        self.cur.len() + self.stash.len()
    }

    /// The most bytes ever gathered for one split frame (a statistic for
    /// tests of bounded memory).
    pub fn peak_stash(&self) -> usize {
        self.peak
    }

    /// Whether the decoder is between frames (nothing partial held).
    pub fn is_idle(&self) -> bool {
        self.buffered() == 0
    }

    /// The error that poisoned the decoder, if any.
    pub fn error(&self) -> Option<&FrameError> {
        self.poisoned.as_ref()
    }

    /// The next whole frame, if the pieces pushed so far hold one.
    #[inline(always)]
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        // The fast paths, inline: nothing stashed and either a whole frame
        // at the front of the current piece, or nothing at all. (A poisoned
        // decoder holds no bytes, so the first cannot skip its error.)
        if self.stash.is_empty() {
            if self.cur.len() >= HEADER_LEN {
                let h = [self.cur[0], self.cur[1], self.cur[2], self.cur[3]];
                if let Ok((kind, flags, len)) = parse_header(h, self.max) {
                    let total = HEADER_LEN + len;
                    if self.cur.len() >= total {
                        let payload = self.take_payload(total);
                        return Ok(Some(Frame {
                            kind,
                            flags,
                            payload,
                        }));
                    }
                }
            } else if self.cur.is_empty() && self.poisoned.is_none() {
                return Ok(None);
            }
        }
        self.next_slow()
    }

    /// The payload of the whole frame of `total` bytes (header included)
    /// at the front of the current piece, which is moved past it.
    #[inline(always)]
    fn take_payload(&mut self, total: usize) -> Bytes {
        if self.cur.len() == total {
            // The frame ends the piece: take the piece itself (no
            // reference-count traffic for a slice).
            let mut whole = std::mem::take(&mut self.cur);
            whole.advance(HEADER_LEN);
            whole
        } else {
            let payload = self.cur.slice(HEADER_LEN..total);
            self.cur.advance(total);
            payload
        }
    }

    /// Everything but the fast paths: errors (and the poisoned decoder),
    /// frames split across pieces.
    #[inline(never)]
    fn next_slow(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let r = self.next_inner();
        if let Err(e) = &r {
            self.poisoned = Some(e.clone());
            self.cur = Bytes::new();
            self.stash = BytesMut::new();
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.stash.is_empty() {
            if self.cur.len() >= HEADER_LEN {
                let h = [self.cur[0], self.cur[1], self.cur[2], self.cur[3]];
                let (kind, flags, len) = parse_header(h, self.max)?;
                let total = HEADER_LEN + len;
                if self.cur.len() >= total {
                    let payload = self.take_payload(total);
                    return Ok(Some(Frame {
                        kind,
                        flags,
                        payload,
                    }));
                }
                self.need = total;
                self.stash.reserve(total);
            } else if self.cur.is_empty() {
                return Ok(None);
            } else {
                self.need = 0;
                self.stash.reserve(HEADER_LEN);
            }
            self.stash.extend_from_slice(&self.cur);
            self.cur = Bytes::new();
            self.peak = self.peak.max(self.stash.len());
            return Ok(None);
        }
        // Gathering a frame split across pieces.
        if self.need == 0 {
            let n = (HEADER_LEN - self.stash.len()).min(self.cur.len());
            self.stash.extend_from_slice(&self.cur[..n]);
            self.cur.advance(n);
            if self.stash.len() < HEADER_LEN {
                return Ok(None);
            }
            let h = [self.stash[0], self.stash[1], self.stash[2], self.stash[3]];
            let (_, _, len) = parse_header(h, self.max)?;
            self.need = HEADER_LEN + len;
            self.stash.reserve(len);
        }
        let n = (self.need - self.stash.len()).min(self.cur.len());
        self.stash.extend_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        self.peak = self.peak.max(self.stash.len());
        if self.stash.len() < self.need {
            return Ok(None);
        }
        let mut whole = std::mem::take(&mut self.stash).freeze();
        self.need = 0;
        let h = [whole[0], whole[1], whole[2], whole[3]];
        let (kind, flags, _) = parse_header(h, self.max)?;
        whole.advance(HEADER_LEN);
        Ok(Some(Frame {
            kind,
            flags,
            payload: whole,
        }))
    }

    /// The stream ended: an error if a frame was cut short.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        match self.buffered() {
            0 => Ok(()),
            have => Err(FrameError::Truncated {
                have,
                need: if self.need == 0 {
                    if self.cur.len() >= HEADER_LEN {
                        let h = [self.cur[0], self.cur[1], self.cur[2], self.cur[3]];
                        HEADER_LEN + u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize
                    } else {
                        HEADER_LEN
                    }
                } else {
                    self.need
                },
            }),
        }
    }

    /// Decode one frame from the front of a contiguous buffer, in the style
    /// of `tokio_util::codec::Decoder`: `Ok(None)` if `buf` does not yet
    /// hold a whole frame; otherwise the frame is split off `buf` (no copy).
    #[inline]
    pub fn decode(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Frame>, FrameError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let (kind, flags, len) = parse_header([buf[0], buf[1], buf[2], buf[3]], max_frame)?;
        if buf.len() < HEADER_LEN + len {
            buf.reserve(HEADER_LEN + len - buf.len());
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        Ok(Some(Frame {
            kind,
            flags,
            payload: buf.split_to(len).freeze(),
        }))
    }
}

/// Decode every frame in `bytes`: the whole stream at once (for tools and
/// tests). Returns the frames before the first error, and the error.
pub fn decode_all(bytes: &[u8], max_frame: usize) -> (Vec<Frame>, Option<FrameError>) {
    let mut d = Decoder::new(max_frame);
    d.push(Bytes::copy_from_slice(bytes));
    let mut out = Vec::new();
    loop {
        match d.next_frame() {
            Ok(Some(f)) => out.push(f),
            Ok(None) => return (out, d.finish().err()),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Frames to bytes, for sending: one contiguous buffer per batch of small
/// frames, large payloads as they are.
///
/// A frame's header always goes into the buffer. Its payload is copied in
/// behind it when it is at most [`COPY_MAX`] bytes (copying 64 bytes costs
/// less than handing the transport below one more buffer to queue, write
/// and release); a larger payload is never copied: the buffer is flushed
/// (ending with the header) and the payload follows it as its own `Bytes`.
/// So a callback that sends a command of three small frames hands the
/// transport below one `Bytes`, and the socket sees one plain `write`.
///
/// The owner flushes at the end of each batch (the frame layer: when the
/// callback that sent returns, and before a close), so nothing waits in
/// here between callbacks. The buffer's allocation is reused: split off
/// with [`flush`](Encoder::flush), once the bytes have been written and
/// released; handed below with [`flush_buf`](Encoder::flush_buf), at once
/// (the transport below gives back an empty buffer, maybe its own).
#[derive(Debug, Default)]
pub struct Encoder {
    buf: BytesMut,
}

/// Payloads up to this many bytes are copied behind their header (see
/// [`Encoder`]); larger ones go below as they are.
pub const COPY_MAX: usize = 1024;

/// The buffer reserved when the current one is full: room for dozens of
/// small frames per allocation.
const BATCH: usize = 8 * 1024;

impl Encoder {
    /// Encode `frame`. Bytes due below before it, if a large payload forces
    /// a flush, go to `write` (at most two calls: the buffer, then the
    /// payload); otherwise the frame waits in the buffer for
    /// [`flush`](Encoder::flush).
    #[inline]
    pub fn encode(&mut self, frame: Frame, mut write: impl FnMut(Bytes)) {
        let small = frame.payload.len() <= COPY_MAX;
        let need = HEADER_LEN + if small { frame.payload.len() } else { 0 };
        if self.buf.capacity() - self.buf.len() < need
            && !self.buf.try_reclaim(BATCH.max(self.buf.len() + need))
        {
            self.buf.reserve(BATCH.max(need));
        }
        self.buf.extend_from_slice(&frame.header());
        if small {
            self.buf.extend_from_slice(&frame.payload);
        } else {
            write(self.buf.split().freeze());
            write(frame.payload);
        }
    }

    /// Encode a frame of `kind` and `flags` whose payload is a copy of
    /// `payload` (at most [`MAX_FRAME_LIMIT`] bytes), into the buffer
    /// whatever its size: borrowed bytes have to be copied somewhere, and
    /// this is where they go below from.
    #[inline]
    pub fn encode_slice(&mut self, kind: FrameType, flags: Flags, payload: &[u8]) {
        let need = HEADER_LEN + payload.len();
        if self.buf.capacity() - self.buf.len() < need
            && !self.buf.try_reclaim(BATCH.max(self.buf.len() + need))
        {
            self.buf.reserve(BATCH.max(need));
        }
        self.buf
            .extend_from_slice(&header(kind, flags, payload.len()));
        self.buf.extend_from_slice(payload);
    }

    /// The bytes encoded and not yet handed out, if any.
    #[inline]
    pub fn flush(&mut self) -> Option<Bytes> {
        (!self.buf.is_empty()).then(|| self.buf.split().freeze())
    }

    /// Hand the buffer holding the bytes encoded and not yet handed out, if
    /// any, to `write`, which must leave it empty: for
    /// [`Transport::write_buf`](strata_core::Transport::write_buf), which
    /// takes the bytes (by exchanging buffers when it can) and leaves an
    /// empty one for the next frames.
    #[inline]
    pub fn flush_buf(&mut self, write: impl FnOnce(&mut BytesMut)) {
        if !self.buf.is_empty() {
            write(&mut self.buf);
            debug_assert!(self.buf.is_empty(), "write_buf leaves the buffer empty");
        }
    }

    /// Bytes waiting for [`flush`](Encoder::flush).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Forget what waits (the connection is being aborted).
    pub fn discard(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flags, FrameType};

    fn frame(kind: FrameType, flags: Flags, payload: &[u8]) -> Frame {
        Frame::new(kind, flags, Bytes::copy_from_slice(payload))
    }

    /// Small frames batch into one buffer; a large payload flushes the
    /// batch (ending with its header) and follows as it is, uncopied.
    #[test]
    fn encoder_batches_small_frames_and_passes_large_payloads() {
        let mut e = Encoder::default();
        let mut out: Vec<Bytes> = Vec::new();
        let name = frame(FrameType::CommandName, Flags::HAVE_DATA, b"echo");
        let data = frame(FrameType::CommandData, Flags::EOS, &[7u8; 64]);
        e.encode(name.clone(), |b| out.push(b));
        e.encode(data.clone(), |b| out.push(b));
        assert!(out.is_empty(), "small frames wait for the flush");
        assert_eq!(e.pending(), 4 + 4 + 4 + 64);
        let batch = e.flush().expect("a batch");
        assert_eq!(e.flush(), None);
        let (frames, err) = decode_all(&batch, DEFAULT_MAX_FRAME);
        assert_eq!((frames, err), (vec![name.clone(), data], None));

        let big = Frame::new(
            FrameType::BytesResponse,
            Flags::EOS,
            Bytes::from(vec![1u8; COPY_MAX + 1]),
        );
        e.encode(name.clone(), |b| out.push(b));
        e.encode(big.clone(), |b| out.push(b));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_ptr(), big.payload.as_ptr(), "payload not copied");
        assert_eq!(e.pending(), 0);
        let wire: Vec<u8> = out.concat();
        let (frames, err) = decode_all(&wire, MAX_FRAME_LIMIT);
        assert_eq!((frames, err), (vec![name, big], None));
    }
}
