//! The bridge from a stack to the tokio world: any stack position as an
//! `AsyncRead + AsyncWrite` stream.
//!
//! Put a [`StreamBridge`] at the top of a stack (over TCP, over TLS, on a
//! mux subchannel) and use the [`StrataStream`] it pairs with from any task,
//! with anything that takes a tokio stream: hyper, tokio-rustls, a codec,
//! `copy_bidirectional` — or another Strata driver ([`Io`] is implemented).
//!
//! ```text
//!   your task                       the connection task
//!   StrataStream  <- Mutex+Wakers ->  StreamBridge (top protocol)
//!   poll_read / poll_write            data_received / t.write(...)
//! ```
//!
//! * **Reads** return the bytes of `data_received`; **EOF** is the peer's
//!   half-close (`read_closed`). The bridge does *not* close its own side
//!   then: the stream can keep writing.
//! * **`poll_flush`** completes once the written bytes are the connection
//!   task's (as a socket's flush does once they are the kernel's): the
//!   task is woken to pass them below.
//! * **`poll_shutdown`** is `close_write` (a half-close), complete when
//!   `write_closed` arrives. **Dropping** the stream is `close`; an aborting
//!   driver on top ([`Io::abort`]) makes it `abort`.
//! * **Backpressure, both ways, bounded**: when the reader falls
//!   [`RX_HIGH`] bytes behind, the bridge pauses reading (and the stack's
//!   flow control slows the peer); reading resumes when it is back under
//!   [`RX_LOW`]. `poll_write` takes at most [`OUT_MAX`] bytes ahead of the
//!   connection task, and returns `Pending` while the stack said
//!   `pause_writing`, until `resume_writing`.
//! * **Errors**: a reset connection makes reads and writes fail with
//!   `ConnectionReset` (an abort: `ConnectionAborted`, and so on).
//!
//! How the stream wakes the connection task: the bridge keeps one timer
//! pending, and the stream asks the driver to fire it now
//! ([`Handle::fire_timer`]). A timer travels through every layer to the
//! protocol that set it, so this works wherever in a stack the bridge sits,
//! without the layers in between knowing about it.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use strata_core::{BoxProtocol, Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{spawn_stream, Handle, Io};

/// Unread bytes at which the bridge pauses reading.
pub const RX_HIGH: usize = 64 * 1024;
/// Unread bytes at or below which reading resumes.
pub const RX_LOW: usize = 16 * 1024;
/// Bytes `poll_write` accepts ahead of the connection task.
pub const OUT_MAX: usize = 64 * 1024;
/// The bridge's wake-up timer is re-armed this far ahead; it is normally
/// fired early by the stream.
const KICK_IDLE: Duration = Duration::from_secs(3600);

type Poke = Arc<dyn Fn(TimerId) + Send + Sync>;

#[derive(Default)]
struct Shared {
    rx: VecDeque<Bytes>,
    rx_len: usize,
    read_eof: bool,
    read_paused: bool,
    out: BytesMut,
    write_paused: bool,
    write_closed: bool,
    want_resume_read: bool,
    want_close_write: bool,
    close_write_sent: bool,
    want_close: bool,
    want_abort: bool,
    kick_timer: Option<TimerId>,
    kicked: bool,
    poke: Option<Poke>,
    lost: Option<Reason>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl Shared {
    /// Ask the connection task to run [`StreamBridge::sync`], unless it was
    /// asked already and has not run it yet.
    fn kick(&mut self) {
        if self.kicked || self.lost.is_some() {
            return;
        }
        if let (Some(id), Some(poke)) = (self.kick_timer, &self.poke) {
            self.kicked = true;
            poke(id);
        }
    }

    fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves plain data behind; go on.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The protocol half of the bridge: put it at the top of a stack. See the
/// [module docs](self).
pub struct StreamBridge {
    shared: Arc<Mutex<Shared>>,
}

/// The stream half of a bridge before it is attached to the running stack
/// (which it needs, to wake the connection task).
pub struct BridgeEnd {
    shared: Arc<Mutex<Shared>>,
}

impl StreamBridge {
    /// A bridge and its not yet attached stream end.
    pub fn new() -> (StreamBridge, BridgeEnd) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        (
            StreamBridge {
                shared: shared.clone(),
            },
            BridgeEnd { shared },
        )
    }

    /// Carry out what the stream asked for: hand over written bytes, then
    /// resume reading, half-close, close or abort.
    fn sync(st: &mut Shared, t: &mut dyn Transport) {
        if !st.out.is_empty() {
            let data = st.out.split().freeze();
            if t.can_write() {
                t.write(data);
            }
            st.wake_writer();
        }
        if st.want_abort {
            t.abort();
            return;
        }
        if st.want_close {
            t.close();
            return;
        }
        if st.want_close_write && !st.close_write_sent {
            st.close_write_sent = true;
            t.close_write();
        }
        if std::mem::take(&mut st.want_resume_read) && st.read_paused {
            st.read_paused = false;
            t.resume_reading();
        }
    }
}

impl Protocol for StreamBridge {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let mut st = lock(&self.shared);
        st.kick_timer = Some(t.set_timer_after(KICK_IDLE));
        Self::sync(&mut st, t);
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        let mut st = lock(&self.shared);
        st.rx_len += data.len();
        st.rx.push_back(data);
        if st.rx_len >= RX_HIGH && !st.read_paused {
            st.read_paused = true;
            st.want_resume_read = false;
            t.pause_reading();
        }
        st.wake_reader();
    }

