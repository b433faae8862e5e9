//! Case `mux`: the Strata mux (`strata_mux::Mux` under the strata-tokio
//! driver) against the `yamux` crate (0.13, driven the way its docs ask:
//! one task polling `Connection::poll_next_inbound`, streams used from
//! other tasks through `tokio_util::compat`), and against the transport
//! below the mux without it. Loopback, 64 KiB writes.
//!
//! | measurement | Strata | peer(s) |
//! |---|---|---|
//! | `mux/throughput/1ch` | one subchannel streams 256 MiB | yamux, one stream; raw TCP = Strata's TCP driver without a mux (the `tcp` case's protocols) |
//! | `mux/throughput/16ch` | 16 subchannels stream 16 MiB each at once | yamux, 16 streams, a writer and a reader task each; raw TCP as above (256 MiB on one connection) |
//! | `mux/tls-throughput/16ch` | the same over Strata TLS (`Tls<Mux>`) | tokio-rustls + yamux; Strata TLS alone (the `tls` case's protocols); the same rustls configs everywhere ([`tls::Configs`]) |
//! | `mux/pingpong/64B` | 64-byte ping-pong on a subchannel, µs per round trip | on the transport below (Strata TCP, no mux); yamux |
//! | `mux/idle-10k/...` | 10,000 subchannels opened (1 byte each way: see below) and held: opens per second, bytes held per subchannel at each end | yamux |
//! | `mux/loaded-latency/...` | 64-byte round trips on one subchannel while 15 others stream as fast as they can: median and p99 µs | yamux |
//!
//! Window settings are the same on both: every stream starts at the
//! spec's 256 KiB and both auto-tune (Strata `Config::default()`: windows
//! up to 768 KiB, shared among busy streams within a 1 MiB receive budget; yamux's default: a 1 GiB
//! connection-wide cap). Both interleave 16 KiB frames when several
//! streams send (yamux always splits at 16 KiB; Strata sends up to 256 KiB
//! when one subchannel is alone).
//!
//! **Opening 10,000**: yamux sends a stream's SYN only with its first
//! frame and lets at most 256 opens go unacknowledged, acknowledging only
//! when the accepting side writes; so on both sides each subchannel
//! carries one byte each way (the opener writes one, the acceptor answers
//! one), and "opened" means the opener has the answer. Strata's
//! `max_pending_opens` and both sides' stream limits are raised to allow
//! 10,000 (yamux's unacknowledged-open limit of 256 is fixed). Memory is
//! counted by this crate's global allocator ([`CountingAlloc`]), per
//! thread: the client ends run on one thread and the server ends on
//! another ([`Runtimes`]), so "client" is everything the opening end holds
//! (the mux or yamux connection and, for yamux, the `Stream` handles the
//! application must keep) and "server" the same at the accepting end.
//!
//! `--filter` takes a measurement (`pingpong/64B`) or one of its lines
//! (`pingpong/64B/vs-tcp`: then only Strata and that line's peer run, so
//! `--only peer` runs that peer alone, e.g. for callgrind).
//!
//! Every figure is a median over interleaved runs. Ratios are
//! Strata/peer for rates and peer/Strata for times and bytes, so above 1
//! always means Strata did better.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::poll_fn;
use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use strata_core::{BoxProtocol, Protocol, Reason, TimerId, Transport, TransportInfo};
use strata_mux::{no_inbound, Config as MuxConfig, Mux};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::compat::FuturesAsyncReadCompatExt as _;

use crate::common::{
    corrupt, count_to_eof, join, mb_per_sec, median, pattern, Config, Report, Runtimes, Side, Unit,
};
use crate::tcp::{
    self, limit, strata_err, tokio_accept, tokio_connect, tokio_listener, Echo, Pinger, Receiver,
    Sender, PING,
};
use crate::tls::{self, Configs};

/// The write size of every bulk sender.
pub const CHUNK: usize = 64 * 1024;
/// Bytes per throughput run at full scale (split over the subchannels).
pub const TOTAL: u64 = 256 << 20;
/// Subchannels of the "many" measurements.
pub const MANY: usize = 16;
/// Round trips per ping-pong run at full scale.
pub const TRIPS: u64 = 20_000;
/// Subchannels opened and held at full scale.
pub const IDLE: usize = 10_000;
/// Round trips measured under load per run at full scale.
pub const LOADED_TRIPS: u64 = 2_000;
/// How long the bulk subchannels run before the loaded round trips start.
const RAMP_UP: Duration = Duration::from_millis(30);

// ---------------------------------------------------------------------------
// Counting allocations, per thread
// ---------------------------------------------------------------------------

/// The system allocator, counting the bytes each thread holds (allocated
/// minus freed by that thread) so the idle measurement can tell what the
/// client and the server ends keep. Costs a thread-local add per call.
pub struct CountingAlloc;

thread_local! {
    static NET: Cell<isize> = const { Cell::new(0) };
}

#[inline]
fn count(n: isize) {
    let _ = NET.try_with(|c| c.set(c.get() + n));
}

