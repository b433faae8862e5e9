//! Case `tcp`: Strata's TCP driver against plain tokio `TcpStream`s, over
//! loopback, in the same process and runtime.
//!
//! * **throughput** with 1 KiB, 64 KiB and 1 MiB writes: a sender streams a
//!   fixed number of bytes and half-closes; the receiver counts them and
//!   reports at end-of-stream. The time runs from before `connect` to the
//!   receiver's end-of-stream.
//! * **ping-pong** with 64-byte messages: the client sends one, waits for the
//!   echo, sends the next; round trips per second.
//!
//! The Strata side is written as an application would write it: a sender
//! protocol that writes pre-built chunks (`Bytes`, shared, not copied) while
//! the transport has not paused it, a receiver protocol that counts, an echo
//! protocol. The tokio side is the plain idiom with the same sizes:
//! `write_all` of the same chunk in a loop, `read` into a 64 KiB buffer,
//! `TCP_NODELAY` on both ends (as Strata's endpoints set it).
//!
//! Servers run on the server runtime and clients on the client runtime of
//! [`Runtimes`]: one thread each, the same for both sides.
//!
//! Reading the figures: with 1 KiB writes Strata is far ahead, because its
//! write queue hands everything written between two flushes to one
//! vectored write (up to `strata_tokio::MAX_IOV` buffers), where a
//! `write_all` loop makes one system call per KiB. A tokio program would
//! wrap the stream in a `BufWriter` to get the same effect; the peer here is
//! deliberately the plain idiom. With 64 KiB and 1 MiB writes both make
//! large system calls and the figures are within noise of each other;
//! ping-pong measures the per-message cost of the driver against a bare
//! `read`/`write_all` loop.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_core::{Protocol, Reason, Transport, TransportInfo, DEFAULT_HIGH_WATER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::common::{
    corrupt, count_to_eof, interleave, join, mb_per_sec, pattern, per_sec, send_then_wait,
    size_name, Config, PatternCheck, Report, Runtimes, Unit,
};

/// Write sizes measured, with the bytes streamed per run at full scale.
pub const THROUGHPUT: &[(usize, u64)] = &[
    (64 * 1024, 512 << 20),
    (1024, 256 << 20),
    (1 << 20, 512 << 20),
];
/// Ping-pong message size.
pub const PING: usize = 64;
/// Round trips per ping-pong run at full scale.
pub const ROUND_TRIPS: u64 = 20_000;
/// Read buffer of the tokio receivers (Strata's driver reads up to
/// `strata_tokio::READ_BUF` at a time).
const READ_BUF: usize = 64 * 1024;
/// No single run may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Run every measurement of the case, handing each report to `out` as it
/// is made.
pub async fn run(cfg: &Config, out: &mut dyn FnMut(Report)) -> io::Result<()> {
    let rts = &Runtimes::new(cfg.pin)?;
    for &(chunk, total) in THROUGHPUT {
        let total = cfg.scaled(total, 4 * chunk as u64);
        let case = format!("tcp/throughput/{}", size_name(chunk));
        if !cfg.selects(&case) {
            continue;
        }
        let verify = cfg.verify;
        let report = interleave(
            cfg,
            &case,
            Unit::MegabytesPerSec,
            || async move {
                let t = strata_throughput(rts, chunk, total, verify).await?;
                Ok(mb_per_sec(total, t))
            },
            || async move {
                let t = tokio_throughput(rts, chunk, total, verify).await?;
                Ok(mb_per_sec(total, t))
            },
        )
        .await?;
        out(report);
    }

    let trips = cfg.scaled(ROUND_TRIPS, 10);
    let case = format!("tcp/pingpong/{}", size_name(PING));
    if !cfg.selects(&case) {
        return Ok(());
    }
    let verify = cfg.verify;
    let report = interleave(
        cfg,
        &case,
        Unit::RoundTripsPerSec,
        || async move { Ok(per_sec(trips, strata_pingpong(rts, trips, verify).await?)) },
        || async move { Ok(per_sec(trips, tokio_pingpong(rts, trips, verify).await?)) },
    )
    .await?;
    out(report);
    Ok(())
}

/// Run `f`, failing with `TimedOut` if it takes longer than a run may.
pub async fn limit<T>(
    what: &str,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    limit_within(what, RUN_LIMIT, f).await
}

/// Run `f`, failing with `TimedOut` if it takes longer than `within`.
pub async fn limit_within<T>(
    what: &str,
    within: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(within, f).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} took more than {within:?}"),
        )
    })?
}