    fn read_closed(&mut self, _t: &mut dyn Transport) {
        let mut st = lock(&self.shared);
        st.read_eof = true;
        st.wake_reader();
    }

    fn write_closed(&mut self, _t: &mut dyn Transport) {
        let mut st = lock(&self.shared);
        st.write_closed = true;
        st.wake_writer();
    }

    fn connection_lost(&mut self, reason: Reason) {
        let mut st = lock(&self.shared);
        st.lost = Some(reason);
        st.kick_timer = None;
        st.out.clear();
        st.wake_reader();
        st.wake_writer();
    }

    fn pause_writing(&mut self, _t: &mut dyn Transport) {
        lock(&self.shared).write_paused = true;
    }

    fn resume_writing(&mut self, _t: &mut dyn Transport) {
        let mut st = lock(&self.shared);
        st.write_paused = false;
        st.wake_writer();
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        let mut st = lock(&self.shared);
        if st.kick_timer == Some(timer) {
            st.kicked = false;
            st.kick_timer = Some(t.set_timer_after(KICK_IDLE));
        }
        Self::sync(&mut st, t);
    }
}

impl Drop for StreamBridge {
    /// A bridge dropped before `connection_lost` (never run: the subchannel
    /// it was meant for was refused; or its connection task panicked) ends
    /// the stream, so that it fails instead of waiting forever.
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        if st.lost.is_none() {
            st.lost = Some(Reason::Aborted);
            st.kick_timer = None;
            st.out.clear();
            st.wake_reader();
            st.wake_writer();
        }
    }
}

impl BridgeEnd {
    /// Attach to the running stack `handle` points to (the stack whose top
    /// protocol, possibly under layers, is this end's [`StreamBridge`]).
    pub fn attach<P: 'static>(self, handle: &Handle<P>) -> StrataStream {
        let h = handle.clone();
        self.attach_with(move |id| {
            let _ = h.fire_timer(id);
        })
    }

    /// Attach with a custom way to fire a timer in the stack "now" (a test
    /// harness, another driver).
    pub fn attach_with(self, fire_timer: impl Fn(TimerId) + Send + Sync + 'static) -> StrataStream {
        let mut st = lock(&self.shared);
        st.poke = Some(Arc::new(fire_timer));
        drop(st);
        StrataStream {
            shared: self.shared,
        }
    }
}

/// The tokio-stream half of a bridge: `AsyncRead + AsyncWrite`, usable from
/// any task. See the [module docs](self).
pub struct StrataStream {
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for StrataStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StrataStream")
    }
}

impl StrataStream {
    /// Run `wrap(bridge)` on `io` (the bridge on top of whatever layers
    /// `wrap` adds; `|b| b` for none) and return the stream and a handle.
    pub fn spawn<IO, P>(
        io: IO,
        info: TransportInfo,
        wrap: impl FnOnce(StreamBridge) -> P,
    ) -> (StrataStream, Handle<P>)
    where
        IO: Io,
        P: Protocol + Send + 'static,
    {
        let (bridge, end) = StreamBridge::new();
        let handle = spawn_stream(io, wrap(bridge), info);
        (end.attach(&handle), handle)
    }