// SAFETY: every call is forwarded to `System` unchanged; the counting
// touches only a thread-local integer (no allocation, no reentrancy).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        count(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            count(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Bytes the calling thread holds (allocated minus freed by it).
pub fn thread_bytes() -> isize {
    NET.try_with(Cell::get).unwrap_or(0)
}

/// Bytes held by the thread of `rt` (a [`Runtimes`] runtime: one thread).
async fn bytes_on(rt: &tokio::runtime::Handle) -> io::Result<isize> {
    rt.spawn(async { thread_bytes() })
        .await
        .map_err(io::Error::other)
}

// ---------------------------------------------------------------------------
// Running the sides
// ---------------------------------------------------------------------------

type Run<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<f64>>> + 'a>>;

/// What `--filter` selects of the measurement `case`, whose peers (sides
/// 1..) are reported on the lines `{case}/{lines[i - 1]}`: `None` if
/// nothing; else which sides to run — all of them, unless the filter names
/// lines rather than the case (`pingpong/64B/vs-tcp`: Strata and the TCP
/// peer only, so `--only peer` then profiles that peer alone). An empty
/// line name is never matched on its own.
fn selection(cfg: &Config, case: &str, lines: &[&str]) -> Option<Vec<bool>> {
    let all = vec![true; lines.len() + 1];
    let Some(f) = cfg.filter.as_deref() else {
        return Some(all);
    };
    if case.contains(f) {
        return Some(all);
    }
    let named: Vec<bool> = lines
        .iter()
        .map(|l| !l.is_empty() && format!("{case}/{l}").contains(f))
        .collect();
    named
        .iter()
        .any(|&n| n)
        .then(|| std::iter::once(true).chain(named).collect())
}

/// Run side 0 (Strata) and sides 1.. (the peers) marked in `sides` in
/// turn, `cfg.warmup` times unmeasured and then `cfg.reps` times,
/// interleaved; each run gives one or more figures. Returns, per side, the
/// median of each figure (NaN for a side not run: unmarked, or skipped by
/// `--only`).
async fn interleave_sides<'a>(
    cfg: &Config,
    case: &str,
    sides: &[bool],
    mut run: impl FnMut(usize) -> Run<'a>,
) -> io::Result<Vec<Vec<f64>>> {
    let wanted = |i: usize| {
        sides[i]
            && match cfg.only {
                Some(Side::Strata) => i == 0,
                Some(Side::Peer) => i > 0,
                None => true,
            }
    };
    let sides = sides.len();
    for _ in 0..cfg.warmup {
        for i in (0..sides).filter(|&i| wanted(i)) {
            run(i).await?;
        }
    }
    let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::new(); sides];
    for _ in 0..cfg.reps.max(1) {
        for i in (0..sides).filter(|&i| wanted(i)) {
            samples[i].push(run(i).await?);
        }
    }
    // Every side reports as many figures (NaN for a side not run).
    let figures = samples
        .iter()
        .filter_map(|s| s.first().map(Vec::len))
        .max()
        .unwrap_or(1);
    let mut out = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        if cfg.verbose {
            eprintln!("  {case}: side {i}: {s:.2?}");
        }
        out.push(
            (0..figures)
                .map(|f| {
                    let v: Vec<f64> = s.iter().filter_map(|r| r.get(f).copied()).collect();
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        median(&v)
                    }
                })
                .collect(),
        );
    }
    Ok(out)
}

fn report(case: impl Into<String>, unit: Unit, strata: f64, peer: f64) -> Report {
    Report {
        case: case.into(),
        unit,
        strata,
        peer,
    }
}

