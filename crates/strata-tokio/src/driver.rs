//! The stream driver: one future per connection that owns the whole stack
//! and does all its I/O.
//!
//! [`Connection`] is a hand-written future around
//! [`BaseTransport`]. Each poll runs rounds of
//!
//! 1. **commands** posted through a [`Handle`];
//! 2. **timers**: those due fire; a single `tokio::time::Sleep` waits for
//!    the earliest of the others;
//! 3. **one read** into a reused buffer, while the protocol wants data: the
//!    bytes go up as a frozen slice of that buffer (no copy); `Ok(0)` is the
//!    peer's end-of-stream; an error fails the connection (`ECONNRESET` →
//!    [`Reason::Reset`]);
//! 4. **writes**: the write queue goes out with vectored writes (up to
//!    [`MAX_IOV`] buffers at once, no copying) through
//!    [`Io::poll_write_bufs`] (a socket tries a small write before it polls),
//!    settling after each so that
//!    `resume_writing` comes as soon as the buffer drains; once the protocol
//!    asked to close its write side and the queue is empty, `poll_shutdown`
//!    sends the FIN and `write_closed` follows;
//!
//! until nothing makes progress (every source then has registered a
//! wake-up) or a round budget is spent (the task then yields to others and
//! wakes itself). Writes are tried in the first round of a poll and then
//! only in rounds where a callback ran: a write pass ends with the queue
//! flushed or the stream blocked, and only a callback can give it more. Because writes come last in a round, whatever a command,
//! a timer or a read made the stack write goes out in that same round: a
//! request read is answered by the write that follows it, and one more
//! round, finding nothing to do, ends the poll.
//!
//! A source that returned `Pending` is not polled again in the same poll:
//! its wake-up is registered, so asking again would only re-register it
//! (and, for a socket, re-check readiness) once per round. The same holds
//! for the sleep: once it returned `Pending` for the earliest deadline,
//! that deadline is not looked at again in this poll (no clock read per
//! round); a deadline that passes meanwhile fires when the sleep wakes the
//! task. The command mailbox costs one atomic load per poll when nothing
//! was posted. The clock the
//! stack sees ([`Transport::now`]) is read at most once per poll, when a
//! layer first asks ([`BaseTransport::clock_moved`]); timers read it
//! afresh when one is due.
//!
//! The future resolves when the protocol has seen `connection_lost`. If the
//! protocol aborted, the stream is [`abort`](Io::abort)ed (TCP: `SO_LINGER`
//! 0, so the drop sends an RST). After a clean close with the peer's
//! end-of-stream not yet seen, the socket *lingers*: it is read and the
//! bytes discarded until the peer's FIN (or [`LINGER`] passes), because
//! dropping a socket with unread data makes the kernel send an RST that can
//! destroy the data we just flushed before the peer read it.
//!
//! A protocol that panics ends its own connection only: the panic is caught,
//! the stream aborted and dropped, and the reason is
//! [`ProtocolPanicked`].

use std::future::Future;
use std::io::{self, IoSlice};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::Arc;
use strata_core::{BaseTransport, Protocol, Reason, Transport, TransportInfo};

use tokio::io::ReadBuf;
use tokio::sync::watch;
use tokio::time::Sleep;
use tokio_util::io::poll_read_buf;

use crate::handle::{panic_message, Command, Handle, ProtocolPanicked};
use crate::mailbox::{self, Mailbox};
use crate::top::Top;
use crate::Io;

/// Most buffers handed to one vectored write.
pub const MAX_IOV: usize = 64;
/// A front buffer at least this long is written alone (vectoring gains
/// nothing, and tokio then skips the write that would block).
const BIG_WRITE: usize = 64 * 1024;
/// Size of the read buffer reserved when the current one runs low, while
/// reads are small (see [`MAX_READ_BUF`]).
pub const READ_BUF: usize = 64 * 1024;
/// The read buffer doubles, up to this size, each time a read fills it
/// (a bulk sender is ahead of us: fewer, larger reads), and halves again,
/// down to [`READ_BUF`], after a read of less than an eighth of it.
/// Measured on loopback with both ends on one CPU (`strata-bench --pin
/// one`): 64 KiB TCP writes 2.8 -> 3.2 GB/s, 16 mux subchannels 2.7 -> 3.0
/// GB/s.
pub const MAX_READ_BUF: usize = 256 * 1024;
/// Below this much spare capacity, a new read buffer is reserved.
const MIN_READ: usize = 8 * 1024;
/// Rounds per poll before yielding to other tasks. Tokio's cooperative
/// budget (128 socket operations per poll) normally ends a busy poll first;
/// this bounds polls that touch no socket (timers, commands).
const MAX_ROUNDS: usize = 128;
/// Commands applied per round.
const MAX_COMMANDS: usize = 64;
/// How long a cleanly closed socket waits for the peer's FIN, discarding
/// what it reads, before it is dropped.
pub const LINGER: Duration = Duration::from_secs(2);

