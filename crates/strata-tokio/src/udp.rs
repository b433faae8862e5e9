//! The datagram driver: a UDP socket and a [`DatagramProtocol`] in one task.
//!
//! Like the stream driver, the task owns the socket and the protocol and
//! runs rounds of: posted commands, queued `send_to`s (flushed until the
//! socket would block), one receive, due timers. `close()` (by the protocol
//! or a [`DatagramHandle`]) sends what is queued if the socket takes it at
//! once, then calls `stopped(Done)` — exactly once — and ends the task.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use strata_core::{Bytes, DatagramProtocol, DatagramTransport, Reason, TimerId, Timers};
use tokio::io::ReadBuf;
use tokio::net::{ToSocketAddrs, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Sleep;

use crate::handle::{panic_message, Gone, ProtocolPanicked, TaskGone};
use crate::{Endpoint, EndpointError};

/// Datagrams queued beyond this are dropped (as a full network would).
const MAX_QUEUED: usize = 1024;
const MAX_ROUNDS: usize = 32;
const MAX_DATAGRAM: usize = 65_536;

type CallFn<P> = Box<dyn FnOnce(&mut P, &mut dyn DatagramTransport) + Send>;

enum Command<P> {
    SendTo(Bytes, SocketAddr),
    Close,
    Call(CallFn<P>),
}

/// Bind a UDP socket at `addr` and run `proto` on it in a new task.
/// `started` is the first thing the task does.
pub async fn bind_udp<P>(addr: impl ToSocketAddrs, proto: P) -> io::Result<DatagramHandle<P>>
where
    P: DatagramProtocol + Send + 'static,
{
    let socket = UdpSocket::bind(addr).await?;
    let local = socket.local_addr()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(None);
    let driver = UdpDriver {
        socket,
        proto,
        st: UdpState {
            queue: VecDeque::new(),
            timers: Timers::new(),
            now: Instant::now(),
            local,
            closing: false,
        },
        buf: vec![0; MAX_DATAGRAM],
        sleep: None,
        sleep_at: None,
        commands: Some(rx),
        done: done_tx,
        started: false,
        finished: false,
    };
    tokio::spawn(driver);
    Ok(DatagramHandle {
        tx,
        done: done_rx,
        local,
    })
}

impl Endpoint {
    /// Bind this `udp:` endpoint and run `proto` on it.
    pub async fn bind_udp<P>(&self, proto: P) -> Result<DatagramHandle<P>, EndpointError>
    where
        P: DatagramProtocol + Send + 'static,
    {
        let Endpoint::Udp { host, port } = self else {
            return Err(strata_core::DescriptionError::new(
                self.to_string(),
                "not a UDP endpoint",
                "udp:HOST:PORT or udp:PORT",
            )
            .into());
        };
        bind_udp((Endpoint::listen_host(host), *port), proto)
            .await
            .map_err(|e| EndpointError::io(format!("binding {self}"), e))
    }
}

/// Reach a running datagram socket from other tasks. Cheap to clone.
pub struct DatagramHandle<P> {
    tx: mpsc::UnboundedSender<Command<P>>,
    done: watch::Receiver<Option<Reason>>,
    local: SocketAddr,
}

impl<P> Clone for DatagramHandle<P> {
    fn clone(&self) -> Self {
        DatagramHandle {
            tx: self.tx.clone(),
            done: self.done.clone(),
            local: self.local,
        }
    }
}

impl<P: 'static> DatagramHandle<P> {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// [`DatagramTransport::send_to`] from outside.
    pub fn send_to(&self, data: Bytes, to: SocketAddr) -> Result<(), Gone> {
        self.tx.send(Command::SendTo(data, to)).map_err(|_| Gone)
    }

    /// [`DatagramTransport::close`] from outside.
    pub fn close(&self) -> Result<(), Gone> {
        self.tx.send(Command::Close).map_err(|_| Gone)
    }

    /// Run `f` inside the socket's task with the protocol and its transport.
    pub fn call<R, F>(&self, f: F) -> impl Future<Output = Result<R, Gone>> + Send + 'static
    where
        F: FnOnce(&mut P, &mut dyn DatagramTransport) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .tx
            .send(Command::Call(Box::new(move |p, t| {
                let _ = tx.send(f(p, t));
            })))
            .map_err(|_| Gone);
        async move {
            sent?;
            rx.await.map_err(|_| Gone)
        }
    }

    /// Wait until the protocol was `stopped`; returns the reason it got.
    pub async fn closed(&self) -> Reason {
        let mut rx = self.done.clone();
        let result = rx.wait_for(|r| r.is_some()).await;
        match result {
            Ok(r) => r.clone().expect("wait_for checked it"),
            Err(_) => Reason::error(TaskGone),
        }
    }
}

