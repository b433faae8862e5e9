//! Case `frames`: Strata's frame codec and command protocol against
//! tokio-util's `LengthDelimitedCodec`.
//!
//! * **codec** (64 B and 16 KiB payloads): frames per second, encoding
//!   4 MiB batches of frames into one reused buffer and decoding each batch
//!   back (one buffer touched again and again: the figure is the codec's
//!   work, not page faults). Strata encodes with `Frame::encode_into` and
//!   decodes with its streaming `Decoder`, given the batch as one piece
//!   (payloads are slices of it); the peer is
//!   `LengthDelimitedCodec::encode`/`decode`, set up for the same frames
//!   ([`peer_codec_for_frames`]), over the same kind of buffer, as
//!   `FramedRead`/`FramedWrite` use it. (Frames split across reads, and
//!   the one copy that gathers them, are part of the round trips below and
//!   of the robustness tests.)
//! * **roundtrip** (64 B): command round trips per second over TCP, one in
//!   flight. Strata: a client on the frame layer driving a `ClientReactor`
//!   sends an `echo` command with 64 bytes of data (a command-name frame and
//!   a command-data frame); the server is the frame layer under a
//!   `CommandServer` (the server reactor) whose handler answers the data
//!   back (one bytes-response frame). The peer is the same exchange written
//!   by hand on tokio with `LengthDelimitedCodec` set up for the same frame
//!   format ([`peer_codec_for_frames`]): the same two request frames and
//!   one answer frame, byte for byte, each checked for its type and flags;
//!   `read_buf` into a reused `BytesMut`, `encode` into a reused buffer,
//!   `write_all`, `TCP_NODELAY` on both ends.
//!
//! * **roundtrip-16conn** (64 B): the same calls on 16 connections at
//!   once, one call in flight on each: round trips per second over all of
//!   them. One connection measures the latency of a call, and with both
//!   ends mostly asleep between calls its figure follows the machine's
//!   wake-ups; sixteen keep both threads busy (several connections ready at
//!   each wake-up), so this line measures what a loaded server does per
//!   call. Both sides connect one after another, each client starting its
//!   calls as soon as it is connected; the peer runs one `peer_server` and
//!   one `peer_client` task per connection.
//!
//! Reading the figures: the codec figures compare the per-frame work
//! (header parsing and checks, slicing); the round trips are dominated by
//! system calls and wake-ups on both sides, so they show what the driver,
//! the layer and two reactors cost on top of a bare loop doing the same
//! protocol work.