/// Run `proto` on `io` in a new tokio task; returns a handle to it.
///
/// `info` describes the connection (addresses, and the bottom layer's name:
/// `tcp`, `unix`, `stream`); the protocol sees it through
/// [`Transport::info`]. `connection_made` is the first thing the task does.
pub fn spawn_stream<IO, P>(io: IO, proto: P, info: TransportInfo) -> Handle<P>
where
    IO: Io,
    P: Protocol + Send + 'static,
{
    let (conn, handle) = Connection::new(io, proto, info);
    tokio::spawn(conn);
    handle
}

/// One connection: a stack over an [`Io`], as a future that resolves to the
/// reason the connection ended. See the [module docs](self).
///
/// [`spawn_stream`] spawns it; build it yourself to run it elsewhere (with
/// `spawn_local` for a protocol that is not `Send`, say).
pub struct Connection<IO, P> {
    io: Option<IO>,
    top: Top<P>,
    base: BaseTransport,
    read_buf: BytesMut,
    /// What a read is offered: between READ_BUF and MAX_READ_BUF.
    read_size: usize,
    sleep: Option<Pin<Box<Sleep>>>,
    sleep_at: Option<Instant>,
    mailbox: Arc<Mailbox<Command<P>>>,
    mailbox_rx: mailbox::Receiver,
    /// Commands taken from the mailbox, applied one by one.
    commands: VecDeque<Command<P>>,
    done: watch::Sender<Option<Reason>>,
    phase: Phase,
    needs_flush: bool,
    eof_seen: bool,
    /// Sources that returned `Pending` in the current poll (their wake-ups
    /// are registered; see the module docs).
    blocked: Blocked,
}

/// Which sources returned `Pending` in the current poll.
#[derive(Clone, Copy, Default)]
struct Blocked {
    commands: bool,
    write: bool,
    read: bool,
    /// The deadline the sleep was armed for and returned `Pending`.
    timer: Option<Instant>,
}

// An explicit tag: the poll tests the phase first thing, and a niche in
// `Reason` would make that a computation.
#[repr(u8)]
enum Phase {
    Running { started: bool },
    Lingering { reason: Reason, until: Instant },
    Finished(Reason),
}

// SAFETY-free: `Connection` never pins its fields structurally (the protocol
// is only ever used through `&mut`, the sleep is boxed), so it is `Unpin`
// whatever `P` is.
impl<IO, P> Unpin for Connection<IO, P> {}