/// Run every measurement of the case, handing each report to `out` as it
/// is made.
pub async fn run(cfg: &Config, out: &mut dyn FnMut(Report)) -> io::Result<()> {
    let rts = &Runtimes::new(cfg.pin)?;
    let configs = &Configs::new()?;
    let verify = cfg.verify;
    let total = cfg.scaled(TOTAL, (MANY * 4 * CHUNK) as u64);
    let total = total - total % (MANY as u64 * CHUNK as u64);

    // (a), (b): throughput over TCP, vs yamux and vs TCP without a mux.
    for streams in [1, MANY] {
        let case = format!("mux/throughput/{streams}ch");
        let Some(sides) = selection(cfg, &case, &["vs-yamux", "vs-tcp"]) else {
            continue;
        };
        let r = interleave_sides(cfg, &case, &sides, |side| {
            Box::pin(async move {
                let t = match side {
                    0 => strata_throughput(rts, None, streams, CHUNK, total, verify).await?,
                    1 => yamux_throughput(rts, None, streams, CHUNK, total, verify).await?,
                    _ => tcp::strata_throughput(rts, CHUNK, total, verify).await?,
                };
                Ok(vec![mb_per_sec(total, t)])
            })
        })
        .await?;
        let u = Unit::MegabytesPerSec;
        out(report(format!("{case}/vs-yamux"), u, r[0][0], r[1][0]));
        out(report(format!("{case}/vs-tcp"), u, r[0][0], r[2][0]));
    }

    // (c): 16 subchannels over TLS, vs tokio-rustls + yamux and vs Strata
    // TLS without a mux.
    let case = format!("mux/tls-throughput/{MANY}ch");
    if let Some(sides) = selection(cfg, &case, &["vs-rustls-yamux", "vs-tls"]) {
        let r = interleave_sides(cfg, &case, &sides, |side| {
            Box::pin(async move {
                let c = Some(configs);
                let t = match side {
                    0 => strata_throughput(rts, c, MANY, CHUNK, total, verify).await?,
                    1 => yamux_throughput(rts, c, MANY, CHUNK, total, verify).await?,
                    _ => tls::strata_throughput(rts, configs, CHUNK, total, verify).await?,
                };
                Ok(vec![mb_per_sec(total, t)])
            })
        })
        .await?;
        let u = Unit::MegabytesPerSec;
        out(report(
            format!("{case}/vs-rustls-yamux"),
            u,
            r[0][0],
            r[1][0],
        ));
        out(report(format!("{case}/vs-tls"), u, r[0][0], r[2][0]));
    }

    // (d): ping-pong on a subchannel vs on the transport below.
    let trips = cfg.scaled(TRIPS, 10);
    let case = format!("mux/pingpong/{PING}B");
    if let Some(sides) = selection(cfg, &case, &["vs-yamux", "vs-tcp"]) {
        let r = interleave_sides(cfg, &case, &sides, |side| {
            Box::pin(async move {
                let t = match side {
                    0 => strata_pingpong(rts, trips, verify).await?,
                    1 => yamux_pingpong(rts, trips, verify).await?,
                    _ => tcp::strata_pingpong(rts, trips, verify).await?,
                };
                Ok(vec![t.as_secs_f64() * 1e6 / trips as f64])
            })
        })
        .await?;
        let below = report(format!("{case}/vs-tcp"), Unit::Micros, r[0][0], r[2][0]);
        eprintln!(
            "# {}: a subchannel adds {:+.2} µs per round trip to the transport below (target: at most 3)",
            below.case,
            r[0][0] - r[2][0]
        );
        out(below);
        out(report(
            format!("{case}/vs-yamux"),
            Unit::Micros,
            r[0][0],
            r[1][0],
        ));
    }

    // (e): many subchannels opened and held.
    let n = cfg.scaled(IDLE as u64, 16) as usize;
    let case = format!("mux/idle-{}", count_name(n));
    if let Some(sides) = selection(cfg, &case, &[""]) {
        let r = interleave_sides(cfg, &case, &sides, |side| {
            Box::pin(async move {
                let m = match side {
                    0 => strata_idle(rts, n).await?,
                    _ => yamux_idle(rts, n).await?,
                };
                Ok(vec![
                    m.opens_per_sec,
                    m.client_bytes as f64 / n as f64,
                    m.server_bytes as f64 / n as f64,
                ])
            })
        })
        .await?;
        out(report(
            format!("{case}/opens-per-sec"),
            Unit::PerSec,
            r[0][0],
            r[1][0],
        ));
        out(report(
            format!("{case}/client-bytes-per-ch"),
            Unit::Bytes,
            r[0][1],
            r[1][1],
        ));
        out(report(
            format!("{case}/server-bytes-per-ch"),
            Unit::Bytes,
            r[0][2],
            r[1][2],
        ));
    }

    // (f): a small request's latency while 15 subchannels saturate.
    let trips = cfg.scaled(LOADED_TRIPS, 20);
    let case = format!("mux/loaded-latency/{}+1ch", MANY - 1);
    if let Some(sides) = selection(cfg, &case, &[""]) {
        let r = interleave_sides(cfg, &case, &sides, |side| {
            Box::pin(async move {
                let lat = match side {
                    0 => strata_loaded(rts, MANY - 1, trips, verify).await?,
                    _ => yamux_loaded(rts, MANY - 1, trips, verify).await?,
                };
                Ok(vec![percentile(&lat, 0.5), percentile(&lat, 0.99)])
            })
        })
        .await?;
        out(report(
            format!("{case}/median"),
            Unit::Micros,
            r[0][0],
            r[1][0],
        ));
        out(report(
            format!("{case}/p99"),
            Unit::Micros,
            r[0][1],
            r[1][1],
        ));
    }
    Ok(())
}

fn count_name(n: usize) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// The `q` quantile of `v` (µs), nearest rank.
fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

// ---------------------------------------------------------------------------
// Strata
// ---------------------------------------------------------------------------

/// A mux that opens the given subchannels as soon as its connection is
/// made (a client running several apps at once).
pub struct OpenAll {
    /// The mux.
    pub mux: Mux,
    apps: Vec<BoxProtocol>,
}

impl OpenAll {
    /// `mux`, opening `apps` (in order) once connected.
    pub fn new(mux: Mux, apps: Vec<BoxProtocol>) -> Self {
        OpenAll { mux, apps }
    }
}