/// An `io::Error` carrying `e`'s message.
pub fn strata_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

// ---------------------------------------------------------------------------
// Strata: throughput
// ---------------------------------------------------------------------------

/// Streams `total` bytes in writes of one chunk, obeying flow control, then
/// half-closes.
pub struct Sender {
    chunk: Bytes,
    remaining: u64,
    paused: bool,
}

impl Sender {
    /// A sender of `total` bytes in `chunk`-sized writes.
    pub fn new(chunk: usize, total: u64) -> Self {
        Sender {
            chunk: pattern(chunk),
            remaining: total,
            paused: false,
        }
    }

    /// Write until the buffer is past the high-water mark (the transport
    /// then calls `pause_writing`, after this callback) or all is written.
    fn produce(&mut self, t: &mut dyn Transport) {
        while !self.paused && self.remaining > 0 && t.write_buffer_len() <= DEFAULT_HIGH_WATER {
            let n = (self.chunk.len() as u64).min(self.remaining) as usize;
            t.write(self.chunk.slice(..n));
            self.remaining -= n as u64;
        }
        if self.remaining == 0 && t.can_write() {
            t.close_write();
        }
    }
}

impl Protocol for Sender {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.produce(t);
    }

    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {}

    fn pause_writing(&mut self, _t: &mut dyn Transport) {
        self.paused = true;
    }

    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.paused = false;
        self.produce(t);
    }

    /// The receiver closed after counting: both directions are done.
    fn read_closed(&mut self, _t: &mut dyn Transport) {}
}

/// Counts what arrives; reports the count at the peer's end-of-stream.
pub struct Receiver {
    count: u64,
    check: Option<PatternCheck>,
    expected: u64,
    report: mpsc::UnboundedSender<io::Result<(u64, Instant)>>,
}

impl Receiver {
    /// A receiver expecting `expected` bytes (checked against the pattern
    /// of `chunk`-sized writes when `verify`), reporting to `report`.
    pub fn new(
        chunk: usize,
        expected: u64,
        verify: bool,
        report: mpsc::UnboundedSender<io::Result<(u64, Instant)>>,
    ) -> Self {
        Receiver {
            count: 0,
            check: verify.then(|| PatternCheck::new(chunk)),
            expected,
            report,
        }
    }
}

impl Protocol for Receiver {
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.count += data.len() as u64;
        if let Some(c) = &mut self.check {
            c.feed(&data);
        }
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        let end = Instant::now();
        let res = match &self.check {
            Some(c) => c.finish(self.expected).map(|()| (self.count, end)),
            None => Ok((self.count, end)),
        };
        let _ = self.report.send(res);
        t.close();
    }

    fn connection_lost(&mut self, reason: Reason) {
        if !reason.is_done() {
            let _ = self.report.send(Err(strata_err(reason)));
        }
    }
}

/// Stream `total` bytes in `chunk`-sized writes through Strata; returns
/// the time from before `connect` to the receiver's end-of-stream.
pub async fn strata_throughput(
    rts: &Runtimes,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<Duration> {
    limit("strata throughput", async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let listener = join(rts.server().spawn(async move {
            strata_tokio::listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
                Receiver::new(chunk, total, verify, tx.clone())
            })
            .await
            .map_err(strata_err)
        }))
        .await?;
        let desc = format!("tcp:127.0.0.1:{}", listener.port().expect("tcp has a port"));

        let (start, client) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let client = strata_tokio::connect(&desc, Sender::new(chunk, total))
                .await
                .map_err(strata_err)?;
            Ok((start, client))
        }))
        .await?;
        let (count, end) = rx
            .recv()
            .await
            .ok_or_else(|| strata_err("receiver gone"))??;

        if count != total {
            return Err(corrupt(format!("{count} bytes arrived, {total} were sent")));
        }
        let reason = client.closed().await;
        if !reason.is_done() {
            return Err(strata_err(format!("sender: {reason}")));
        }
        Ok(end - start)
    })
    .await
}

// ---------------------------------------------------------------------------
// Strata: ping-pong
// ---------------------------------------------------------------------------

/// Echoes everything; closes when the peer does (the default `read_closed`).
pub struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        t.write(data);
    }
}

/// Sends a message, waits for all of its echo, sends the next.
pub struct Pinger {
    msg: Bytes,
    remaining: u64,
    got: usize,
    verify: bool,
    bad: bool,
    done: Option<oneshot::Sender<io::Result<Instant>>>,
}

