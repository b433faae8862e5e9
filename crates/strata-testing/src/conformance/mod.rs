//! The conformance suite: the close contract, checked the same way over
//! every transport.
//!
//! A transport joins the suite by providing a [`PairRunner`] — something
//! that connects a client protocol to a server protocol over that transport
//! and runs both until each has seen `connection_lost` — and invoking
//! [`conformance_suite!`](crate::conformance_suite) with it. The scenarios
//! are plain functions taking `&mut dyn PairRunner`, so they are literally the
//! same code for the in-memory harness, TCP, Unix sockets, the tokio bridge,
//! TLS and mux subchannels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata_core::{Bytes, Protocol, Reason, TimerId, Transport};

mod record;
mod scenarios;

pub use record::{Event, Log, Recorder};
pub use scenarios::*;

/// A protocol that can be moved to another thread: what runners take.
pub use strata_core::BoxProtocol;

/// What a transport can and cannot express, so scenarios assert exactly
/// what the transport promises.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Whether `abort()` is seen by the peer as a reset
    /// (`connection_lost(Reset)` or an error). True for TCP, the harness, TLS
    /// and mux subchannels. A Unix stream socket has no reset: the peer of an
    /// aborted Unix socket sees an ordinary end of stream.
    pub resets_visible: bool,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            resets_visible: true,
        }
    }
}

/// A way to make a connected pair: the one thing a transport provides to
/// run the conformance suite.
pub trait PairRunner {
    /// What it connects over, for messages: `memory/chunk=1`, `tcp`, ...
    fn name(&self) -> String;

    /// What the transport can express.
    fn caps(&self) -> Caps {
        Caps::default()
    }

    /// Connect `client` to `server` over the transport and run both until
    /// each has seen `connection_lost`. Must return within a bounded time:
    /// panic (failing the test) if the pair has not finished after a generous
    /// bound (say 30 s of real time, or an hour of virtual time).
    ///
    /// Use [`track`] to learn when a protocol is done.
    fn run(&mut self, client: BoxProtocol, server: BoxProtocol);
}

/// Wrap `p` so that the returned flag turns true when `p` has seen
/// `connection_lost`. Runners use it to know when a pair is finished.
pub fn track(p: BoxProtocol) -> (BoxProtocol, Done) {
    let done = Done(Arc::new(AtomicBool::new(false)));
    (
        Box::new(Tracked {
            inner: p,
            done: done.clone(),
        }),
        done,
    )
}

/// Set once a tracked protocol saw `connection_lost`.
#[derive(Clone, Debug)]
pub struct Done(Arc<AtomicBool>);

impl Done {
    /// Whether `connection_lost` happened.
    pub fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

struct Tracked {
    inner: BoxProtocol,
    done: Done,
}

impl Protocol for Tracked {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.inner.connection_made(t)
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.inner.data_received(t, data)
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.inner.read_closed(t)
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.inner.write_closed(t)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.inner.connection_lost(reason);
        self.done.0.store(true, Ordering::Release);
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.inner.pause_writing(t)
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.inner.resume_writing(t)
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.inner.timer_fired(t, timer)
    }
}

/// Runs the suite over the in-memory [`Pair`](crate::Pair) with a chosen
/// [`Chunking`](crate::Chunking): the reference transport, fully
/// deterministic, with virtual time.
#[derive(Clone, Debug)]
pub struct MemoryRunner {
    chunking: crate::Chunking,
}

impl MemoryRunner {
    /// A runner cutting bytes as `chunking` says.
    pub fn new(chunking: crate::Chunking) -> Self {
        MemoryRunner { chunking }
    }
}

impl PairRunner for MemoryRunner {
    fn name(&self) -> String {
        format!("memory/{:?}", self.chunking)
    }

    fn run(&mut self, client: BoxProtocol, server: BoxProtocol) {
        let mut pair = crate::Pair::new(client, server).chunking(self.chunking);
        pair.set_time_limit(std::time::Duration::from_secs(3600));
        if !pair.run() {
            panic!(
                "[{}] the pair did not finish: client lost={}, server lost={}, in flight {} / {} bytes, buffered {} / {}",
                self.name(),
                pair.a.is_lost(),
                pair.b.is_lost(),
                pair.a.in_flight(),
                pair.b.in_flight(),
                pair.a.t.queue.len(),
                pair.b.t.queue.len(),
            );
        }
    }
}

/// A runner for a *layer*: wraps each side's protocol before handing it to an
/// inner runner, so the suite runs over `layer ∘ transport` — TLS over
/// memory, a mux subchannel over TCP, TLS in TLS.
pub struct Layered<R> {
    inner: R,
    name: String,
    wrap_client: Box<dyn FnMut(BoxProtocol) -> BoxProtocol>,
    wrap_server: Box<dyn FnMut(BoxProtocol) -> BoxProtocol>,
    caps: Option<Caps>,
}

impl<R: PairRunner> Layered<R> {
    /// Over `inner`, put `wrap_client` under the client and `wrap_server`
    /// under the server.
    pub fn new(
        inner: R,
        layer: &str,
        wrap_client: impl FnMut(BoxProtocol) -> BoxProtocol + 'static,
        wrap_server: impl FnMut(BoxProtocol) -> BoxProtocol + 'static,
    ) -> Self {
        let name = format!("{}+{layer}", inner.name());
        Layered {
            inner,
            name,
            wrap_client: Box::new(wrap_client),
            wrap_server: Box::new(wrap_server),
            caps: None,
        }
    }

    /// Override what the layered transport can express (a layer that has its
    /// own reset makes resets visible over a transport that has none).
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = Some(caps);
        self
    }
}

impl<R: PairRunner> PairRunner for Layered<R> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn caps(&self) -> Caps {
        self.caps.unwrap_or_else(|| self.inner.caps())
    }
    fn run(&mut self, client: BoxProtocol, server: BoxProtocol) {
        let c = (self.wrap_client)(client);
        let s = (self.wrap_server)(server);
        self.inner.run(c, s);
    }
}