impl Protocol for OpenAll {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.mux.connection_made(t);
        for app in self.apps.drain(..) {
            if let Err(e) = self.mux.open(t, app) {
                open_failed(&e);
            }
        }
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.mux.data_received(t, data)
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.mux.read_closed(t)
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.mux.write_closed(t)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.mux.connection_lost(reason)
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.mux.pause_writing(t)
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.mux.resume_writing(t)
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.mux.timer_fired(t, timer)
    }
}

fn open_failed(e: &dyn std::fmt::Display) {
    eprintln!("strata-bench: a subchannel could not be opened: {e}");
}

/// Put `mux` under TLS if `tls` says so.
fn maybe_tls_client(
    tls: Option<&Configs>,
    p: impl Protocol + Send + 'static,
) -> io::Result<BoxProtocol> {
    Ok(match tls {
        Some(c) => Box::new(c.strata_client()?.wrap(p)),
        None => Box::new(p),
    })
}

/// Listen on the server runtime, running `make()` (under TLS if given) on
/// each connection; returns the listener (to keep) and its description.
async fn strata_listen<F>(
    rts: &Runtimes,
    tls: Option<&Configs>,
    mut make: F,
) -> io::Result<(strata_tokio::Listener, String)>
where
    F: FnMut() -> Mux + Send + 'static,
{
    let server = tls.map(Configs::strata_server).transpose()?;
    let listener = join(rts.server().spawn(async move {
        strata_tokio::listen("tcp:127.0.0.1:0", move |_: &TransportInfo| -> BoxProtocol {
            let mux = make();
            match &server {
                Some(s) => Box::new(s.wrap(mux)),
                None => Box::new(mux),
            }
        })
        .await
        .map_err(strata_err)
    }))
    .await?;
    let desc = format!("tcp:127.0.0.1:{}", listener.port().expect("tcp has a port"));
    Ok((listener, desc))
}

/// Connect on the client runtime; returns the time before `connect` and
/// the handle.
async fn strata_connect<P: Protocol + Send + 'static>(
    rts: &Runtimes,
    desc: String,
    proto: P,
) -> io::Result<(Instant, strata_tokio::Handle<P>)> {
    join(rts.client().spawn(async move {
        let start = Instant::now();
        let h = strata_tokio::connect(&desc, proto)
            .await
            .map_err(strata_err)?;
        Ok((start, h))
    }))
    .await
}

/// Stream `total` bytes over `streams` subchannels at once (`total /
/// streams` each, in `chunk`-sized writes), over TCP or TCP+TLS; returns
/// the time from before `connect` to the last receiver's end-of-stream.
pub async fn strata_throughput(
    rts: &Runtimes,
    tls: Option<&Configs>,
    streams: usize,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<Duration> {
    let per = total / streams as u64;
    limit("strata mux throughput", async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (_listener, desc) = strata_listen(rts, tls, move || {
            let tx = tx.clone();
            Mux::server(MuxConfig::default(), move |_: &TransportInfo| {
                Box::new(Receiver::new(chunk, per, verify, tx.clone())) as BoxProtocol
            })
        })
        .await?;
        let apps = (0..streams)
            .map(|_| Box::new(Sender::new(chunk, per)) as BoxProtocol)
            .collect();
        let mux = Mux::client(MuxConfig::default().close_when_idle(true), no_inbound());
        let proto = maybe_tls_client(tls, OpenAll::new(mux, apps))?;
        let (start, client) = strata_connect(rts, desc, proto).await?;
        let mut end = start;
        for _ in 0..streams {
            let (count, at) = rx
                .recv()
                .await
                .ok_or_else(|| strata_err("receiver gone"))??;
            if count != per {
                return Err(corrupt(format!("{count} bytes arrived, {per} were sent")));
            }
            end = end.max(at);
        }
        let reason = client.closed().await;
        if !reason.is_done() {
            return Err(strata_err(format!("mux client: {reason}")));
        }
        Ok(end - start)
    })
    .await
}

/// `trips` round trips of [`PING`] bytes on one subchannel; returns the
/// time from before `connect` to the last echo.
pub async fn strata_pingpong(rts: &Runtimes, trips: u64, verify: bool) -> io::Result<Duration> {
    limit("strata mux ping-pong", async {
        let (_listener, desc) = strata_listen(rts, None, || {
            Mux::server(MuxConfig::default(), |_: &TransportInfo| {
                Box::new(Echo) as BoxProtocol
            })
        })
        .await?;
        let (done, finished) = oneshot::channel();
        let mux = Mux::client(MuxConfig::default().close_when_idle(true), no_inbound())
            .with_initial(Box::new(Pinger::new(trips, verify, done)));
        let (start, client) = strata_connect(rts, desc, mux).await?;
        let end = finished.await.map_err(|_| strata_err("pinger gone"))??;
        client.closed().await;
        Ok(end - start)
    })
    .await
}

/// What opening and holding many subchannels cost.
#[derive(Clone, Copy, Debug)]
pub struct Idle {
    /// Subchannels opened (one byte each way) per second.
    pub opens_per_sec: f64,
    /// Bytes the opening end holds more once they are open.
    pub client_bytes: isize,
    /// Bytes the accepting end holds more.
    pub server_bytes: isize,
}