use std::io;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use strata_core::TransportInfo;
use strata_frames::{
    ClientAction, ClientReactor, Command, CommandServer, Decoder, Duplex, Flags, Frame,
    FrameProtocol, FrameTransport, FrameType, Framed, Handler, Reply, DEFAULT_MAX_FRAME,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_util::codec::{Decoder as _, Encoder as _, LengthDelimitedCodec};

use crate::common::{
    corrupt, interleave, join, pattern, per_sec, size_name, Config, Report, Runtimes, Unit,
};
use crate::tcp::{limit, strata_err, tokio_accept, tokio_connect, tokio_listener};

/// Codec payload sizes, with the frames per run at full scale.
pub const CODEC: &[(usize, u64)] = &[(64, 2_000_000), (16 * 1024, 100_000)];
/// Round-trip payload size.
pub const PAYLOAD: usize = 64;
/// Round trips per run at full scale.
pub const ROUND_TRIPS: u64 = 20_000;
/// Connections of the loaded round-trip line, each with one call in flight.
pub const LOADED_CONNS: usize = 16;
/// Round trips per connection and run of the loaded line, at full scale.
pub const LOADED_TRIPS: u64 = 10_000;

/// Run every measurement of the case.
pub async fn run(cfg: &Config, out: &mut dyn FnMut(Report)) -> io::Result<()> {
    for &(size, frames) in CODEC {
        let n = cfg.scaled(frames, 10);
        let case = format!("frames/codec/{}", size_name(size));
        if !cfg.selects(&case) {
            continue;
        }
        let verify = cfg.verify;
        let report = interleave(
            cfg,
            &case,
            Unit::FramesPerSec,
            || async move { Ok(per_sec(n, strata_codec(size, n, verify)?)) },
            || async move { Ok(per_sec(n, peer_codec(size, n, verify)?)) },
        )
        .await?;
        out(report);
    }

    let rts = &Runtimes::new(cfg.pin)?;
    let trips = cfg.scaled(ROUND_TRIPS, 10);
    let case = format!("frames/roundtrip/{}", size_name(PAYLOAD));
    if cfg.selects(&case) {
        let verify = cfg.verify;
        let report = interleave(
            cfg,
            &case,
            Unit::RoundTripsPerSec,
            || async move { Ok(per_sec(trips, strata_roundtrips(rts, trips, verify).await?)) },
            || async move { Ok(per_sec(trips, peer_roundtrips(rts, trips, verify).await?)) },
        )
        .await?;
        out(report);
    }

    let (conns, each) = (LOADED_CONNS, cfg.scaled(LOADED_TRIPS, 10));
    let all = each * conns as u64;
    let case = format!("frames/roundtrip-{conns}conn/{}", size_name(PAYLOAD));
    if cfg.selects(&case) {
        let verify = cfg.verify;
        let report = interleave(
            cfg,
            &case,
            Unit::RoundTripsPerSec,
            || async move {
                let t = strata_loaded_roundtrips(rts, conns, each, verify).await?;
                Ok(per_sec(all, t))
            },
            || async move {
                let t = peer_loaded_roundtrips(rts, conns, each, verify).await?;
                Ok(per_sec(all, t))
            },
        )
        .await?;
        out(report);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------

/// Bytes of frames encoded before they are decoded back: a batch small
/// enough to stay in memory already touched, so the figure is the codec's
/// work and not the kernel's page faults (a single 1.6 GB buffer for the
/// 16 KiB case made both sides' figures jump by 2x from run to run).
const BATCH: usize = 4 << 20;

/// Frames of `size` bytes per batch.
fn batch_frames(size: usize) -> u64 {
    (BATCH / (size + 4)).max(1) as u64
}

/// Encode `n` frames of `size` bytes and decode them back with Strata's
/// codec, a batch at a time, reusing one buffer; returns the time taken.
pub fn strata_codec(size: usize, n: u64, verify: bool) -> io::Result<Duration> {
    let payload = pattern(size);
    let per_batch = batch_frames(size);
    let start = Instant::now();
    let mut buf = BytesMut::with_capacity(BATCH + size + 4);
    let mut dec = Decoder::new(DEFAULT_MAX_FRAME);
    let (mut sent, mut got) = (0u64, 0u64);
    while sent < n {
        let k = per_batch.min(n - sent);
        for _ in 0..k {
            Frame::new(FrameType::CommandData, Flags::CONTINUATION, payload.clone())
                .encode_into(&mut buf);
        }
        sent += k;
        // The whole batch in one piece, as the peer decodes its buffer.
        dec.push(buf.split().freeze());
        while let Some(f) = dec.next_frame().map_err(corrupt_frame)? {
            if verify && f.payload != payload {
                return Err(corrupt("a decoded payload differs"));
            }
            got += 1;
        }
        // Every frame of the batch is gone: take the buffer back.
        buf.reserve(BATCH);
    }
    let t = start.elapsed();
    if got != n {
        return Err(corrupt(format!("{got} frames decoded, {n} encoded")));
    }
    Ok(t)
}

/// The same with `LengthDelimitedCodec`, set up for the same frames
/// ([`peer_codec_for_frames`]): each `command-data` frame goes in as its
/// type byte and payload, and comes out the same.
pub fn peer_codec(size: usize, n: u64, verify: bool) -> io::Result<Duration> {
    let payload = pattern(size);
    let mut frame = BytesMut::with_capacity(1 + size);
    frame.extend_from_slice(&[type_flags(FrameType::CommandData, Flags::CONTINUATION)]);
    frame.extend_from_slice(&payload);
    let frame = frame.freeze();
    let per_batch = batch_frames(size);
    let start = Instant::now();
    let mut codec = peer_codec_for_frames();
    let mut buf = BytesMut::with_capacity(BATCH + size + 4);
    let (mut sent, mut got) = (0u64, 0u64);
    while sent < n {
        let k = per_batch.min(n - sent);
        for _ in 0..k {
            codec.encode(frame.clone(), &mut buf)?;
        }
        sent += k;
        while let Some(f) = codec.decode(&mut buf)? {
            if verify && f[..] != frame[..] {
                return Err(corrupt("a decoded payload differs"));
            }
            got += 1;
        }
        buf.reserve(BATCH);
    }
    let t = start.elapsed();
    if got != n {
        return Err(corrupt(format!("{got} frames decoded, {n} encoded")));
    }
    Ok(t)
}

fn corrupt_frame(e: strata_frames::FrameError) -> io::Error {
    corrupt(e.to_string())
}

// ---------------------------------------------------------------------------
// Strata: command round trips
// ---------------------------------------------------------------------------

/// Echoes each command's data back as its answer.
pub struct EchoData;

impl Handler for EchoData {
    fn command(&mut self, cmd: &Command, reply: &mut Reply<'_>) {
        if !cmd.has_data {
            reply.finish(Bytes::new());
        }
    }
    fn data(&mut self, data: Bytes, eos: bool, reply: &mut Reply<'_>) {
        if eos {
            reply.finish(data);
        } else {
            reply.send(data);
        }
    }
}

/// Calls `echo` with [`PAYLOAD`] bytes of data, waits for the answer,
/// calls again.
pub struct CommandPinger {
    reactor: ClientReactor,
    msg: Bytes,
    remaining: u64,
    got: usize,
    verify: bool,
    bad: bool,
    done: Option<oneshot::Sender<io::Result<Instant>>>,
}

impl CommandPinger {
    /// A pinger making `trips` calls, reporting the time of the last
    /// answer (or an error) on `done`.
    pub fn new(trips: u64, verify: bool, done: oneshot::Sender<io::Result<Instant>>) -> Self {
        CommandPinger {
            reactor: ClientReactor::default(),
            msg: pattern(PAYLOAD),
            remaining: trips,
            got: 0,
            verify,
            bad: false,
            done: Some(done),
        }
    }

    fn call(&mut self, t: &mut dyn FrameTransport) {
        // The request's frames go straight to the frame layer below.
        let data = Some(self.msg.clone());
        if let Err(e) = self.reactor.request(t, b"echo", &[], data) {
            self.finish(t, Err(strata_err(e.to_string())));
        }
    }

    fn finish(&mut self, t: &mut dyn FrameTransport, r: io::Result<Instant>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(r);
        }
        t.close();
    }
}

impl FrameProtocol for CommandPinger {
    fn connection_made(&mut self, t: &mut dyn FrameTransport) {
        self.call(t);
    }

    fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame) {
        match self.reactor.on_frame(frame) {
            ClientAction::Response { data, eos } => {
                if self.verify {
                    let want = self.msg.get(self.got..self.got + data.len());
                    self.bad |= want != Some(&data[..]);
                }
                self.got += data.len();
                if !eos {
                    return;
                }
                self.bad |= self.got != self.msg.len();
                self.got = 0;
                self.remaining -= 1;
                if self.bad {
                    self.finish(t, Err(corrupt("an answer differs from the data")));
                } else if self.remaining > 0 {
                    self.call(t);
                } else {
                    self.finish(t, Ok(Instant::now()));
                }
            }
            other => self.finish(t, Err(strata_err(format!("unexpected: {other:?}")))),
        }
    }

    fn connection_lost(&mut self, reason: strata_core::Reason) {
        if let Some(done) = self.done.take() {
            let _ = done.send(Err(strata_err(format!("ended early: {reason}"))));
        }
    }
}

/// A Strata command server answering `echo` ([`EchoData`] under
/// `CommandServer` under the frame layer) on the server runtime; returns
/// its listener (dropping it stops accepting) and the description
/// to connect to.
async fn strata_command_server(rts: &Runtimes) -> io::Result<(strata_tokio::Listener, String)> {
    let listener = join(rts.server().spawn(async {
        strata_tokio::listen("tcp:127.0.0.1:0", |_: &TransportInfo| {
            Framed::new(CommandServer::new(Duplex::Full, EchoData))
        })
        .await
        .map_err(strata_err)
    }))
    .await?;
    let desc = format!("tcp:127.0.0.1:{}", listener.port().expect("tcp has a port"));
    Ok((listener, desc))
}

/// `trips` command round trips through Strata (frame layer + reactors) on
/// one connection; returns the time from before `connect` to the last
/// answer. (The loaded line with one connection: the same tasks.)
pub async fn strata_roundtrips(rts: &Runtimes, trips: u64, verify: bool) -> io::Result<Duration> {
    strata_loaded_roundtrips(rts, 1, trips, verify).await
}

/// `conns` connections making `each` command round trips at once, one call
/// in flight on each ([`CommandPinger`]s against [`EchoData`] under
/// `CommandServer`); returns the time from before the first `connect`
/// to the last answer on any connection.
pub async fn strata_loaded_roundtrips(
    rts: &Runtimes,
    conns: usize,
    each: u64,
    verify: bool,
) -> io::Result<Duration> {
    limit("strata command round trips", async {
        let (_listener, desc) = strata_command_server(rts).await?;
        let (pingers, finished): (Vec<_>, Vec<_>) = (0..conns)
            .map(|_| {
                let (done, finished) = oneshot::channel();
                (
                    Framed::new(CommandPinger::new(each, verify, done)),
                    finished,
                )
            })
            .unzip();
        let (start, clients) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let mut clients = Vec::with_capacity(pingers.len());
            for pinger in pingers {
                // Each pinger makes its first call as soon as it is
                // connected, while the next one connects.
                let client = strata_tokio::connect(&desc, pinger)
                    .await
                    .map_err(strata_err)?;
                clients.push(client);
            }
            Ok((start, clients))
        }))
        .await?;
        let mut end = start;
        for f in finished {
            end = end.max(f.await.map_err(|_| strata_err("pinger gone"))??);
        }
        for client in clients {
            client.closed().await;
        }
        Ok(end - start)
    })
    .await
}

