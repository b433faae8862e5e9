//! What every case shares: the run configuration, timing, statistics, the
//! output line, and the byte pattern that lets smoke tests check integrity.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

/// How a case should run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Measured repetitions of each side (interleaved: strata, peer,
    /// strata, peer, ...). The reported figure is the median.
    pub reps: usize,
    /// Unmeasured runs of each side before measuring.
    pub warmup: usize,
    /// Scale every workload by this factor (`--quick` uses a small one).
    pub scale: f64,
    /// Check the bytes that arrive (slower; for smoke tests).
    pub verify: bool,
    /// Print every sample to stderr.
    pub verbose: bool,
    /// Run only the measurements whose name contains this.
    pub filter: Option<String>,
    /// Run only one side (for profiling): `strata` or `peer`.
    pub only: Option<Side>,
    /// Where the two runtime threads run (`--pin`).
    pub pin: Pin,
}

/// Where the threads of the two [`Runtimes`] run (`--pin`).
///
/// On this kind of machine (2 virtual CPUs), loopback throughput with the
/// two ends free to run anywhere flips between ~2 and ~8 GB/s from one run
/// to the next, for plain tokio as for Strata (a 64 KiB TCP run measured
/// 1.4 to 8.5 GB/s within one invocation). With both ends on one CPU it
/// is stable to a few percent: the figure is then the CPU cost per byte of
/// both ends together, kernel included — what differs between Strata and
/// the peer. The default stays `Any`, the setting a deployment has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    /// Wherever the OS schedules them.
    Any,
    /// Both on CPU 0.
    One,
    /// The server ends on CPU 0, the client ends on CPU 1.
    Two,
}

/// One side of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Strata.
    Strata,
    /// The peer it is compared with.
    Peer,
}

impl Config {
    /// The full run: several repetitions, full-size workloads.
    pub fn full() -> Self {
        Config {
            reps: 7,
            warmup: 1,
            scale: 1.0,
            verify: false,
            verbose: false,
            filter: None,
            only: None,
            pin: Pin::Any,
        }
    }

    /// A short smoke run (`--quick`): the same code paths, small workloads.
    pub fn quick() -> Self {
        Config {
            reps: 3,
            warmup: 1,
            scale: 1.0 / 32.0,
            verify: false,
            verbose: false,
            filter: None,
            only: None,
            pin: Pin::Any,
        }
    }

    /// A tiny run that checks the bytes and measures nothing meaningful:
    /// what `cargo test -p strata-bench` uses.
    pub fn smoke() -> Self {
        Config {
            reps: 1,
            warmup: 0,
            scale: 1.0 / 4096.0,
            verify: true,
            verbose: false,
            filter: None,
            only: None,
            pin: Pin::Any,
        }
    }

    /// Whether the measurement `case` is selected by the filter.
    pub fn selects(&self, case: &str) -> bool {
        self.filter.as_deref().map_or(true, |f| case.contains(f))
    }

    /// `n` scaled by [`scale`](Config::scale), at least `min`.
    pub fn scaled(&self, n: u64, min: u64) -> u64 {
        ((n as f64 * self.scale) as u64).max(min)
    }
}

/// What a measurement counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Megabytes (10^6 bytes) per second.
    MegabytesPerSec,
    /// Round trips per second.
    RoundTripsPerSec,
    /// Frames per second.
    FramesPerSec,
    /// Events (opens, requests) per second.
    PerSec,
    /// Microseconds (a latency): lower is better.
    Micros,
    /// Bytes (memory held): lower is better.
    Bytes,
}

impl Unit {
    /// Whether a smaller figure is the better one (times, memory).
    pub fn lower_is_better(self) -> bool {
        matches!(self, Unit::Micros | Unit::Bytes)
    }
}

/// One measurement: Strata's figure and the peer's, both medians. Higher
/// is better for every unit.
#[derive(Clone, Debug)]
pub struct Report {
    /// `tcp/throughput/64KiB`, `tcp/pingpong/64B`, ...
    pub case: String,
    /// What the figures count.
    pub unit: Unit,
    /// Strata's median.
    pub strata: f64,
    /// The peer's median.
    pub peer: f64,
}

impl Report {
    /// Strata / peer: above 1 means Strata was faster.
    pub fn ratio(&self) -> f64 {
        if self.unit.lower_is_better() {
            self.peer / self.strata
        } else {
            self.strata / self.peer
        }
    }
}