/// Counts answers; the last one reports the time.
struct Answers {
    left: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<Instant>>>,
}

impl Answers {
    fn new(n: usize) -> (Arc<Self>, oneshot::Receiver<Instant>) {
        let (tx, rx) = oneshot::channel();
        let a = Answers {
            left: AtomicUsize::new(n),
            done: Mutex::new(Some(tx)),
        };
        (Arc::new(a), rx)
    }

    fn one(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(tx) = self.done.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(Instant::now());
            }
        }
    }
}

/// Writes one byte, counts the answer, then stays idle.
struct OneByte(Arc<Answers>);

impl Protocol for OneByte {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(Bytes::from_static(b"?"));
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {
        self.0.one();
    }
}

fn many_config(n: usize) -> MuxConfig {
    MuxConfig::default()
        .max_streams(n + 16)
        .max_pending_opens(n + 16)
}

/// Open `n` subchannels on one connection (one byte each way), hold them,
/// and measure.
pub async fn strata_idle(rts: &Runtimes, n: usize) -> io::Result<Idle> {
    limit("strata mux idle", async {
        let (_listener, desc) = strata_listen(rts, None, move || {
            Mux::server(many_config(n), |_: &TransportInfo| {
                Box::new(Echo) as BoxProtocol
            })
        })
        .await?;
        let mux = Mux::client(many_config(n), no_inbound());
        let (_, client) = strata_connect(rts, desc, mux).await?;
        // Both ends are running once the start-up ping is answered.
        while client
            .call(|m: &mut Mux, _| m.rtt())
            .await
            .map_err(strata_err)?
            .is_none()
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (c0, s0) = (bytes_on(rts.client()).await?, bytes_on(rts.server()).await?);
        let (answers, all) = Answers::new(n);
        let start = Instant::now();
        let opened = client
            .call(move |m: &mut Mux, t| {
                (0..n)
                    .filter(|_| m.open(t, Box::new(OneByte(answers.clone()))).is_ok())
                    .count()
            })
            .await
            .map_err(strata_err)?;
        if opened != n {
            return Err(strata_err(format!("opened {opened} of {n}")));
        }
        let end = all.await.map_err(|_| strata_err("answers lost"))?;
        let (c1, s1) = (bytes_on(rts.client()).await?, bytes_on(rts.server()).await?);
        let _ = client.abort();
        client.closed().await;
        Ok(Idle {
            opens_per_sec: n as f64 / (end - start).as_secs_f64(),
            client_bytes: c1 - c0,
            server_bytes: s1 - s0,
        })
    })
    .await
}

/// Discards what arrives (and closes when the peer does).
struct Discard;

impl Protocol for Discard {
    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {}
}

/// Sends [`PING`]-byte messages one at a time after [`RAMP_UP`], timing
/// each round trip.
struct TimedPinger {
    msg: Bytes,
    remaining: u64,
    got: usize,
    sent_at: Instant,
    verify: bool,
    bad: bool,
    times: Vec<f64>,
    done: Option<oneshot::Sender<io::Result<Vec<f64>>>>,
}

impl TimedPinger {
    fn new(trips: u64, verify: bool, done: oneshot::Sender<io::Result<Vec<f64>>>) -> Self {
        TimedPinger {
            msg: pattern(PING),
            remaining: trips,
            got: 0,
            sent_at: Instant::now(),
            verify,
            bad: false,
            times: Vec::with_capacity(trips as usize),
            done: Some(done),
        }
    }

    fn ping(&mut self, t: &mut dyn Transport) {
        self.sent_at = Instant::now();
        t.write(self.msg.clone());
    }

    fn finish(&mut self, r: io::Result<Vec<f64>>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(r);
        }
    }
}

impl Protocol for TimedPinger {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.set_timer_after(RAMP_UP);
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, _timer: TimerId) {
        self.ping(t);
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        if self.verify {
            let want = self.msg.get(self.got..self.got + data.len());
            self.bad |= want != Some(&data[..]);
        }
        self.got += data.len();
        if self.got < self.msg.len() {
            return;
        }
        self.times.push(self.sent_at.elapsed().as_secs_f64() * 1e6);
        self.got = 0;
        self.remaining -= 1;
        if self.remaining > 0 && !self.bad {
            self.ping(t);
        } else {
            let r = if self.bad {
                Err(corrupt("an echo differs from the message"))
            } else {
                Ok(std::mem::take(&mut self.times))
            };
            self.finish(r);
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.finish(Err(strata_err(format!("ended early: {reason}"))));
    }
}