impl<IO: Io, P: Protocol + 'static> Connection<IO, P> {
    /// A connection that has not started yet, and a handle to it.
    pub fn new(io: IO, proto: P, info: TransportInfo) -> (Self, Handle<P>) {
        let mailbox = Arc::new(Mailbox::new());
        let (done_tx, done_rx) = watch::channel(None);
        let conn = Connection {
            io: Some(io),
            top: Top { proto, lost: None },
            base: BaseTransport::new(info, Instant::now()),
            read_buf: BytesMut::new(),
            read_size: READ_BUF,
            sleep: None,
            sleep_at: None,
            mailbox: mailbox.clone(),
            mailbox_rx: mailbox::Receiver::new(),
            commands: VecDeque::new(),
            done: done_tx,
            phase: Phase::Running { started: false },
            needs_flush: false,
            eof_seen: false,
            blocked: Blocked::default(),
        };
        (conn, Handle::new(mailbox, done_rx))
    }

    fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<Reason> {
        if let Phase::Running { started: false } = self.phase {
            self.start();
        }
        self.blocked = Blocked::default();
        self.base.clock_moved();
        for round in 0..MAX_ROUNDS {
            let mut progress = self.poll_commands(cx);
            progress |= self.poll_timers(cx);
            progress |= self.poll_read(cx);
            // Only callbacks give the writes something new to do. A call
            // to `poll_writes` leaves its source blocked or with nothing
            // to do (the queue flushed, no FIN due), so after the first
            // round it is skipped when no callback ran in this one.
            if progress || round == 0 {
                progress |= self.poll_writes(cx);
            }
            if self.base.lifecycle.is_lost() {
                return self.finish(cx);
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The first poll: `connection_made` through the stack.
    #[cold]
    #[inline(never)]
    fn start(&mut self) {
        self.phase = Phase::Running { started: true };
        self.base.clock_moved();
        self.base.start(&mut self.top);
    }

    /// Apply posted commands. Returns whether any was applied.
    #[inline]
    fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        if self.blocked.commands || self.base.lifecycle.is_lost() {
            return false;
        }
        if !self.mailbox_rx.poll_pending(&self.mailbox, cx) {
            // Not asked again in this poll: a command posted meanwhile
            // wakes the task.
            self.blocked.commands = true;
            return false;
        }
        self.apply_commands()
    }

    #[inline(never)]
    fn apply_commands(&mut self) -> bool {
        let more = self
            .mailbox_rx
            .take(&self.mailbox, &mut self.commands, MAX_COMMANDS);
        // Asked again in this poll only if the budget left some behind.
        self.blocked.commands = !more;
        let mut applied = false;
        while let Some(cmd) = self.commands.pop_front() {
            if self.base.lifecycle.is_lost() {
                self.commands.clear();
                break;
            }
            applied = true;
            self.apply(cmd);
        }
        applied
    }

    fn apply(&mut self, cmd: Command<P>) {
        let base = &mut self.base;
        match cmd {
            Command::Write(b) => base.write(b),
            Command::CloseWrite => base.close_write(),
            Command::Close => base.close(),
            Command::Abort => base.abort(),
            Command::Call(f) => f(&mut self.top.proto, base),
            Command::FireTimer(id) => {
                // Only a pending timer fires early: one that already fired
                // or was cancelled stays quiet, so layers never see an id
                // they no longer know.
                if base.timers.contains(id) && base.lifecycle.is_live() {
                    base.cancel_timer(id);
                    self.top.timer_fired(base, id);
                }
            }
        }
        base.settle(&mut self.top);
    }

    /// Flush the write queue, then flush the stream, then send the FIN if
    /// due. Returns whether anything happened.
    fn poll_writes(&mut self, cx: &mut Context<'_>) -> bool {
        if self.base.take_reset_request() {
            self.abort_io();
        }
        if self.blocked.write {
            return false;
        }
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let mut progress = false;
        while !self.base.queue.is_empty() {
            let queue = &self.base.queue;
            let res = match queue.front_slice() {
                Some(front) if front.len() == queue.len() || front.len() >= BIG_WRITE => {
                    io.poll_write_bufs(cx, &[IoSlice::new(front)])
                }
                _ => write_vectored(io, cx, queue),
            };
            match res {
                Poll::Ready(Ok(0)) => {
                    self.base.fail(&mut self.top, write_zero());
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    self.needs_flush = true;
                    self.base.advance(n);
                    self.base.settle(&mut self.top);
                    if self.base.take_reset_request() {
                        self.abort_io();
                        return true;
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    self.base.fail(&mut self.top, e.into());
                    return true;
                }
                Poll::Pending => {
                    self.blocked.write = true;
                    return progress;
                }
            }
        }
        if !self.base.lifecycle.is_live() {
            return progress;
        }
        if self.needs_flush {
            match Pin::new(&mut *io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    self.base.fail(&mut self.top, e.into());
                    return true;
                }
                Poll::Pending => {
                    self.blocked.write = true;
                    return progress;
                }
            }
        }
        if self.base.lifecycle.wants_fin() {
            match Pin::new(&mut *io).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => {
                    self.base.fin_sent(&mut self.top);
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    self.base.fail(&mut self.top, e.into());
                    progress = true;
                }
                Poll::Pending => self.blocked.write = true,
            }
        }
        progress
    }

    /// Read once, if the protocol wants data. Returns whether anything
    /// happened.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.base.wants_read() || self.blocked.read {
            return false;
        }
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        // The buffer is empty here (every read is split off). While at
        // least half a read size is left, read into it. Below that, offer a
        // whole read size again when the old allocation can be taken back
        // (nobody holds its bytes any more; small messages thus reclaim it
        // once per many reads, not at each); else read into what is left,
        // down to MIN_READ, before allocating a new one: a protocol that
        // keeps small slices of what it received does not pin one
        // allocation per read.
        let want = self.read_size;
        if self.read_buf.capacity() < want / 2 {
            refill_read_buf(&mut self.read_buf, want);
        }
        let offered = self.read_buf.capacity();
        match read_into(io, cx, &mut self.read_buf) {
            Poll::Ready(Ok(0)) => {
                self.eof_seen = true;
                self.base.peer_eof(&mut self.top);
            }
            Poll::Ready(Ok(n)) => {
                // The common case (a short read at the smallest size) is
                // two comparisons, and the resizing out of the way.
                if n == offered || want > READ_BUF {
                    self.resize_reads(n, offered, want);
                }
                let data = self.read_buf.split().freeze();
                self.base.deliver(&mut self.top, data);
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => self.base.fail(&mut self.top, e.into()),
            Poll::Pending => {
                self.blocked.read = true;
                return false;
            }
        }
        true
    }

    /// A read of `n` bytes, offered `offered` with a read size of `want`:
    /// double the read size when the read filled the buffer, halve it
    /// after a read of less than an eighth of it.
    #[cold]
    #[inline(never)]
    fn resize_reads(&mut self, n: usize, offered: usize, want: usize) {
        if n == offered && want < MAX_READ_BUF {
            self.read_size = want * 2;
        } else if want > READ_BUF && n < want / 8 {
            self.read_size = want / 2;
        }
    }

    /// Fire due timers; arm the sleep for the next one. Returns whether any
    /// fired.
    #[inline]
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        if self.base.timers.is_empty() {
            return false;
        }
        self.poll_due_timers(cx)
    }

    #[inline(never)]
    fn poll_due_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.base.timers.earliest() else {
            return false;
        };
        if !self.base.lifecycle.is_live() || self.blocked.timer == Some(deadline) {
            return false;
        }
        let now = Instant::now();
        if deadline > now && !self.wait_until(deadline, cx) {
            // The sleep's wake-up is registered: this deadline is not
            // looked at again in this poll (nor the clock read for it).
            self.blocked.timer = Some(deadline);
            return false;
        }
        // Tokio rounds deadlines up to the millisecond, so the clock is at
        // or past `deadline` here; `max` guards against a clock that is not.
        self.base.set_now(now.max(deadline));
        self.base.fire_timers(&mut self.top);
        true
    }

    /// Arm the sleep for `deadline` and poll it; true if it has passed.
    fn wait_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> bool {
        let at = tokio::time::Instant::from_std(deadline);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if self.sleep_at != Some(deadline) {
            sleep.as_mut().reset(at);
            self.sleep_at = Some(deadline);
        }
        sleep.as_mut().poll(cx).is_ready()
    }

    #[cold]
    #[inline(never)]
    fn abort_io(&mut self) {
        if let Some(mut io) = self.io.take() {
            io.abort();
        }
    }

    /// The protocol has seen `connection_lost`: publish the reason, release
    /// what the stack held, and linger or drop the stream.
    #[cold]
    #[inline(never)]
    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<Reason> {
        if self.base.take_reset_request() {
            self.abort_io();
        }
        let reason = self.top.lost.take().unwrap_or(Reason::Done);
        self.done.send_replace(Some(reason.clone()));
        self.mailbox.close();
        self.commands.clear();
        self.sleep_at = None;
        if self.io.is_some() && !self.eof_seen && reason.is_done() {
            self.phase = Phase::Lingering {
                reason,
                until: Instant::now() + LINGER,
            };
            return self.poll_linger(cx);
        }
        self.io = None;
        self.phase = Phase::Finished(reason.clone());
        Poll::Ready(reason)
    }

    /// Read and discard until the peer's FIN, an error, or the deadline.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<Reason> {
        let Phase::Lingering { reason, until } = &self.phase else {
            unreachable!("poll_linger outside the lingering phase");
        };
        let (reason, until) = (reason.clone(), *until);
        let mut finished = self.wait_until(until, cx);
        for _ in 0..MAX_ROUNDS {
            if finished {
                break;
            }
            let Some(io) = self.io.as_mut() else { break };
            self.read_buf.clear();
            if self.read_buf.capacity() < MIN_READ {
                self.read_buf.reserve(READ_BUF);
            }
            match poll_read_buf(Pin::new(io), cx, &mut self.read_buf) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => finished = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
        if !finished {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.io = None;
        self.sleep = None;
        self.phase = Phase::Finished(reason.clone());
        Poll::Ready(reason)
    }

    fn on_panic(&mut self, payload: Box<dyn std::any::Any + Send>) -> Poll<Reason> {
        let msg = panic_message(&*payload);
        tracing::error!(panic = %msg, "protocol panicked; its connection is aborted");
        self.abort_io();
        self.mailbox.close();
        self.commands.clear();
        let reason = Reason::error(ProtocolPanicked(msg));
        self.done.send_replace(Some(reason.clone()));
        self.phase = Phase::Finished(reason.clone());
        Poll::Ready(reason)
    }
}

