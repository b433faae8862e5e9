//! The layer's state apart from the protocol above: rustls, the buffers on
//! either side of it, and the close contract toward the protocol above.
//!
//! Everything here is plain data plus the byte-moving steps (decrypt what
//! came from below, encrypt what came from above, flush ciphertext below).
//! Deciding *when* to call the protocol above is [`crate::layer`]'s job; the
//! protocol's own requests arrive through [`crate::view`].

use std::io::{self, IoSlice, Write};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rustls::Connection;
use strata_core::{Lifecycle, Reason, TimerId, Transport, WaterMarks, WriteQueue};

use crate::facts::Facts;
use crate::TlsError;

/// The highest marks this layer keeps on the transport below (lower ones
/// if the protocol above asks for lower ones). It encrypts what the
/// protocol wrote only until the ciphertext waiting below is just above
/// the high mark, and the rest in later steps as the layer below drains
/// (it pauses us above the mark and resumes us at the low one). rustls
/// encrypts a whole write before any of it can go out, so a 512 KiB
/// write (a mux's refill) encrypted at once kept the peer idle while it
/// was encrypted, and then this end idle while the peer decrypted it; in
/// 96 KiB steps encrypting here, sending, and decrypting there overlap.
/// 16 subchannels over TLS (`strata-bench mux`): 2.3–2.5 → 3.3–3.45 GB/s
/// with the ends on different CPUs; with both on one CPU (`--pin one`),
/// where every send wakes the peer and costs two context switches, 64 KiB
/// steps lost a third (1.8 → 1.1–1.25 GB/s), 96 KiB ones 1.57–1.62, while
/// 128 KiB ones gained less on two CPUs (2.7–3.4) and 256 KiB none. The
/// protocol's marks apply to all it has written and is not yet sent:
/// plaintext here and ciphertext below.
const CIPHER_HIGH: usize = 96 * 1024;
/// See [`CIPHER_HIGH`].
const CIPHER_LOW: usize = strata_core::DEFAULT_LOW_WATER;
/// The plaintext of a full TLS record. Steps are whole records (at least
/// one, however low the marks): a step always takes the ciphertext below
/// above its high mark, so the layer below always resumes us for the next.
const RECORD: usize = 16 * 1024;
/// Bytes of plaintext handed to rustls per vectored write, at most.
const MAX_SLICES: usize = 64;
/// Plaintext decrypted from one delivery goes up in pieces of about this
/// size (one allocation and one `data_received` each), not one per record.
const MAX_BATCH: usize = 64 * 1024;
/// A delivery that decrypts to at least this much keeps its buffer for the
/// next one.
const KEEP_RX: usize = 16 * 1024;

/// Everything of a [`Tls`](crate::Tls) layer but the protocol above it, so
/// that a view can borrow this while the protocol is being called.
pub(crate) struct Engine {
    /// The TLS state machine.
    pub conn: Connection,
    /// The close contract toward the protocol above.
    pub life: Lifecycle,
    /// The protocol's water marks, on all it has written and is not yet
    /// sent (`plain` and the buffer below).
    pub marks: WaterMarks,
    /// Plaintext written by the protocol above, not yet encrypted.
    pub plain: WriteQueue,
    /// Plaintext decrypted and not yet delivered (reading is paused, or the
    /// handshake facts must be announced first).
    pub inbox: WriteQueue,
    /// Where ciphertext is assembled before it goes below in one `Bytes`.
    out: BytesMut,
    /// The marks last set on the transport below (see
    /// [`tend_lower_marks`](Engine::tend_lower_marks)).
    lower_marks: Option<(usize, usize)>,
    /// Where plaintext is decrypted into. Each delivery is split off it and
    /// goes up as `Bytes`; once the protocol above has dropped those, the
    /// same memory is used again. (A fresh allocation per batch had glibc
    /// trim its heap and fault it back in again and again: ~1,600 `madvise`
    /// calls per 256 MiB received, ~200 with the buffer kept.)
    rx: BytesMut,
    /// The protocol above paused reading.
    pub read_paused: bool,
    /// Whether the protocol above was last told to pause writing.
    pub app_paused: bool,
    /// Whether the protocol above has had `connection_made` (or was already
    /// connected, for STARTTLS).
    pub app_made: bool,
    /// The handshake completed.
    pub handshake_done: bool,
    /// What the handshake established, once it completed.
    pub facts: Option<Facts>,
    /// rustls processed the peer's close_notify.
    pub close_notify_seen: bool,
    /// `life.peer_eof()` was called.
    pub eof_reported: bool,
    /// A fatal TLS error happened: input is ignored from now on.
    pub failed: bool,
    /// Our close_notify went below and the lower's write side is closing:
    /// nothing more may be written below.
    pub write_shut: bool,
    /// We asked the transport below to close or abort.
    pub lower_closed: bool,
    /// The transport below reported `connection_lost`.
    pub lower_lost: bool,
    /// Ciphertext bytes received from below.
    pub bytes_in: u64,
    /// Ciphertext bytes handed below.
    pub bytes_out: u64,
    /// The name a client asked for (SNI), for the facts.
    pub client_name: Option<String>,
    /// Our last handshake flight may still sit in the transport below (the
    /// handshake completed and we have not seen that buffer empty since).
    pub flight_pending: bool,
    /// How long the handshake may take (`None`: forever).
    pub handshake_timeout: Option<Duration>,
    /// The handshake timer, while it runs: this layer's own timer, told
    /// apart by id from the timers of the protocol above.
    pub hs_timer: Option<TimerId>,
    /// The handshake timer was armed once (it is never armed again).
    pub hs_timer_armed: bool,
}