/// Round-trip times (µs) of `trips` small requests on one subchannel while
/// `bulk` others stream as fast as they can.
pub async fn strata_loaded(
    rts: &Runtimes,
    bulk: usize,
    trips: u64,
    verify: bool,
) -> io::Result<Vec<f64>> {
    limit("strata mux loaded latency", async {
        // The first subchannel of a connection echoes; the others discard.
        let (_listener, desc) = strata_listen(rts, None, || {
            let mut first = true;
            Mux::server(
                MuxConfig::default(),
                move |_: &TransportInfo| -> BoxProtocol {
                    if std::mem::take(&mut first) {
                        Box::new(Echo)
                    } else {
                        Box::new(Discard)
                    }
                },
            )
        })
        .await?;
        let (done, finished) = oneshot::channel();
        let mut apps: Vec<BoxProtocol> = vec![Box::new(TimedPinger::new(trips, verify, done))];
        apps.extend((0..bulk).map(|_| Box::new(Sender::new(CHUNK, u64::MAX)) as BoxProtocol));
        let mux = Mux::client(MuxConfig::default(), no_inbound());
        let (_, client) = strata_connect(rts, desc, OpenAll::new(mux, apps)).await?;
        let times = finished.await.map_err(|_| strata_err("pinger gone"))??;
        let _ = client.abort();
        client.closed().await;
        Ok(times)
    })
    .await
}

// ---------------------------------------------------------------------------
// yamux
// ---------------------------------------------------------------------------

/// A tokio stream as the futures-io stream yamux takes (what
/// `tokio_util::compat` does).
struct FuturesIo<T>(T);

impl<T: tokio::io::AsyncRead + Unpin> futures::AsyncRead for FuturesIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = tokio::io::ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> futures::AsyncWrite for FuturesIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

enum Cmd {
    /// Open this many streams, handing each to the sender.
    Open(usize, mpsc::UnboundedSender<yamux::Stream>),
    /// Close the connection (GoAway) and end.
    Close,
}

/// A yamux connection driven by a task of its own on the current runtime:
/// yamux makes progress only while `poll_next_inbound` is polled, so one
/// task does that (handing inbound streams to `inbound`) and opens streams
/// on request.
struct YamuxConn {
    cmds: mpsc::UnboundedSender<Cmd>,
    task: JoinHandle<()>,
}

fn yamux_config(max_streams: usize) -> yamux::Config {
    let mut c = yamux::Config::default();
    if max_streams > 512 {
        c.set_max_connection_receive_window(None);
        c.set_max_num_streams(max_streams);
    }
    c
}