/// A write that took no bytes: the stream is broken.
#[cold]
#[inline(never)]
fn write_zero() -> Reason {
    io::Error::new(io::ErrorKind::WriteZero, "the stream accepts no more bytes").into()
}

/// Write the front of `queue`, up to [`MAX_IOV`] buffers, at once. Out of
/// line: its array of slices (1 KiB) would otherwise sit in the poll's stack
/// frame, and every callback the poll makes would run that much deeper in
/// the stack, on cache lines of its own.
#[inline(never)]
fn write_vectored<IO: Io>(
    io: &mut IO,
    cx: &mut Context<'_>,
    queue: &strata_core::WriteQueue,
) -> Poll<io::Result<usize>> {
    let mut slices = [IoSlice::new(&[]); MAX_IOV];
    let n = queue.io_slices(&mut slices);
    io.poll_write_bufs(cx, &slices[..n])
}

/// Less than half a read size is left in the read buffer: take the
/// allocation back or, below [`MIN_READ`], reserve a new one (see
/// `poll_read`). Out of line: with small messages most reads find room,
/// and the test for that is then one comparison instead of the whole
/// condition (which the compiler evaluated without branches, in full, at
/// every read); a bulk reader that refills at each read pays a call, next
/// to a read of tens of KiB.
#[inline(never)]
fn refill_read_buf(buf: &mut BytesMut, want: usize) {
    let spare = buf.capacity();
    if !buf.try_reclaim(want) && spare < MIN_READ {
        buf.reserve(want);
    }
}