impl fmt::Display for Report {
    /// `case=tcp/throughput/64KiB strata=2345.6 peer=2301.2 ratio=1.019`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prec = match self.unit {
            Unit::MegabytesPerSec => 1,
            Unit::RoundTripsPerSec | Unit::FramesPerSec => 0,
            Unit::PerSec | Unit::Bytes => 0,
            Unit::Micros => 2,
        };
        write!(
            f,
            "case={} strata={:.prec$} peer={:.prec$} ratio={:.3}",
            self.case,
            self.strata,
            self.peer,
            self.ratio()
        )
    }
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// Events per second.
pub fn per_sec(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// The median (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "median of no samples");
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn median_or_nan(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        f64::NAN
    } else {
        median(samples)
    }
}

/// Run both sides `cfg.warmup` times unmeasured, then `cfg.reps` times
/// each, alternating (strata, peer, strata, peer, ...) so that a noisy
/// neighbour on a shared machine hurts both alike; returns the report of
/// the medians. Each run returns its figure (higher is better).
pub async fn interleave<S, SF, P, PF>(
    cfg: &Config,
    case: &str,
    unit: Unit,
    mut strata: S,
    mut peer: P,
) -> io::Result<Report>
where
    S: FnMut() -> SF,
    SF: Future<Output = io::Result<f64>>,
    P: FnMut() -> PF,
    PF: Future<Output = io::Result<f64>>,
{
    let run_strata = cfg.only != Some(Side::Peer);
    let run_peer = cfg.only != Some(Side::Strata);
    for _ in 0..cfg.warmup {
        if run_strata {
            strata().await?;
        }
        if run_peer {
            peer().await?;
        }
    }
    let (mut s, mut p) = (Vec::new(), Vec::new());
    for _ in 0..cfg.reps.max(1) {
        if run_strata {
            s.push(strata().await?);
        }
        if run_peer {
            p.push(peer().await?);
        }
    }
    if cfg.verbose {
        eprintln!("  {case}: strata {s:.1?}");
        eprintln!("  {case}: peer   {p:.1?}");
    }
    Ok(Report {
        case: case.to_string(),
        unit,
        strata: median_or_nan(&s),
        peer: median_or_nan(&p),
    })
}

/// A human size: `1KiB`, `64KiB`, `1MiB`, `64B`.
pub fn size_name(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => format!("{n}B"),
    }
}

// ---------------------------------------------------------------------------
// Where the two ends run
// ---------------------------------------------------------------------------

/// Two single-threaded tokio runtimes on threads of their own: one for the
/// server end of every connection, one for the client end.
///
/// Both sides of every comparison run this way, so each end of a
/// connection has a core to itself (on a two-core machine) and neither
/// side's figures depend on where a work-stealing scheduler happened to
/// put its tasks — which, on a multi-threaded runtime, varies from run to
/// run by a factor of two for bulk transfers over loopback. It is also the
/// setting Strata is designed for: one task owns each connection, so a
/// connection never needs more than one thread.
pub struct Runtimes {
    server: tokio::runtime::Handle,
    client: tokio::runtime::Handle,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Runtimes {
    /// Start both runtimes, their threads placed as `pin` says.
    pub fn new(pin: Pin) -> io::Result<Self> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for (cpu, name) in ["bench-server", "bench-client"].into_iter().enumerate() {
            let cpu = match pin {
                Pin::Any => None,
                Pin::One => Some(0),
                Pin::Two => Some(cpu),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            handles.push(rt.handle().clone());
            stops.push(stop);
            threads.push(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || {
                        if let Some(cpu) = cpu {
                            pin_thread(cpu);
                        }
                        let _ = rt.block_on(stopped);
                    })?,
            );
        }
        let client = handles.pop().expect("two runtimes");
        let server = handles.pop().expect("two runtimes");
        Ok(Runtimes {
            server,
            client,
            stops,
            threads,
        })
    }

    /// The runtime of the server ends.
    pub fn server(&self) -> &tokio::runtime::Handle {
        &self.server
    }