impl Engine {
    pub fn new(mut conn: Connection, already_connected: bool) -> Self {
        // We flush rustls's output after every step, so its own buffer never
        // holds more than one batch: no limit needed there, and none wanted
        // (a limit would make large writes come out in pieces).
        conn.set_buffer_limit(None);
        Engine {
            conn,
            life: Lifecycle::new(),
            marks: WaterMarks::default(),
            plain: WriteQueue::new(),
            inbox: WriteQueue::new(),
            out: BytesMut::new(),
            rx: BytesMut::new(),
            lower_marks: None,
            read_paused: false,
            app_paused: false,
            app_made: already_connected,
            handshake_done: false,
            facts: None,
            close_notify_seen: false,
            eof_reported: false,
            failed: false,
            write_shut: false,
            lower_closed: false,
            lower_lost: false,
            bytes_in: 0,
            bytes_out: 0,
            client_name: None,
            flight_pending: false,
            handshake_timeout: Some(crate::DEFAULT_HANDSHAKE_TIMEOUT),
            hs_timer: None,
            hs_timer_armed: false,
        }
    }

    /// Feed ciphertext from below into rustls, decrypting into `inbox`.
    /// On a TLS error, records it in the lifecycle and stops.
    ///
    /// What one delivery decrypts to goes up in `Bytes` of up to about
    /// [`MAX_BATCH`] (one allocation, one `data_received` each), however
    /// many records it held.
    pub fn receive(&mut self, data: &[u8]) {
        self.bytes_in += data.len() as u64;
        if self.failed || self.close_notify_seen {
            // After close_notify the peer may send nothing; after an error we
            // listen to nothing.
            return;
        }
        let mut batch = std::mem::take(&mut self.rx);
        let before = self.inbox.len();
        self.receive_into(data, &mut batch);
        // Keep the buffer while the traffic is bulk; after small deliveries
        // (a request, an answer) let it go whole (splitting it would cost an
        // allocation for nothing), so that a quiet connection holds no
        // batch-sized buffer.
        let bulk = self.inbox.len().saturating_sub(before) + batch.len() >= KEEP_RX;
        if !batch.is_empty() && !self.failed {
            let piece = if bulk {
                batch.split()
            } else {
                std::mem::take(&mut batch)
            };
            self.inbox.push(piece.freeze());
        }
        if bulk {
            self.rx = batch;
        }
    }

