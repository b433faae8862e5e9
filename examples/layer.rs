//! # Lesson 4 — a layer: a protocol below, a transport above
//!
//! ```text
//! cargo run --example layer
//! ```
//!
//! Lessons 1–3 wrote protocols that sit on a transport. A **layer** sits
//! *between* the two, and is both at once:
//!
//! * to the transport below it is a [`Protocol`]: it gets `data_received`,
//!   `read_closed`, `timer_fired`, ... with the lower transport lent as `t`;
//! * to the protocol above it is a [`Transport`]: while it calls that
//!   protocol, it lends it a short-lived **view** — a struct that borrows the
//!   layer's own state and the lower transport, and implements `Transport`.
//!
//! TLS, the mux and the framing layers of Strata are all built this way, and
//! because a layer is just a `Protocol`, layers stack: `Tls<Mux<App>>` is a
//! protocol too.
//!
//! The layer here is small but real: [`IdleTimeout`] closes a connection on
//! which nothing has been sent or received for a while, and tells the
//! protocol above that the connection ended with [`Reason::TimedOut`]. It
//! shows the four things every layer does:
//!
//! 1. **keeps state of its own**, apart from the protocol it wraps, so the
//!    two can be borrowed separately (`let IdleTimeout { inner, state } = self`);
//! 2. **watches traffic both ways**: upcalls in its `Protocol` methods,
//!    downcalls (writes) in its view;
//! 3. **uses the stack's timers**, which are shared by every layer of a
//!    connection: it forwards every `timer_fired` that is not its own to the
//!    protocol above, so that protocol's timers keep working;
//! 4. **translates events**: the transport below reports an ordinary close;
//!    the layer reports the close *it* caused as a timeout.
//!
//! The demo puts the layer under a client protocol that has no idea it is
//! there. The client sends a line, sends another from a timer 30 ms later,
//! and then falls silent; the layer closes the connection 100 ms after the
//! last echo. The server is lesson 1's `Echo`, unchanged.

use std::time::{Duration, Instant};

use strata::core::LayerInfo;
use strata::{Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use tokio::sync::oneshot;

// Lesson 1's echo server, reused as it is.
#[path = "echo.rs"]
#[allow(dead_code)] // its `main`, `run` and client are not used here
pub mod echo;

/// Errors are reported, not handled, in an example: any error will do.
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// How long the demo connection may stay silent.
pub const IDLE: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The layer
// ---------------------------------------------------------------------------

/// Closes the connection after `idle` without traffic in either direction;
/// the protocol above then gets `connection_lost(Reason::TimedOut)`.
pub struct IdleTimeout<P> {
    inner: P,
    state: IdleState,
}

/// The layer's own state: everything its view needs, kept apart from
/// `inner` so that both can be borrowed at once.
struct IdleState {
    idle: Duration,
    last_activity: Option<Instant>,
    timer: Option<TimerId>,
    timed_out: bool,
}

impl IdleState {
    /// Traffic went by: remember when. Re-arming a timer on every read and
    /// write would be wasteful; instead the timer, when it fires, checks how
    /// long it has really been and re-arms itself for the rest.
    fn touch(&mut self, t: &dyn Transport) {
        self.last_activity = Some(t.now());
    }
}

impl<P> IdleTimeout<P> {
    /// Wrap `inner`: the connection closes after `idle` without traffic.
    pub fn new(inner: P, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            state: IdleState {
                idle,
                last_activity: None,
                timer: None,
                timed_out: false,
            },
        }
    }
}

/// What the protocol above sees as its transport while the layer calls it:
/// the lower transport, with the layer's state alongside. It lives only for
/// the duration of one call.
struct View<'a> {
    lower: &'a mut dyn Transport,
    state: &'a mut IdleState,
}

impl Transport for View<'_> {
    // The one method with something to do: a write is traffic.
    fn write(&mut self, data: Bytes) {
        self.state.touch(self.lower);
        self.lower.write(data)
    }

    // The layer adds itself to what the stack says about itself.
    fn info(&self) -> TransportInfo {
        let mut info = self.lower.info();
        info.push(
            LayerInfo::new("idle-timeout").with_fact("idle", format!("{:?}", self.state.idle)),
        );
        info
    }

    // Everything else passes straight through. (This layer buffers
    // nothing, so even `write_buffer_len` is the lower transport's.)
    fn close_write(&mut self) {
        self.lower.close_write()
    }
    fn close(&mut self) {
        self.lower.close()
    }
    fn abort(&mut self) {
        self.lower.abort()
    }
    fn pause_reading(&mut self) {
        self.lower.pause_reading()
    }
    fn resume_reading(&mut self) {
        self.lower.resume_reading()
    }
    fn write_buffer_len(&self) -> usize {
        self.lower.write_buffer_len()
    }
    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.lower.set_write_buffer_limits(high, low)
    }
    fn can_write(&self) -> bool {
        self.lower.can_write()
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
}

impl<P: Protocol> IdleTimeout<P> {
    /// Call the protocol above with a view. Destructuring `self` is what
    /// lets the borrow checker see that `inner` (called) and `state`
    /// (borrowed by the view) are different fields.
    fn with_view(&mut self, t: &mut dyn Transport, f: impl FnOnce(&mut P, &mut dyn Transport)) {
        let IdleTimeout { inner, state } = self;
        f(inner, &mut View { lower: t, state })
    }
}