fn drive_yamux<T>(
    io: T,
    mode: yamux::Mode,
    cfg: yamux::Config,
    inbound: mpsc::UnboundedSender<yamux::Stream>,
) -> YamuxConn
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (cmds, mut rx) = mpsc::unbounded_channel::<Cmd>();
    let task = tokio::spawn(async move {
        let mut conn = yamux::Connection::new(FuturesIo(io), cfg, mode);
        let mut opens: VecDeque<(usize, mpsc::UnboundedSender<yamux::Stream>)> = VecDeque::new();
        let mut closing = false;
        poll_fn(|cx| {
            while let Poll::Ready(Some(cmd)) = rx.poll_recv(cx) {
                match cmd {
                    Cmd::Open(n, tx) if n > 0 => opens.push_back((n, tx)),
                    Cmd::Open(..) => {}
                    Cmd::Close => closing = true,
                }
            }
            if closing {
                return conn.poll_close(cx).map(|_| ());
            }
            while let Some((n, tx)) = opens.front_mut() {
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(Ok(s)) => {
                        let _ = tx.send(s);
                        *n -= 1;
                        if *n == 0 {
                            opens.pop_front();
                        }
                    }
                    // Dropping the sender tells the opener.
                    Poll::Ready(Err(_)) => {
                        opens.pop_front();
                    }
                    Poll::Pending => break,
                }
            }
            loop {
                match conn.poll_next_inbound(cx) {
                    Poll::Ready(Some(Ok(s))) => {
                        let _ = inbound.send(s);
                    }
                    Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    });
    YamuxConn { cmds, task }
}

impl YamuxConn {
    /// A receiver of `n` new outbound streams.
    fn open(&self, n: usize) -> mpsc::UnboundedReceiver<yamux::Stream> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.cmds.send(Cmd::Open(n, tx));
        rx
    }

    fn close(&self) {
        let _ = self.cmds.send(Cmd::Close);
    }
}

async fn next_stream(rx: &mut mpsc::UnboundedReceiver<yamux::Stream>) -> io::Result<yamux::Stream> {
    rx.recv()
        .await
        .ok_or_else(|| strata_err("the yamux connection ended"))
}

/// Accept a TCP connection (then TLS if given) and drive yamux on it as
/// the server, on the current runtime.
async fn yamux_accept(
    listener: &tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    cfg: yamux::Config,
) -> io::Result<(YamuxConn, mpsc::UnboundedReceiver<yamux::Stream>)> {
    let tcp = tokio_accept(listener).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let conn = match tls {
        Some(c) => {
            let s = TlsAcceptor::from(c).accept(tcp).await?;
            drive_yamux(s, yamux::Mode::Server, cfg, tx)
        }
        None => drive_yamux(tcp, yamux::Mode::Server, cfg, tx),
    };
    Ok((conn, rx))
}

/// Connect (then TLS if given) and drive yamux on it as the client, on
/// the current runtime.
async fn yamux_connect(
    addr: SocketAddr,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    cfg: yamux::Config,
) -> io::Result<YamuxConn> {
    let tcp = tokio_connect(addr).await?;
    // Inbound streams are not expected: the receiver is dropped.
    let (tx, _) = mpsc::unbounded_channel();
    Ok(match tls {
        Some(c) => {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")
                .map_err(strata_err)?;
            let s = TlsConnector::from(c).connect(name, tcp).await?;
            drive_yamux(s, yamux::Mode::Client, cfg, tx)
        }
        None => drive_yamux(tcp, yamux::Mode::Client, cfg, tx),
    })
}

async fn addr_of(rx: oneshot::Receiver<SocketAddr>) -> io::Result<SocketAddr> {
    rx.await.map_err(|_| strata_err("listener gone"))
}

/// Stream `total` bytes over `streams` yamux streams at once, over TCP or
/// tokio-rustls; returns the time from before `connect` to the last
/// reader's end-of-stream.
pub async fn yamux_throughput(
    rts: &Runtimes,
    tls: Option<&Configs>,
    streams: usize,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<Duration> {
    let per = total / streams as u64;
    let (server_tls, client_tls) = (tls.map(|c| c.server.clone()), tls.map(|c| c.client.clone()));
    limit("yamux throughput", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<io::Result<(u64, Instant)>>();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let (conn, mut inbound) = yamux_accept(&listener, server_tls, yamux_config(0)).await?;
            for _ in 0..streams {
                let mut s = next_stream(&mut inbound).await?;
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let r = async {
                        let mut tokio_side = (&mut s).compat();
                        let r = count_to_eof(&mut tokio_side, CHUNK, chunk, per, verify).await?;
                        s.close().await?;
                        Ok(r)
                    }
                    .await;
                    let _ = done.send(r);
                });
            }
            Ok::<_, io::Error>(conn)
        });
        let addr = addr_of(addr_rx).await?;

        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let conn = yamux_connect(addr, client_tls, yamux_config(0)).await?;
            let mut opened = conn.open(streams);
            let mut writers = Vec::new();
            for _ in 0..streams {
                let mut s = next_stream(&mut opened).await?;
                writers.push(tokio::spawn(async move {
                    let data = pattern(chunk);
                    let mut left = per;
                    while left > 0 {
                        let n = (chunk as u64).min(left) as usize;
                        s.write_all(&data[..n]).await?;
                        left -= n as u64;
                    }
                    s.close().await?;
                    // Wait for the reader's close, as the Strata sender does.
                    let mut rest = [0u8; 16];
                    while s.read(&mut rest).await? > 0 {}
                    Ok::<_, io::Error>(())
                }));
            }
            for w in writers {
                w.await.map_err(io::Error::other)??;
            }
            Ok::<_, io::Error>((start, conn))
        });

        let mut end = None::<Instant>;
        for _ in 0..streams {
            let (count, at) = done_rx
                .recv()
                .await
                .ok_or_else(|| strata_err("yamux reader gone"))??;
            if count != per {
                return Err(corrupt(format!("{count} bytes arrived, {per} were sent")));
            }
            end = Some(end.map_or(at, |e| e.max(at)));
        }
        let (start, conn) = join(client).await?;
        let server_conn = join(server).await?;
        conn.close();
        let _ = conn.task.await;
        let _ = server_conn.task.await;
        Ok(end.expect("at least one stream") - start)
    })
    .await
}

/// `trips` round trips of [`PING`] bytes on one yamux stream; returns the
/// time from before `connect` to the last echo.
pub async fn yamux_pingpong(rts: &Runtimes, trips: u64, verify: bool) -> io::Result<Duration> {
    limit("yamux ping-pong", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let (conn, mut inbound) = yamux_accept(&listener, None, yamux_config(0)).await?;
            let mut s = next_stream(&mut inbound).await?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await?;
            }
            s.close().await?;
            let _ = conn.task.await;
            Ok::<_, io::Error>(())
        });
        let addr = addr_of(addr_rx).await?;
        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let conn = yamux_connect(addr, None, yamux_config(0)).await?;
            let mut s = next_stream(&mut conn.open(1)).await?;
            let msg = pattern(PING);
            let mut echo = [0u8; PING];
            for _ in 0..trips {
                s.write_all(&msg).await?;
                s.read_exact(&mut echo).await?;
                if verify && echo[..] != msg[..] {
                    return Err(corrupt("an echo differs from the message"));
                }
            }
            let elapsed = start.elapsed();
            s.close().await?;
            let mut rest = [0u8; 16];
            while s.read(&mut rest).await? > 0 {}
            conn.close();
            let _ = conn.task.await;
            Ok(elapsed)
        });
        let elapsed = join(client).await?;
        join(server).await?;
        Ok(elapsed)
    })
    .await
}