struct UdpState {
    queue: VecDeque<(Bytes, SocketAddr)>,
    timers: Timers,
    now: Instant,
    local: SocketAddr,
    closing: bool,
}

impl DatagramTransport for UdpState {
    fn send_to(&mut self, data: Bytes, to: SocketAddr) {
        if self.closing {
            tracing::warn!(len = data.len(), "send_to after close dropped");
        } else if self.queue.len() >= MAX_QUEUED {
            tracing::debug!(len = data.len(), "UDP send queue full; datagram dropped");
        } else {
            self.queue.push_back((data, to));
        }
    }
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn close(&mut self) {
        self.closing = true;
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        self.timers.set(deadline)
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.cancel(timer)
    }
}

struct UdpDriver<P> {
    socket: UdpSocket,
    proto: P,
    st: UdpState,
    buf: Vec<u8>,
    sleep: Option<Pin<Box<Sleep>>>,
    sleep_at: Option<Instant>,
    commands: Option<mpsc::UnboundedReceiver<Command<P>>>,
    done: watch::Sender<Option<Reason>>,
    started: bool,
    finished: bool,
}

impl<P> Unpin for UdpDriver<P> {}

impl<P: DatagramProtocol> UdpDriver<P> {
    fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.started {
            self.started = true;
            self.st.now = Instant::now();
            self.proto.started(&mut self.st);
        }
        for _ in 0..MAX_ROUNDS {
            self.st.now = Instant::now();
            let mut progress = self.poll_commands(cx);
            progress |= self.poll_sends(cx);
            if self.st.closing {
                return self.stop(Reason::Done);
            }
            progress |= self.poll_recv(cx);
            progress |= self.poll_timers(cx);
            if self.st.closing {
                self.poll_sends(cx);
                return self.stop(Reason::Done);
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Some(rx) = self.commands.as_mut() {
            if self.st.closing {
                break;
            }
            match rx.poll_recv(cx) {
                Poll::Ready(Some(c)) => {
                    progress = true;
                    match c {
                        Command::SendTo(b, to) => self.st.send_to(b, to),
                        Command::Close => self.st.close(),
                        Command::Call(f) => f(&mut self.proto, &mut self.st),
                    }
                }
                Poll::Ready(None) => self.commands = None,
                Poll::Pending => break,
            }
        }
        progress
    }

    fn poll_sends(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Some((data, to)) = self.st.queue.front() {
            match self.socket.poll_send_to(cx, data, *to) {
                Poll::Ready(res) => {
                    progress = true;
                    self.st.queue.pop_front();
                    if let Err(e) = res {
                        if !self.st.closing {
                            self.proto.error_received(&mut self.st, e);
                        }
                    }
                }
                Poll::Pending => break,
            }
        }
        progress
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> bool {
        let mut rb = ReadBuf::new(&mut self.buf);
        match self.socket.poll_recv_from(cx, &mut rb) {
            Poll::Ready(Ok(from)) => {
                let data = Bytes::copy_from_slice(rb.filled());
                self.proto.datagram_received(&mut self.st, data, from);
                true
            }
            Poll::Ready(Err(e)) => {
                self.proto.error_received(&mut self.st, e);
                true
            }
            Poll::Pending => false,
        }
    }

    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.st.timers.earliest() else {
            return false;
        };
        let now = Instant::now();
        if deadline > now {
            let at = tokio::time::Instant::from_std(deadline);
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if self.sleep_at != Some(deadline) {
                sleep.as_mut().reset(at);
                self.sleep_at = Some(deadline);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
        }
        self.st.now = now.max(deadline);
        while !self.st.closing {
            let Some(id) = self.st.timers.pop_expired(self.st.now) else {
                break;
            };
            self.proto.timer_fired(&mut self.st, id);
        }
        true
    }

    fn stop(&mut self, reason: Reason) -> Poll<()> {
        self.finished = true;
        self.commands = None;
        self.st.queue.clear();
        self.st.timers.clear();
        self.proto.stopped(reason.clone());
        self.done.send_replace(Some(reason));
        Poll::Ready(())
    }
}

impl<P: DatagramProtocol> Future for UdpDriver<P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(());
        }
        // After a panic the protocol is never called again.
        match catch_unwind(AssertUnwindSafe(|| this.poll_running(cx))) {
            Ok(p) => p,
            Err(payload) => {
                let msg = panic_message(&*payload);
                tracing::error!(panic = %msg, "datagram protocol panicked; socket closed");
                this.finished = true;
                this.done
                    .send_replace(Some(Reason::error(ProtocolPanicked(msg))));
                Poll::Ready(())
            }
        }
    }
}