    fn receive_into(&mut self, data: &[u8], batch: &mut BytesMut) {
        let mut rd = data;
        loop {
            let n = if rd.is_empty() {
                0
            } else {
                match self.conn.read_tls(&mut rd) {
                    Ok(n) => n,
                    Err(e) => return self.fail(Reason::error(TlsError::Framing(e))),
                }
            };
            let state = match self.conn.process_new_packets() {
                Ok(s) => s,
                Err(e) => {
                    let err = if self.handshake_done {
                        TlsError::Protocol(e)
                    } else {
                        TlsError::Handshake(e)
                    };
                    return self.fail(Reason::error(err));
                }
            };
            let avail = state.plaintext_bytes_to_read();
            if avail > 0 {
                if batch.capacity() - batch.len() < avail {
                    // No room left: what is here goes up as one piece, and
                    // the rest of this delivery goes into reclaimed memory
                    // or, while the last pieces are still held above, new.
                    if !batch.is_empty() {
                        self.inbox.push(batch.split().freeze());
                    }
                    // Plaintext is never longer than the ciphertext it came
                    // in, so what is left of this delivery bounds the rest
                    // (give or take a record rustls held from before).
                    let want = (avail + rd.len()).min(MAX_BATCH).max(avail);
                    if batch.capacity() == 0 || !batch.try_reclaim(want) {
                        // Bulk traffic gets a whole batch, which the next
                        // delivery can reuse whatever its size.
                        let cap = if want >= KEEP_RX { MAX_BATCH } else { want };
                        *batch = BytesMut::with_capacity(cap.max(want));
                    }
                }
                self.take_plaintext(avail, batch);
            }
            if state.peer_has_closed() {
                self.close_notify_seen = true;
                return;
            }
            if rd.is_empty() {
                return;
            }
            if n == 0 {
                // rustls took nothing and reported no error: it cannot make
                // progress on these bytes. Never loop on it.
                let e = io::Error::new(io::ErrorKind::InvalidData, "unreadable TLS record");
                return self.fail(Reason::error(TlsError::Framing(e)));
            }
        }
    }