/// Open `n` yamux streams on one connection (one byte each way), hold
/// them, and measure.
pub async fn yamux_idle(rts: &Runtimes, n: usize) -> io::Result<Idle> {
    limit("yamux idle", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let (conn, mut inbound) = yamux_accept(&listener, None, yamux_config(n + 16)).await?;
            let _ = ready_tx.send(());
            // Answer each stream's byte and hold the stream (one task: a
            // task per stream would count against yamux).
            let _ = go_rx.await;
            let mut held = Vec::with_capacity(n);
            let mut one = [0u8; 1];
            for _ in 0..n {
                let mut s = next_stream(&mut inbound).await?;
                s.read_exact(&mut one).await?;
                s.write_all(&one).await?;
                held.push(s);
            }
            let _ = stop_rx.await;
            conn.task.abort();
            drop(held);
            Ok::<_, io::Error>(())
        });
        let addr = addr_of(addr_rx).await?;
        let conn = join(
            rts.client()
                .spawn(async move { yamux_connect(addr, None, yamux_config(n + 16)).await }),
        )
        .await?;
        ready_rx
            .await
            .map_err(|_| strata_err("yamux server gone"))?;
        let (c0, s0) = (bytes_on(rts.client()).await?, bytes_on(rts.server()).await?);
        let _ = go_tx.send(());
        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let mut opened = conn.open(n);
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                let mut s = next_stream(&mut opened).await?;
                s.write_all(b"?").await?;
                held.push(s);
            }
            let mut one = [0u8; 1];
            for s in &mut held {
                s.read_exact(&mut one).await?;
            }
            let end = Instant::now();
            Ok::<_, io::Error>((start, end, conn, held))
        });
        let (start, end, conn, held) = join(client).await?;
        let (c1, s1) = (bytes_on(rts.client()).await?, bytes_on(rts.server()).await?);
        let _ = stop_tx.send(());
        join(server).await?;
        // Drop the client's streams and connection on its own thread.
        join(rts.client().spawn(async move {
            conn.task.abort();
            drop(held);
            Ok(())
        }))
        .await?;
        Ok(Idle {
            opens_per_sec: n as f64 / (end - start).as_secs_f64(),
            client_bytes: c1 - c0,
            server_bytes: s1 - s0,
        })
    })
    .await
}

/// Round-trip times (µs) of `trips` small requests on one yamux stream
/// while `bulk` others stream as fast as they can.
pub async fn yamux_loaded(
    rts: &Runtimes,
    bulk: usize,
    trips: u64,
    verify: bool,
) -> io::Result<Vec<f64>> {
    limit("yamux loaded latency", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let (conn, mut inbound) = yamux_accept(&listener, None, yamux_config(0)).await?;
            // The first stream echoes; the others discard.
            let mut tasks = Vec::new();
            for i in 0..=bulk {
                let mut s = next_stream(&mut inbound).await?;
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; CHUNK];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if i == 0 && s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            conn.task.abort();
            Ok::<_, io::Error>(())
        });
        let addr = addr_of(addr_rx).await?;
        let client = rts.client().spawn(async move {
            let conn = yamux_connect(addr, None, yamux_config(0)).await?;
            let mut opened = conn.open(1 + bulk);
            let mut s = next_stream(&mut opened).await?;
            let msg = pattern(PING);
            let mut echo = [0u8; PING];
            // One round trip first, so the server sees this stream first.
            s.write_all(&msg).await?;
            s.read_exact(&mut echo).await?;
            let stop = Arc::new(AtomicBool::new(false));
            let mut writers = Vec::new();
            for _ in 0..bulk {
                let mut w = next_stream(&mut opened).await?;
                let stop = stop.clone();
                writers.push(tokio::spawn(async move {
                    let data = pattern(CHUNK);
                    while !stop.load(Ordering::Relaxed) {
                        if w.write_all(&data).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            tokio::time::sleep(RAMP_UP).await;
            let mut times = Vec::with_capacity(trips as usize);
            for _ in 0..trips {
                let t0 = Instant::now();
                s.write_all(&msg).await?;
                s.read_exact(&mut echo).await?;
                times.push(t0.elapsed().as_secs_f64() * 1e6);
                if verify && echo[..] != msg[..] {
                    return Err(corrupt("an echo differs from the message"));
                }
            }
            stop.store(true, Ordering::Relaxed);
            for w in &writers {
                w.abort();
            }
            conn.task.abort();
            drop(s);
            Ok::<_, io::Error>(times)
        });
        let times = join(client).await?;
        join(server).await?;
        Ok(times)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_naming_a_line_runs_that_lines_peer_only() {
        let mut cfg = Config::smoke();
        let lines = ["vs-yamux", "vs-tcp"];
        let case = "mux/pingpong/64B";
        assert_eq!(selection(&cfg, case, &lines), Some(vec![true; 3]));
        cfg.filter = Some("pingpong".into());
        assert_eq!(selection(&cfg, case, &lines), Some(vec![true; 3]));
        cfg.filter = Some("pingpong/64B/vs-tcp".into());
        assert_eq!(selection(&cfg, case, &lines), Some(vec![true, false, true]));
        cfg.filter = Some("throughput".into());
        assert_eq!(selection(&cfg, case, &lines), None);
        cfg.filter = Some("loaded-latency/15+1ch/median".into());
        assert_eq!(selection(&cfg, "mux/loaded-latency/15+1ch", &[""]), None);
    }
}