    /// The runtime of the client ends.
    pub fn client(&self) -> &tokio::runtime::Handle {
        &self.client
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Run the calling thread on `cpu` only (best effort: a machine with fewer
/// CPUs, or a refusal, leaves it where it was, with a warning).
fn pin_thread(cpu: usize) {
    // SAFETY: `cpu_set_t` is a plain bit set, for which all zeroes is the
    // valid empty set; `CPU_SET` writes only within the set (it ignores a
    // `cpu` beyond its size); `sched_setaffinity` reads exactly
    // `size_of::<cpu_set_t>()` bytes of it, and pid 0 is the calling thread.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    if !ok {
        eprintln!(
            "strata-bench: cannot pin a thread to CPU {cpu}: {}",
            io::Error::last_os_error()
        );
    }
}

/// Await a task spawned on one of the [`Runtimes`].
pub async fn join<T>(task: tokio::task::JoinHandle<io::Result<T>>) -> io::Result<T> {
    task.await.map_err(io::Error::other)?
}

// ---------------------------------------------------------------------------
// The byte pattern
// ---------------------------------------------------------------------------

/// A chunk of `len` bytes of the pattern every sender repeats: byte `i` of
/// a chunk is `i % 251` (a prime, so chunk boundaries show).
pub fn pattern(len: usize) -> bytes::Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The peer side of a throughput run, for any tokio stream (TCP,
/// tokio-rustls): read `buf_len` bytes at a time until end of stream,
/// counting (and with `verify` checking) what arrives; returns the count and
/// the moment the end arrived.
pub async fn count_to_eof<S>(
    s: &mut S,
    buf_len: usize,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<(u64, std::time::Instant)>
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; buf_len];
    let mut count = 0u64;
    let mut check = verify.then(|| PatternCheck::new(chunk));
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        count += n as u64;
        if let Some(c) = &mut check {
            c.feed(&buf[..n]);
        }
    }
    let end = std::time::Instant::now();
    if let Some(c) = &check {
        c.finish(total)?;
    }
    Ok((count, end))
}

/// The peer side's sender: `total` bytes of [`pattern`] in `write_all`s of
/// `chunk`, then `shutdown`, then wait for the receiver's close (as the
/// Strata sender does).
pub async fn send_then_wait<S>(s: &mut S, chunk: usize, total: u64) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = pattern(chunk);
    let mut remaining = total;
    while remaining > 0 {
        let n = (chunk as u64).min(remaining) as usize;
        s.write_all(&data[..n]).await?;
        remaining -= n as u64;
    }
    s.shutdown().await?;
    let mut rest = [0u8; 16];
    while s.read(&mut rest).await? > 0 {}
    Ok(())
}

/// Checks a stream made of repeated [`pattern`] chunks of one length, as
/// it arrives in arbitrary pieces.
#[derive(Clone, Debug)]
pub struct PatternCheck {
    chunk: usize,
    pos: usize,
    /// Bytes seen.
    pub seen: u64,
    /// The stream offset of the first wrong byte, if any.
    pub first_bad: Option<u64>,
}

impl PatternCheck {
    /// A checker for chunks of `chunk` bytes.
    pub fn new(chunk: usize) -> Self {
        PatternCheck {
            chunk,
            pos: 0,
            seen: 0,
            first_bad: None,
        }
    }

    /// Check the next piece of the stream.
    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            if self.first_bad.is_none() && b != (self.pos % 251) as u8 {
                self.first_bad = Some(self.seen);
            }
            self.seen += 1;
            self.pos += 1;
            if self.pos == self.chunk {
                self.pos = 0;
            }
        }
    }

    /// `Ok` if every byte so far was right and `expected` bytes arrived.
    pub fn finish(&self, expected: u64) -> io::Result<()> {
        if let Some(at) = self.first_bad {
            return Err(corrupt(format!("wrong byte at offset {at}")));
        }
        if self.seen != expected {
            return Err(corrupt(format!(
                "{} bytes arrived, {expected} were sent",
                self.seen
            )));
        }
        Ok(())
    }
}

/// An `InvalidData` error: the bytes that arrived are not the bytes sent.
pub fn corrupt(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }

    #[test]
    fn report_line() {
        let r = Report {
            case: "tcp/throughput/64KiB".into(),
            unit: Unit::MegabytesPerSec,
            strata: 2000.04,
            peer: 1000.0,
        };
        assert_eq!(
            r.to_string(),
            "case=tcp/throughput/64KiB strata=2000.0 peer=1000.0 ratio=2.000"
        );
        assert_eq!(size_name(64 * 1024), "64KiB");
        assert_eq!(size_name(1 << 20), "1MiB");
        assert_eq!(size_name(64), "64B");
    }

    #[test]
    fn pattern_check_across_pieces() {
        let chunk = pattern(300);
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(&chunk);
        }
        let mut c = PatternCheck::new(300);
        for piece in stream.chunks(7) {
            c.feed(piece);
        }
        c.finish(900).unwrap();
        stream[450] ^= 1;
        let mut c = PatternCheck::new(300);
        c.feed(&stream);
        assert!(c.finish(900).is_err());
    }
}