impl Pinger {
    /// A pinger of `trips` [`PING`]-byte round trips, reporting the time of
    /// the last echo (or an error) on `done`.
    pub fn new(trips: u64, verify: bool, done: oneshot::Sender<io::Result<Instant>>) -> Self {
        Pinger {
            msg: pattern(PING),
            remaining: trips,
            got: 0,
            verify,
            bad: false,
            done: Some(done),
        }
    }
}

impl Protocol for Pinger {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(self.msg.clone());
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
        self.got = 0;
        self.remaining -= 1;
        if self.remaining > 0 && !self.bad {
            t.write(self.msg.clone());
        } else {
            if let Some(done) = self.done.take() {
                let res = if self.bad {
                    Err(corrupt("an echo differs from the message"))
                } else {
                    Ok(Instant::now())
                };
                let _ = done.send(res);
            }
            t.close();
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        if let Some(done) = self.done.take() {
            let _ = done.send(Err(strata_err(format!("ended early: {reason}"))));
        }
    }
}

/// `trips` round trips of [`PING`] bytes through Strata; returns the time
/// from before `connect` to the last echo.
pub async fn strata_pingpong(rts: &Runtimes, trips: u64, verify: bool) -> io::Result<Duration> {
    limit("strata ping-pong", async {
        let listener = join(rts.server().spawn(async {
            strata_tokio::listen("tcp:127.0.0.1:0", |_: &TransportInfo| Echo)
                .await
                .map_err(strata_err)
        }))
        .await?;
        let desc = format!("tcp:127.0.0.1:{}", listener.port().expect("tcp has a port"));
        let (done, finished) = oneshot::channel();
        let pinger = Pinger::new(trips, verify, done);

        let (start, client) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let client = strata_tokio::connect(&desc, pinger)
                .await
                .map_err(strata_err)?;
            Ok((start, client))
        }))
        .await?;
        let end = finished.await.map_err(|_| strata_err("pinger gone"))??;

        client.closed().await;
        Ok(end - start)
    })
    .await
}

// ---------------------------------------------------------------------------
// Plain tokio
// ---------------------------------------------------------------------------

/// Bind a listener on the current runtime and report its address.
pub async fn tokio_listener(addr: oneshot::Sender<SocketAddr>) -> io::Result<TcpListener> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let _ = addr.send(l.local_addr()?);
    Ok(l)
}

/// Accept one connection, `TCP_NODELAY` on.
pub async fn tokio_accept(l: &TcpListener) -> io::Result<TcpStream> {
    let (s, _) = l.accept().await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Connect, `TCP_NODELAY` on.
pub async fn tokio_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Stream `total` bytes in `chunk`-sized `write_all`s over plain tokio;
/// returns the time from before `connect` to the receiver's end-of-stream.
pub async fn tokio_throughput(
    rts: &Runtimes,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<Duration> {
    limit("tokio throughput", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let receiver = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let mut s = tokio_accept(&listener).await?;
            let (count, end) = count_to_eof(&mut s, READ_BUF, chunk, total, verify).await?;
            s.shutdown().await?;
            Ok((count, end))
        });
        let addr = addr_rx.await.map_err(|_| strata_err("listener gone"))?;

        let sender = rts.client().spawn(async move {
            let start = Instant::now();
            let mut s = tokio_connect(addr).await?;
            send_then_wait(&mut s, chunk, total).await?;
            Ok(start)
        });

        let (count, end) = join(receiver).await?;
        let start = join(sender).await?;
        if count != total {
            return Err(corrupt(format!("{count} bytes arrived, {total} were sent")));
        }
        Ok(end - start)
    })
    .await
}

/// `trips` round trips of [`PING`] bytes over plain tokio; returns the time
/// from before `connect` to the last echo.
pub async fn tokio_pingpong(rts: &Runtimes, trips: u64, verify: bool) -> io::Result<Duration> {
    limit("tokio ping-pong", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let mut s = tokio_accept(&listener).await?;
            let mut buf = vec![0u8; READ_BUF];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await?;
            }
            s.shutdown().await?;
            Ok(())
        });
        let addr = addr_rx.await.map_err(|_| strata_err("listener gone"))?;

        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let mut s = tokio_connect(addr).await?;
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
            s.shutdown().await?;
            Ok(elapsed)
        });

        let elapsed = join(client).await?;
        join(server).await?;
        Ok(elapsed)
    })
    .await
}