impl<P: Protocol> Protocol for IdleTimeout<P> {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.state.touch(t);
        self.state.timer = Some(t.set_timer_after(self.state.idle));
        self.with_view(t, |p, v| p.connection_made(v));
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.state.touch(t);
        self.with_view(t, |p, v| p.data_received(v, data));
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if Some(timer) != self.state.timer {
            // Not ours: one the protocol above set through the view.
            return self.with_view(t, |p, v| p.timer_fired(v, timer));
        }
        let last = self.state.last_activity.unwrap_or_else(|| t.now());
        let deadline = last + self.state.idle;
        if t.now() < deadline {
            // There was traffic since the timer was set: wait for the rest.
            self.state.timer = Some(t.set_timer(deadline));
            return;
        }
        // Silent for too long. `close` flushes and sends our FIN; the
        // protocol above is not called here — the next thing it hears is
        // `connection_lost`, as after any `close`.
        self.state.timer = None;
        self.state.timed_out = true;
        t.close();
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.with_view(t, |p, v| p.read_closed(v));
    }

    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.with_view(t, |p, v| p.write_closed(v));
    }

    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.with_view(t, |p, v| p.pause_writing(v));
    }

    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.with_view(t, |p, v| p.resume_writing(v));
    }

    fn connection_lost(&mut self, reason: Reason) {
        // Below, this was an ordinary close; above, it is a timeout. (Had
        // the peer reset the connection in the meantime, say so instead.)
        let reason = match reason {
            Reason::Done if self.state.timed_out => Reason::TimedOut,
            other => other,
        };
        self.inner.connection_lost(reason);
    }
}

// ---------------------------------------------------------------------------
// A client that does not know about the layer
// ---------------------------------------------------------------------------

/// What the client saw.
#[derive(Debug)]
pub struct ChattyOutcome {
    /// The layers the client's transport reported, bottom first.
    pub layers: Vec<&'static str>,
    /// Everything echoed back.
    pub echoed: Vec<u8>,
    /// When the last echo arrived.
    pub last_echo: Option<Instant>,
    /// When the connection ended.
    pub ended: Instant,
    /// Why.
    pub reason: Reason,
}

/// Sends one line now and one from a timer, then falls silent.
pub struct Chatty {
    later: Option<TimerId>,
    layers: Vec<&'static str>,
    echoed: Vec<u8>,
    last_echo: Option<Instant>,
    report: Option<oneshot::Sender<ChattyOutcome>>,
}

impl Chatty {
    /// A client that reports through `report`.
    pub fn new(report: oneshot::Sender<ChattyOutcome>) -> Self {
        Chatty {
            later: None,
            layers: Vec::new(),
            echoed: Vec::new(),
            last_echo: None,
            report: Some(report),
        }
    }
}

impl Protocol for Chatty {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.layers = t.info().layer_names();
        println!("client: my transport is {}", self.layers.join(" > "));
        t.write_slice(b"one\n");
        self.later = Some(t.set_timer_after(Duration::from_millis(30)));
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if Some(timer) == self.later {
            t.write_slice(b"two\n");
        }
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        print!("client: echo {}", String::from_utf8_lossy(&data));
        self.echoed.extend_from_slice(&data);
        self.last_echo = Some(t.now());
    }

    fn connection_lost(&mut self, reason: Reason) {
        println!("client: connection over: {reason}");
        if let Some(report) = self.report.take() {
            let _ = report.send(ChattyOutcome {
                layers: std::mem::take(&mut self.layers),
                echoed: std::mem::take(&mut self.echoed),
                last_echo: self.last_echo,
                ended: Instant::now(),
                reason,
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Putting them on sockets
// ---------------------------------------------------------------------------

/// Run lesson 1's echo server and the client under an [`IdleTimeout`].
pub async fn run() -> Result<()> {
    let listener = strata::rt::listen("tcp:127.0.0.1:0", |_: &TransportInfo| echo::Echo).await?;
    let port = listener.port().ok_or("a TCP listener has a port")?;

    let (report, outcome) = oneshot::channel();
    // Static composition: the layer's type wraps the protocol's type, and
    // the pair is one `Protocol` to the driver. (`Box<dyn Protocol + Send>`
    // works the same way for stacks chosen at run time.)
    let client = IdleTimeout::new(Chatty::new(report), IDLE);
    strata::rt::connect(&format!("tcp:127.0.0.1:{port}"), client).await?;
    let out = outcome
        .await
        .map_err(|_| "the client ended without reporting")?;
    check(&out)?;
    println!("ok: the layer closed the connection after {IDLE:?} of silence");
    Ok(())
}

/// Check the client's outcome.
pub fn check(out: &ChattyOutcome) -> Result<()> {
    if out.layers.last() != Some(&"idle-timeout") {
        return Err(format!("the layer is missing from info(): {:?}", out.layers).into());
    }
    if out.echoed != b"one\ntwo\n" {
        return Err(format!("echoed {:?}", String::from_utf8_lossy(&out.echoed)).into());
    }
    if !matches!(out.reason, Reason::TimedOut) {
        return Err(format!(
            "expected a timeout, the connection ended with: {}",
            out.reason
        )
        .into());
    }
    let last = out.last_echo.ok_or("no echo arrived")?;
    let silent = out.ended.saturating_duration_since(last);
    if silent < IDLE {
        return Err(format!("closed after only {silent:?} of silence").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .map_err(|_| "the example did not finish within 10 s")?
}