    /// A stream over a new position in a running stack: `open` is handed a
    /// bridge (boxed) to run somewhere inside the stack `handle` drives —
    /// typically a new mux subchannel — and the stream is returned at once.
    ///
    /// ```text
    /// // From any task, a subchannel of the mux running under `handle`:
    /// let stream = StrataStream::open(&handle, |p| remote.open(p))?;
    /// ```
    ///
    /// If the bridge is dropped without ever being run (the mux refused the
    /// subchannel: a limit, GoAway, the connection ended), reads and writes
    /// fail with `ConnectionAborted` instead of waiting forever.
    pub fn open<P: 'static, E>(
        handle: &Handle<P>,
        open: impl FnOnce(BoxProtocol) -> Result<(), E>,
    ) -> Result<StrataStream, E> {
        let (bridge, end) = StreamBridge::new();
        open(Box::new(bridge))?;
        Ok(end.attach(handle))
    }
}

/// The error a stream operation fails with once the connection is lost.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConnectionLost(Reason);

fn lost_error(r: &Reason) -> io::Error {
    let kind = match r {
        Reason::Done => io::ErrorKind::BrokenPipe,
        Reason::Aborted => io::ErrorKind::ConnectionAborted,
        Reason::Reset => io::ErrorKind::ConnectionReset,
        Reason::TimedOut => io::ErrorKind::TimedOut,
        Reason::Error(_) => io::ErrorKind::Other,
    };
    io::Error::new(kind, ConnectionLost(r.clone()))
}

impl AsyncRead for StrataStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut st = lock(&self.shared);
        if !st.rx.is_empty() {
            while buf.remaining() > 0 {
                let Some(front) = st.rx.front_mut() else {
                    break;
                };
                let n = front.len().min(buf.remaining());
                buf.put_slice(&front[..n]);
                front.advance(n);
                if front.is_empty() {
                    st.rx.pop_front();
                }
                st.rx_len -= n;
            }
            if st.read_paused && st.rx_len <= RX_LOW && !st.want_resume_read {
                st.want_resume_read = true;
                st.kick();
            }
            return Poll::Ready(Ok(()));
        }
        if st.read_eof {
            return Poll::Ready(Ok(()));
        }
        match &st.lost {
            Some(Reason::Done) => Poll::Ready(Ok(())),
            Some(r) => Poll::Ready(Err(lost_error(r))),
            None => {
                st.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for StrataStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut st = lock(&self.shared);
        if let Some(r) = &st.lost {
            return Poll::Ready(Err(lost_error(r)));
        }
        if st.want_close_write || st.want_close || st.want_abort {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if st.write_paused || st.out.len() >= OUT_MAX {
            st.write_waker = Some(cx.waker().clone());
            st.kick();
            return Poll::Pending;
        }
        let n = buf.len().min(OUT_MAX - st.out.len());
        st.out.extend_from_slice(&buf[..n]);
        st.kick();
        Poll::Ready(Ok(n))
    }

    /// Complete once the written bytes are the connection task's: it is
    /// woken to pass them below, and the flush returns at once, as a
    /// socket's does once its bytes are the kernel's. (Waiting until they
    /// had gone below let the peer's answer arrive before the flush
    /// returned, and hyper's server took the peer's end-of-stream for a
    /// request cut short: `IncompleteMessage`.)
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.shared);
        if st.out.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if let Some(r) = &st.lost {
            return Poll::Ready(Err(lost_error(r)));
        }
        st.kick();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.shared);
        if st.write_closed {
            return Poll::Ready(Ok(()));
        }
        match &st.lost {
            Some(Reason::Done) => return Poll::Ready(Ok(())),
            Some(r) => return Poll::Ready(Err(lost_error(r))),
            None => {}
        }
        st.want_close_write = true;
        st.write_waker = Some(cx.waker().clone());
        st.kick();
        Poll::Pending
    }
}

impl Io for StrataStream {
    /// The driver on top aborted: abort the stack beneath the bridge too,
    /// so the peer sees a reset where the stack can express one.
    fn abort(&mut self) {
        let mut st = lock(&self.shared);
        st.want_abort = true;
        st.kick();
    }
}

impl Drop for StrataStream {
    /// Dropping the stream closes the stack beneath (after flushing what
    /// was written).
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        st.want_close = true;
        st.kick();
    }
}