// ---------------------------------------------------------------------------
// tokio + LengthDelimitedCodec: the same exchange by hand
// ---------------------------------------------------------------------------

/// tokio-util's codec set up for the frame format Strata speaks: a 24-bit
/// little-endian payload length, one byte of type and flags (which the
/// length does not count: `length_adjustment(1)`), then the payload. It
/// decodes a frame as `<type|flags><payload>` (the length is skipped) and
/// encodes `<type|flags><payload>` into a whole frame, so the peer's bytes
/// on the wire are Strata's, byte for byte.
pub fn peer_codec_for_frames() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_offset(0)
        .length_field_length(3)
        .little_endian()
        .length_adjustment(1)
        .num_skip(3)
        .max_frame_length(DEFAULT_MAX_FRAME + 1)
        .new_codec()
}

/// The first byte of a frame: its type in the high nibble, flags low.
const fn type_flags(kind: FrameType, flags: Flags) -> u8 {
    (kind.code() << 4) | flags.bits()
}
/// `command-name`, flag `have-data`.
const NAME_HAVE_DATA: u8 = type_flags(FrameType::CommandName, Flags::HAVE_DATA);
/// `command-data`, flag `eos`.
const DATA_EOS: u8 = type_flags(FrameType::CommandData, Flags::EOS);
/// `bytes-response`, flag `eos`.
const RESPONSE_EOS: u8 = type_flags(FrameType::BytesResponse, Flags::EOS);

