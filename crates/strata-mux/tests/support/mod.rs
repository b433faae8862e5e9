//! Shared by the tests that run a mux under the tokio driver against real
//! peers (the `yamux` crate, hyper): a mux on a TCP connection whose
//! subchannels are tokio streams, and a tap recording each subchannel's
//! callbacks in order.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use strata_core::{BoxProtocol, Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use strata_mux::{Config, Mux, Remote, Role};
use strata_tokio::{BridgeEnd, Connection, Handle, Io, StrataStream, StreamBridge};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// How long any one step of a test may take.
pub const STEP: Duration = Duration::from_secs(20);

/// Await `f`, failing the test if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

/// A callback a subchannel's protocol saw.
#[derive(Clone, Debug)]
pub enum Ev {
    Made,
    Data(usize),
    ReadClosed,
    WriteClosed,
    Lost(Reason),
}

/// Forwards every callback to `inner` and records it.
pub struct Tap<P> {
    inner: P,
    tx: UnboundedSender<Ev>,
}

impl<P: Protocol> Tap<P> {
    pub fn new(inner: P) -> (Self, Events) {
        let (tx, rx) = unbounded_channel();
        (Tap { inner, tx }, Events(rx))
    }
}

impl<P: Protocol> Protocol for Tap<P> {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let _ = self.tx.send(Ev::Made);
        self.inner.connection_made(t)
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        let _ = self.tx.send(Ev::Data(data.len()));
        self.inner.data_received(t, data)
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        let _ = self.tx.send(Ev::ReadClosed);
        self.inner.read_closed(t)
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        let _ = self.tx.send(Ev::WriteClosed);
        self.inner.write_closed(t)
    }
    fn connection_lost(&mut self, reason: Reason) {
        let _ = self.tx.send(Ev::Lost(reason.clone()));
        self.inner.connection_lost(reason)
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

/// The callbacks one subchannel's protocol saw, as they come.
pub struct Events(UnboundedReceiver<Ev>);

impl Events {
    /// Every callback up to and including `connection_lost`, with runs of
    /// `Data` folded into one (carrying the byte count), as names:
    /// `["made", "data", "read_closed", ...]`, and the reason.
    pub async fn until_lost(&mut self) -> (Vec<&'static str>, usize, Reason) {
        let mut names = Vec::new();
        let mut bytes = 0;
        loop {
            let ev = within("waiting for a subchannel's callbacks", self.0.recv())
                .await
                .expect("the subchannel's protocol is gone without connection_lost");
            let name = match ev {
                Ev::Made => "made",
                Ev::Data(n) => {
                    bytes += n;
                    "data"
                }
                Ev::ReadClosed => "read_closed",
                Ev::WriteClosed => "write_closed",
                Ev::Lost(r) => {
                    names.push("lost");
                    return (names, bytes, r);
                }
            };
            if names.last() != Some(&name) || name != "data" {
                names.push(name);
            }
        }
    }

    /// The reason of `connection_lost`, whatever came before.
    pub async fn lost(&mut self) -> Reason {
        self.until_lost().await.2
    }
}

/// The `Reason` variant's name, for assertions.
pub fn kind(r: &Reason) -> &'static str {
    match r {
        Reason::Done => "done",
        Reason::Aborted => "aborted",
        Reason::Reset => "reset",
        Reason::TimedOut => "timed_out",
        Reason::Error(_) => "error",
    }
}

type Fire = Arc<OnceLock<Box<dyn Fn(TimerId) + Send + Sync>>>;

/// A mux running under the tokio driver, with its subchannels as tokio
/// streams: inbound ones arrive on `inbound`, outbound ones open from any
/// task through a [`Remote`].
pub struct StrataSide<P: 'static = Mux> {
    pub handle: Handle<P>,
    pub remote: Remote,
    pub inbound: UnboundedReceiver<(StrataStream, Events)>,
}

/// An inbound factory handing every subchannel, as a tapped
/// [`StreamBridge`], to `tx` (attached through `fire` once the connection
/// runs).
fn bridge_factory(
    fire: Fire,
    tx: UnboundedSender<(StrataStream, Events)>,
) -> impl FnMut(&TransportInfo) -> Option<BoxProtocol> + Send + 'static {
    move |_: &TransportInfo| {
        let (bridge, end) = StreamBridge::new();
        let (tap, events) = Tap::new(bridge);
        let _ = tx.send((attach_late(end, &fire), events));
        Some(Box::new(tap) as BoxProtocol)
    }
}

/// Attach `end` through a way of firing timers that is set later (when
/// the factory runs before the handle is known).
pub fn attach_late(end: BridgeEnd, fire: &Fire) -> StrataStream {
    let fire = fire.clone();
    end.attach_with(move |t| {
        if let Some(f) = fire.get() {
            f(t)
        }
    })
}

/// Run a mux of `role` with `cfg` on `io`, wrapped by `wrap` (identity for
/// a bare mux), every inbound subchannel becoming a tokio stream.
pub fn spawn_mux_with<IO, P>(
    io: IO,
    info: TransportInfo,
    role: Role,
    cfg: Config,
    wrap: impl FnOnce(Mux) -> P,
) -> StrataSide<P>
where
    IO: Io,
    P: Protocol + Send + 'static,
{
    let fire: Fire = Arc::new(OnceLock::new());
    let (tx, inbound) = unbounded_channel();
    let mut mux = Mux::new(role, cfg, bridge_factory(fire.clone(), tx));
    let remote = mux.remote();
    let (conn, handle) = Connection::new(io, wrap(mux), info);
    let h = handle.clone();
    let _ = fire.set(Box::new(move |t| {
        let _ = h.fire_timer(t);
    }));
    let h = handle.clone();
    remote.set_wake(move |t| {
        let _ = h.fire_timer(t);
    });
    tokio::spawn(conn);
    StrataSide {
        handle,
        remote,
        inbound,
    }
}

/// [`spawn_mux_with`] for a bare mux.
pub fn spawn_mux<IO: Io>(io: IO, info: TransportInfo, role: Role, cfg: Config) -> StrataSide {
    spawn_mux_with(io, info, role, cfg, |m| m)
}

/// Opens subchannels of a running mux from any task.
pub struct StrataOpener<P: 'static = Mux> {
    pub handle: Handle<P>,
    pub remote: Remote,
}

impl<P: 'static> StrataOpener<P> {
    /// Open a subchannel: a tokio stream, and its callbacks.
    pub fn open(&self) -> (StrataStream, Events) {
        let mut events = None;
        let stream = StrataStream::open(&self.handle, |bridge| {
            let (tap, ev) = Tap::new(bridge);
            events = Some(ev);
            self.remote.open(Box::new(tap))
        })
        .expect("the mux takes opens");
        (stream, events.expect("set by open"))
    }
}

impl<P: 'static> StrataSide<P> {
    /// An opener to move to other tasks.
    pub fn opener(&self) -> StrataOpener<P> {
        StrataOpener {
            handle: self.handle.clone(),
            remote: self.remote.clone(),
        }
    }

    /// Open a subchannel from this (any) task: a tokio stream, and its
    /// callbacks.
    pub fn open(&self) -> (StrataStream, Events) {
        self.opener().open()
    }

    /// The next subchannel the peer opens.
    pub async fn accept(&mut self) -> (StrataStream, Events) {
        within("waiting for an inbound subchannel", self.inbound.recv())
            .await
            .expect("the mux is gone")
    }
}

/// `len` bytes of a pattern that differs with `seed`.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}