    /// Move `avail` decrypted bytes out of rustls onto the end of `buf`.
    fn take_plaintext(&mut self, avail: usize, buf: &mut BytesMut) {
        use std::io::BufRead;
        let want = buf.len() + avail;
        let mut reader = self.conn.reader();
        while buf.len() < want {
            match reader.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(chunk) => {
                    let n = chunk.len();
                    buf.extend_from_slice(chunk);
                    reader.consume(n);
                }
            }
        }
    }

    /// Whether the protocol above called `close()`.
    pub fn close_requested_by_app(&self) -> bool {
        self.life.close_requested()
    }

    /// A fatal TLS problem: remember it, let the lifecycle report it, and
    /// drop what the protocol above can no longer use.
    pub fn fail(&mut self, reason: Reason) {
        self.failed = true;
        self.plain.clear();
        self.inbox.clear();
        self.life.fail(reason);
    }

    /// The encrypting half of a step: plaintext into rustls once the
    /// handshake is done, close_notify when the protocol asked for it, and
    /// all resulting ciphertext below.
    pub fn pump_out(&mut self, lower: &mut dyn Transport) {
        if self.lower_lost || self.lower_closed || self.write_shut {
            return;
        }
        if self.handshake_done && self.life.is_live() && !self.plain.is_empty() {
            // Up to just above the mark below: then the layer below pauses
            // us, and resumes us for the next step once it has drained.
            self.tend_lower_marks(lower);
            let (high, _) = self.step_marks();
            let below = lower.write_buffer_len();
            if below <= high {
                // In whole records: no short one at the end of each step.
                self.encrypt_plain((high + 1 - below).next_multiple_of(RECORD));
            }
        }
        if self.life.wants_fin() && self.plain.is_empty() {
            self.conn.send_close_notify();
            self.flush(lower);
            self.write_shut = true;
            if self.life.close_requested() {
                self.lower_closed = true;
                lower.close();
            } else {
                lower.close_write();
            }
            self.life.fin_sent();
            return;
        }
        self.flush(lower);
    }

    /// The marks the steps go by: the protocol's own, capped at
    /// [`CIPHER_HIGH`] and [`CIPHER_LOW`].
    fn step_marks(&self) -> (usize, usize) {
        (
            self.marks.high().min(CIPHER_HIGH),
            self.marks.low().min(CIPHER_LOW),
        )
    }

    /// Keep the marks below such that the layer below calls us back
    /// whenever there is something to do when it drains. The protocol's
    /// marks apply to plaintext and ciphertext together, so the moment to
    /// resume it can come while we wait for nothing else.
    ///
    /// * While plaintext waits, a step leaves the ciphertext below above
    ///   the [step marks](Engine::step_marks)' high mark: we are paused, and
    ///   resumed at their low one for the next step.
    /// * Once the last step is out with the protocol still paused (what it
    ///   wrote, mostly ciphertext now, is above its low mark), the high mark
    ///   drops to the low one: the layer below pauses us if more waits there
    ///   and resumes us at the low mark, which is at most the protocol's, so
    ///   the protocol can be resumed then.
    pub fn tend_lower_marks(&mut self, lower: &mut dyn Transport) {
        let (high, low) = self.step_marks();
        let want = if self.app_paused && self.plain.is_empty() {
            (low, low)
        } else {
            (high, low)
        };
        if self.lower_marks != Some(want) {
            self.lower_marks = Some(want);
            lower.set_write_buffer_limits(want.0, want.1);
        }
    }

    /// Encrypt up to `room` bytes of `plain` (rustls holds the records
    /// until [`flush`](Engine::flush)).
    fn encrypt_plain(&mut self, mut room: usize) {
        let Engine { conn, plain, .. } = self;
        while !plain.is_empty() && room > 0 {
            let written = match plain.front_slice() {
                // One buffer (ping-pong, large writes), or the step ends
                // within the first one: no slice table.
                Some(front) if front.len() == plain.len() || front.len() >= room => {
                    conn.writer().write(&front[..front.len().min(room)])
                }
                _ => {
                    // The whole buffers that fit in the step (at least the
                    // first: it is shorter than `room`); the one the step
                    // ends in comes next time round, clipped, alone.
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    let n = plain.io_slices(&mut slices);
                    let mut fit = 0;
                    let mut total = 0;
                    for s in &slices[..n] {
                        if total + s.len() > room {
                            break;
                        }
                        total += s.len();
                        fit += 1;
                    }
                    conn.writer().write_vectored(&slices[..fit])
                }
            };
            match written {
                Ok(0) | Err(_) => break,
                Ok(written) => {
                    plain.advance(written);
                    room = room.saturating_sub(written);
                }
            }
        }
    }

    /// Hand everything rustls wants to send below, as one `Bytes`.
    pub fn flush(&mut self, lower: &mut dyn Transport) {
        if !self.conn.wants_write() {
            return;
        }
        let mut sink = Sink(&mut self.out);
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let bytes: Bytes = self.out.split().freeze();
        if self.lower_lost || self.write_shut {
            return;
        }
        self.bytes_out += bytes.len() as u64;
        lower.write(bytes);
    }

    /// Start the handshake timer, the first time the layer runs with a
    /// transport below and the handshake not yet complete; stop it when the
    /// handshake completes or the layer ends.
    pub fn tend_handshake_timer(&mut self, lower: &mut dyn Transport) {
        if self.handshake_done || !self.life.is_live() || self.failed {
            if let Some(id) = self.hs_timer.take() {
                if !self.lower_lost {
                    lower.cancel_timer(id);
                }
            }
        } else if !self.hs_timer_armed {
            self.hs_timer_armed = true;
            if let Some(d) = self.handshake_timeout {
                self.hs_timer = Some(lower.set_timer_after(d));
            }
        }
    }

    /// `timer` fired: if it is the handshake timer, the handshake took too
    /// long and the connection ends with [`Reason::TimedOut`]. Returns
    /// whether the timer was this layer's.
    pub fn handshake_timer_fired(&mut self, timer: TimerId) -> bool {
        if self.hs_timer != Some(timer) {
            return false;
        }
        self.hs_timer = None;
        if !self.handshake_done && self.life.is_live() && !self.failed {
            tracing::debug!(
                layer = "tls",
                timeout = ?self.handshake_timeout,
                "TLS handshake timed out"
            );
            self.fail(Reason::TimedOut);
        }
        true
    }

    /// Close (or abort) the transport below once the protocol above is lost,
    /// flushing a pending alert first.
    pub fn finish_lower(&mut self, lower: &mut dyn Transport, reason: &Reason) {
        if self.lower_lost || self.lower_closed {
            return;
        }
        if let Some(id) = self.hs_timer.take() {
            lower.cancel_timer(id);
        }
        self.lower_closed = true;
        if matches!(reason, Reason::Aborted) {
            lower.abort();
        } else {
            if !self.write_shut {
                self.flush(lower);
            }
            lower.close();
        }
    }
}

/// `io::Write` into a `BytesMut`, taking every slice of a vectored write.
struct Sink<'a>(&'a mut BytesMut);

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.put_slice(buf);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // rustls hands over every pending record at once: one allocation
        // for all of them, rather than growing (and copying) as they come.
        self.0.reserve(bufs.iter().map(|b| b.len()).sum());
        let mut n = 0;
        for b in bufs {
            self.0.put_slice(b);
            n += b.len();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