/// The peer's server, written by hand: reads frames with
/// [`peer_codec_for_frames`], accepts `echo` (a `command-name` frame with
/// `have-data`, then one `command-data` frame with `eos`) and answers the
/// data in one `bytes-response` frame with `eos` (the data frame itself,
/// its first byte rewritten: no copy). Anything else is an error. Returns
/// when the client ends its side.
pub async fn peer_server(mut s: TcpStream) -> io::Result<()> {
    let mut codec = peer_codec_for_frames();
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut named = false;
    loop {
        while let Some(mut f) = codec.decode(&mut rbuf)? {
            match f[0] {
                NAME_HAVE_DATA if !named && &f[1..] == b"echo" => named = true,
                DATA_EOS if named => {
                    named = false;
                    f[0] = RESPONSE_EOS;
                    codec.encode(f.freeze(), &mut wbuf)?;
                }
                other => return Err(corrupt(format!("unexpected frame {other:#04x}"))),
            }
        }
        if !wbuf.is_empty() {
            s.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if s.read_buf(&mut rbuf).await? == 0 {
            break;
        }
    }
    if named || !rbuf.is_empty() {
        return Err(corrupt("the client ended inside a request"));
    }
    s.shutdown().await
}

/// The peer's client, written by hand: `trips` calls of `echo` with
/// [`PAYLOAD`] bytes of data (the same two frames as Strata's pinger, each
/// encoded with [`peer_codec_for_frames`] into one reused buffer and
/// written at once), each answer read and checked to be one
/// `bytes-response` frame with `eos`. Returns the time of the last answer;
/// then ends its side and waits for the server's end.
pub async fn peer_client(mut s: TcpStream, trips: u64, verify: bool) -> io::Result<Instant> {
    let mut codec = peer_codec_for_frames();
    let msg = pattern(PAYLOAD);
    let name = Bytes::from_static(&[NAME_HAVE_DATA, b'e', b'c', b'h', b'o']);
    let mut data = BytesMut::with_capacity(1 + PAYLOAD);
    data.extend_from_slice(&[DATA_EOS]);
    data.extend_from_slice(&msg);
    let data = data.freeze();
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    for _ in 0..trips {
        codec.encode(name.clone(), &mut wbuf)?;
        codec.encode(data.clone(), &mut wbuf)?;
        s.write_all(&wbuf).await?;
        wbuf.clear();
        let answer = loop {
            if let Some(a) = codec.decode(&mut rbuf)? {
                break a;
            }
            if s.read_buf(&mut rbuf).await? == 0 {
                return Err(corrupt("the server closed early"));
            }
        };
        if answer[0] != RESPONSE_EOS {
            return Err(corrupt(format!("unexpected answer {:#04x}", answer[0])));
        }
        if verify && answer[1..] != msg[..] {
            return Err(corrupt("an answer differs from the data"));
        }
    }
    let end = Instant::now();
    s.shutdown().await?;
    if s.read_buf(&mut rbuf).await? != 0 {
        return Err(corrupt("bytes after the last answer"));
    }
    Ok(end)
}

/// `trips` round trips of the same exchange over plain tokio with
/// `LengthDelimitedCodec` ([`peer_server`], [`peer_client`]); returns the
/// time from before `connect` to the last answer.
pub async fn peer_roundtrips(rts: &Runtimes, trips: u64, verify: bool) -> io::Result<Duration> {
    limit("tokio-util command round trips", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            peer_server(tokio_accept(&listener).await?).await
        });
        let addr = addr_rx.await.map_err(|_| strata_err("listener gone"))?;
        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let s = tokio_connect(addr).await?;
            Ok(peer_client(s, trips, verify).await? - start)
        });
        let elapsed = join(client).await?;
        join(server).await?;
        Ok(elapsed)
    })
    .await
}

/// The loaded line by hand: `conns` connections, each a [`peer_client`]
/// task making `each` calls against its own [`peer_server`] task; returns
/// the time from before the first `connect` to the last answer on any
/// connection.
pub async fn peer_loaded_roundtrips(
    rts: &Runtimes,
    conns: usize,
    each: u64,
    verify: bool,
) -> io::Result<Duration> {
    limit("tokio-util loaded command round trips", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let mut servers = Vec::with_capacity(conns);
            for _ in 0..conns {
                let s = tokio_accept(&listener).await?;
                servers.push(tokio::spawn(peer_server(s)));
            }
            for s in servers {
                join(s).await?;
            }
            Ok(())
        });
        let addr = addr_rx.await.map_err(|_| strata_err("listener gone"))?;
        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let mut clients = Vec::with_capacity(conns);
            for _ in 0..conns {
                let s = tokio_connect(addr).await?;
                clients.push(tokio::spawn(peer_client(s, each, verify)));
            }
            let mut end = start;
            for c in clients {
                end = end.max(join(c).await?);
            }
            Ok(end - start)
        });
        let elapsed = join(client).await?;
        join(server).await?;
        Ok(elapsed)
    })
    .await
}