/// Read once into the spare capacity of `buf` (which has some), appending
/// what arrived; `Ok(0)` is the end of the stream.
///
/// This is `tokio_util::io::poll_read_buf` without the generality this
/// driver never needs (any `BufMut`, an empty buffer), small enough to be
/// inlined into the poll: two reads a message, ~20 instructions each saved.
#[inline(always)]
fn read_into<IO: Io>(
    io: &mut IO,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    debug_assert!(buf.capacity() > buf.len(), "no room to read into");
    let mut rb = ReadBuf::uninit(buf.spare_capacity_mut());
    let start = rb.filled().as_ptr();
    match Pin::new(io).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    }
    // A reader gets `&mut ReadBuf` and could put another buffer in its
    // place; then what it filled is not ours.
    assert_eq!(
        start,
        rb.filled().as_ptr(),
        "the reader swapped the read buffer"
    );
    let n = rb.filled().len();
    let len = buf.len() + n;
    // SAFETY: `rb` was made over `buf`'s spare capacity, the bytes right
    // after `buf.len()`, and (checked above) still is. `ReadBuf` keeps
    // `filled` within what is initialized and within its capacity, so the
    // `n` bytes after `buf.len()` are initialized and `len` is at most
    // `buf.capacity()`: exactly what `set_len` requires.
    unsafe { buf.set_len(len) };
    Poll::Ready(Ok(n))
}

impl<IO, P> Drop for Connection<IO, P> {
    /// A connection dropped unfinished (its runtime shut down) refuses
    /// further commands, so handles see [`Gone`](crate::Gone).
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

impl<IO: Io, P: Protocol + 'static> Future for Connection<IO, P> {
    type Output = Reason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason> {
        let this = self.get_mut();
        // The stack is not touched again after a panic (see `on_panic`), so
        // whatever state the panic left it in is never observed.
        let res = catch_unwind(AssertUnwindSafe(|| match &this.phase {
            Phase::Running { .. } => this.poll_running(cx),
            Phase::Lingering { .. } => this.poll_linger(cx),
            Phase::Finished(r) => Poll::Ready(r.clone()),
        }));
        match res {
            Ok(p) => p,
            Err(payload) => this.on_panic(payload),
        }
    }
}
