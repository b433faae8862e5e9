//! Interop with the `yamux` crate (0.13) as an independent peer, over real
//! TCP on 127.0.0.1, in both roles: Strata client ↔ yamux server and yamux
//! client ↔ Strata server. Data both ways on several streams opened by
//! either side, FIN (half-close), RST both ways, window updates (transfers
//! far beyond the 256 KiB initial window), ping, GoAway both ways.
//!
//! Window settings match: both sides start every stream at the spec's
//! 256 KiB and grow it by auto-tuning (Strata's `Config::default()`:
//! `max_window` 1 MiB within a 1 MiB budget that busy streams share;
//! yamux's default: a 1 GiB
//! connection-wide cap), and both split data into frames of their own
//! choosing (yamux 16 KiB, Strata up to 256 KiB) that the other accepts.
//!
//! Strata's subchannels are used as tokio streams (strata-tokio's bridge,
//! tapped to record each subchannel's callbacks in order); yamux streams
//! through `tokio_util::compat`. Every step is bounded in time.

mod support;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::future::poll_fn;
use strata_core::{Bytes, Protocol, Reason, TimerId, Transport};
use strata_mux::{Config, Mux, Role};
use strata_tokio::testing::tcp_pair;
use strata_tokio::{Io, StrataStream};
use support::{kind, pattern, spawn_mux_with, within, Events, StrataOpener, StrataSide};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

type YStream = Compat<yamux::Stream>;

// ---------------------------------------------------------------------------
// The yamux side: a task driving a `yamux::Connection`
// ---------------------------------------------------------------------------

enum Cmd {
    Open(oneshot::Sender<Result<yamux::Stream, yamux::ConnectionError>>),
    Close,
}

/// A yamux connection driven by a task of its own (yamux makes progress
/// only while `poll_next_inbound` is polled); opens and closes are asked
/// of it through a channel.
struct YamuxSide {
    cmds: mpsc::UnboundedSender<Cmd>,
    inbound: mpsc::UnboundedReceiver<yamux::Stream>,
    /// How the connection ended: `Ok` when `poll_next_inbound` returned
    /// `None` (closed gracefully), or the error.
    task: JoinHandle<Result<(), yamux::ConnectionError>>,
}

fn yamux_config() -> yamux::Config {
    // The defaults: 256 KiB initial windows (the spec's), auto-tuned.
    yamux::Config::default()
}

/// Opens yamux streams from any task.
#[derive(Clone)]
struct YamuxOpener {
    cmds: mpsc::UnboundedSender<Cmd>,
}

impl YamuxOpener {
    async fn open(&self) -> YStream {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Open(tx)).expect("yamux task alive");
        within("yamux open", rx)
            .await
            .expect("yamux task alive")
            .expect("yamux opens")
            .compat()
    }
}

impl YamuxSide {
    fn opener(&self) -> YamuxOpener {
        YamuxOpener {
            cmds: self.cmds.clone(),
        }
    }

    fn spawn<T>(io: T, mode: yamux::Mode) -> YamuxSide
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut conn = yamux::Connection::new(io.compat(), yamux_config(), mode);
        let (cmds, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let (in_tx, inbound) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut opens: Vec<oneshot::Sender<_>> = Vec::new();
            let mut closing = false;
            poll_fn(|cx| {
                while let Poll::Ready(Some(cmd)) = rx.poll_recv(cx) {
                    match cmd {
                        Cmd::Open(tx) => opens.push(tx),
                        Cmd::Close => closing = true,
                    }
                }
                if closing {
                    return conn.poll_close(cx);
                }
                while !opens.is_empty() {
                    match conn.poll_new_outbound(cx) {
                        Poll::Ready(r) => {
                            let _ = opens.remove(0).send(r);
                        }
                        Poll::Pending => break,
                    }
                }
                loop {
                    match conn.poll_next_inbound(cx) {
                        Poll::Ready(Some(Ok(s))) => {
                            let _ = in_tx.send(s);
                        }
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                        Poll::Ready(None) => return Poll::Ready(Ok(())),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            })
            .await
        });
        YamuxSide {
            cmds,
            inbound,
            task,
        }
    }

    async fn open(&self) -> YStream {
        self.opener().open().await
    }

    async fn accept(&mut self) -> YStream {
        within("yamux accept", self.inbound.recv())
            .await
            .expect("yamux connection alive")
            .compat()
    }

    fn close(&self) {
        let _ = self.cmds.send(Cmd::Close);
    }

    async fn ended(self) -> Result<(), yamux::ConnectionError> {
        within("yamux connection end", self.task)
            .await
            .expect("yamux task did not panic")
    }
}

// ---------------------------------------------------------------------------
// Setting up a pair
// ---------------------------------------------------------------------------

/// Which side is the client (opens odd ids) and which the server.
#[derive(Clone, Copy, Debug)]
enum Roles {
    StrataClient,
    YamuxClient,
}

const BOTH: [Roles; 2] = [Roles::StrataClient, Roles::YamuxClient];

/// Records whether the mux has seen the peer's GoAway.
struct Watch {
    mux: Mux,
    going_away: Arc<AtomicBool>,
}

impl Watch {
    fn note(&self) {
        if self.mux.is_going_away() {
            self.going_away.store(true, Ordering::SeqCst);
        }
    }
}

impl Protocol for Watch {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.mux.connection_made(t)
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.mux.data_received(t, data);
        self.note();
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.note();
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

struct Peers {
    strata: StrataSide<Watch>,
    yamux: YamuxSide,
    going_away: Arc<AtomicBool>,
}

async fn pair_with(roles: Roles, cfg: Config) -> Peers {
    let (c, s) = tcp_pair().await;
    let (strata_end, yamux_end, role, mode) = match roles {
        Roles::StrataClient => (c, s, Role::Client, yamux::Mode::Server),
        Roles::YamuxClient => (s, c, Role::Server, yamux::Mode::Client),
    };
    let going_away = Arc::new(AtomicBool::new(false));
    let g = going_away.clone();
    let strata = spawn_mux_with(strata_end.io, strata_end.info, role, cfg, move |mux| {
        Watch { mux, going_away: g }
    });
    let yamux = YamuxSide::spawn(yamux_end.io, mode);
    Peers {
        strata,
        yamux,
        going_away,
    }
}

async fn pair(roles: Roles) -> Peers {
    pair_with(roles, Config::default()).await
}

/// Run `body` once per role arrangement, each on a fresh connection.
macro_rules! both_roles {
    ($name:ident, |$p:ident, $roles:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for $roles in BOTH {
                #[allow(unused_mut)]
                let mut $p = pair($roles).await;
                within(&format!("{} ({:?})", stringify!($name), $roles), async {
                    $body
                })
                .await;
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Exchanges
// ---------------------------------------------------------------------------

/// Opener: write `ask`, half-close, then read the whole answer.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, ask: &[u8]) -> Vec<u8> {
    s.write_all(ask).await.expect("opener writes");
    s.shutdown().await.expect("opener half-closes");
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .await
        .expect("opener reads the answer");
    got
}

/// Acceptor: read everything up to the peer's half-close, then answer
/// with it reversed and half-close too.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> usize {
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.expect("acceptor reads");
    got.reverse();
    s.write_all(&got).await.expect("acceptor answers");
    s.shutdown().await.expect("acceptor half-closes");
    got.len()
}

fn reversed(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

/// Strata opens `n` subchannels, each asking; yamux answers each.
async fn strata_asks(
    strata: &StrataOpener<Watch>,
    yamux_inbound: &mut mpsc::UnboundedReceiver<yamux::Stream>,
    n: usize,
    len: usize,
) {
    let mut askers = Vec::new();
    for i in 0..n {
        let (mut s, mut ev) = strata.open();
        let data = pattern(i as u8, len + i);
        askers.push(tokio::spawn(async move {
            let got = ask(&mut s, &data).await;
            assert!(got == reversed(data), "answer {i} differs");
            drop(s);
            ev.until_lost().await
        }));
    }
    let mut answerers = Vec::new();
    for _ in 0..n {
        let y = within("yamux accept", yamux_inbound.recv())
            .await
            .expect("yamux connection alive");
        answerers.push(tokio::spawn(async move { answer(&mut y.compat()).await }));
    }
    for a in answerers {
        within("yamux answers", a).await.unwrap();
    }
    for a in askers {
        let (names, bytes, reason) = within("strata asks", a).await.unwrap();
        // Our half-close completes before the answer ends; the answer's
        // end (yamux FIN) then ends the subchannel cleanly.
        assert_eq!(
            names,
            ["made", "write_closed", "data", "read_closed", "lost"],
            "strata opener's callbacks"
        );
        assert!(bytes >= len, "the whole answer arrived ({bytes})");
        assert!(reason.is_done(), "{reason}");
    }
}

/// yamux opens `n` streams, each asking; Strata answers each.
async fn yamux_asks(
    yamux: &YamuxOpener,
    strata_inbound: &mut mpsc::UnboundedReceiver<(StrataStream, Events)>,
    n: usize,
    len: usize,
) {
    let mut askers = Vec::new();
    for i in 0..n {
        let mut y = yamux.open().await;
        let data = pattern(100 + i as u8, len + i);
        askers.push(tokio::spawn(async move {
            let got = ask(&mut y, &data).await;
            assert!(got == reversed(data), "answer {i} differs");
        }));
    }
    let mut answerers = Vec::new();
    for _ in 0..n {
        let (mut s, mut ev) = within("strata accept", strata_inbound.recv())
            .await
            .expect("mux alive");
        answerers.push(tokio::spawn(async move {
            answer(&mut s).await;
            drop(s);
            ev.until_lost().await
        }));
    }
    for a in askers {
        within("yamux asks", a).await.unwrap();
    }
    for a in answerers {
        let (names, _, reason) = within("strata answers", a).await.unwrap();
        assert_eq!(
            names,
            ["made", "data", "read_closed", "write_closed", "lost"],
            "strata acceptor's callbacks"
        );
        assert!(reason.is_done(), "{reason}");
    }
}

impl Peers {
    async fn strata_asks(&mut self, n: usize, len: usize) {
        strata_asks(&self.strata.opener(), &mut self.yamux.inbound, n, len).await
    }
    async fn yamux_asks(&mut self, n: usize, len: usize) {
        yamux_asks(&self.yamux.opener(), &mut self.strata.inbound, n, len).await
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

both_roles!(
    data_both_ways_on_several_streams_with_half_close,
    |p, _r| {
        // Streams opened by each side at once, data both ways on each, each
        // opener half-closing and then reading the answer.
        let (so, yo) = (p.strata.opener(), p.yamux.opener());
        tokio::join!(
            strata_asks(&so, &mut p.yamux.inbound, 4, 50_000),
            yamux_asks(&yo, &mut p.strata.inbound, 4, 50_000),
        );
        // Both ends still serve new streams afterwards.
        p.strata_asks(1, 10).await;
        p.yamux_asks(1, 10).await;
    }
);

both_roles!(
    window_updates_carry_transfers_far_beyond_the_initial_window,
    |p, _r| {
        // 8 MiB each way on one stream opened by each side, written and read
        // at once: 32 windows' worth, so both sides must send and honour
        // window updates (and yamux's auto-tuning grows its windows).
        const LEN: usize = 8 << 20;
        let (mut s, mut ev) = p.strata.open();
        let mut y = p.yamux.accept().await;
        // (yamux sends a stream's SYN with its first frame: one byte first.)
        let mut y2 = p.yamux.open().await;
        y2.write_all(b"!").await.unwrap();
        let (mut s2, mut ev2) = p.strata.accept().await;
        s2.read_exact(&mut [0u8; 1]).await.unwrap();

        async fn both_ways<A, B>(a: &mut A, b: &mut B, seed: u8)
        where
            A: AsyncRead + AsyncWrite + Unpin,
            B: AsyncRead + AsyncWrite + Unpin,
        {
            let (ar, aw) = &mut tokio::io::split(a);
            let (br, bw) = &mut tokio::io::split(b);
            let da = pattern(seed, LEN);
            let db = pattern(seed + 1, LEN);
            let (ga, gb, (), ()) = tokio::join!(
                async {
                    let mut v = Vec::new();
                    ar.read_to_end(&mut v).await.unwrap();
                    v
                },
                async {
                    let mut v = Vec::new();
                    br.read_to_end(&mut v).await.unwrap();
                    v
                },
                async {
                    aw.write_all(&da).await.unwrap();
                    aw.shutdown().await.unwrap();
                },
                async {
                    bw.write_all(&db).await.unwrap();
                    bw.shutdown().await.unwrap();
                }
            );
            assert!(gb == da, "a→b differs ({} bytes)", gb.len());
            assert!(ga == db, "b→a differs ({} bytes)", ga.len());
        }

        tokio::join!(both_ways(&mut s, &mut y, 1), both_ways(&mut y2, &mut s2, 3));
        drop((s, s2, y, y2));
        for (ev, extra) in [(&mut ev, 0), (&mut ev2, 1)] {
            let (_, bytes, reason) = ev.until_lost().await;
            assert_eq!(bytes, LEN + extra);
            assert!(reason.is_done(), "{reason}");
        }
    }
);

both_roles!(strata_abort_is_a_reset_for_yamux, |p, _r| {
    // On a stream Strata opened and on one yamux opened.
    // (yamux sends a stream's SYN with its first frame: it writes first.)
    let (s, ev) = p.strata.open();
    let mut y = p.yamux.accept().await;
    y.write_all(b"x").await.unwrap();
    let mut y2 = p.yamux.open().await;
    y2.write_all(b"x").await.unwrap();
    let (s2, ev2) = p.strata.accept().await;
    for (mut s, mut ev, mut y) in [(s, ev, y), (s2, ev2, y2)] {
        let mut one = [0u8; 1];
        s.read_exact(&mut one).await.unwrap();
        // Abort: what a driver on top of the stream does (Io::abort).
        Io::abort(&mut s);
        drop(s);
        let reason = ev.lost().await;
        assert_eq!(kind(&reason), "aborted", "{reason}");
        // yamux: the stream is reset: reads end, and writes fail.
        let mut rest = Vec::new();
        let _ = y.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "nothing was sent before the reset");
        expect_write_fails(&mut y).await;
    }
    // The connection goes on.
    p.strata_asks(1, 1000).await;
    p.yamux_asks(1, 1000).await;
});

/// Write to a reset yamux stream until it fails (it does once the RST has
/// been processed), within the step's time.
async fn expect_write_fails(y: &mut YStream) {
    loop {
        match y.write_all(b"more").await {
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::WriteZero | ErrorKind::BrokenPipe),
                    "{e}"
                );
                return;
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

both_roles!(yamux_reset_is_connection_lost_reset_for_strata, |p, _r| {
    // yamux has no reset call: dropping a stream that is open both ways
    // sends RST.
    let (mut s, mut ev) = p.strata.open();
    s.write_all(b"hi").await.unwrap();
    let mut y = p.yamux.accept().await;
    let mut two = [0u8; 2];
    y.read_exact(&mut two).await.unwrap();
    drop(y);
    let (names, _, reason) = ev.until_lost().await;
    assert_eq!(names, ["made", "lost"]);
    assert_eq!(kind(&reason), "reset", "{reason}");
    let mut buf = [0u8; 8];
    let e = s.read(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);

    let mut y = p.yamux.open().await;
    y.write_all(b"yo").await.unwrap();
    y.flush().await.unwrap();
    let (mut s, mut ev) = p.strata.accept().await;
    s.read_exact(&mut two).await.unwrap();
    drop(y);
    let (names, bytes, reason) = ev.until_lost().await;
    assert_eq!((names, bytes), (vec!["made", "data", "lost"], 2));
    assert_eq!(kind(&reason), "reset", "{reason}");

    // The connection goes on.
    p.strata_asks(1, 1000).await;
    p.yamux_asks(1, 1000).await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_measures_the_round_trip_to_yamux() {
    for roles in BOTH {
        // No ping at start: the one measured is the one asked for.
        let p = pair_with(roles, Config::default().measure_rtt(false)).await;
        let h = &p.strata.handle;
        let rtt = h.call(|w: &mut Watch, _t| w.mux.rtt()).await.unwrap();
        assert_eq!(rtt, None);
        h.call(|w: &mut Watch, t| w.mux.ping(t)).await.unwrap();
        let rtt = within("ping answered", async {
            loop {
                if let Some(rtt) = h.call(|w: &mut Watch, _t| w.mux.rtt()).await.unwrap() {
                    return rtt;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(rtt < Duration::from_secs(5), "{roles:?}: rtt {rtt:?}");
    }
}

both_roles!(
    strata_go_away_ends_the_yamux_connection_gracefully,
    |p, _r| {
        p.strata_asks(1, 100).await;
        p.strata
            .handle
            .call(|w: &mut Watch, t| w.mux.go_away(t))
            .await
            .unwrap();
        // yamux ends the connection on GoAway(normal): `poll_next_inbound`
        // returns `None`, not an error.
        let Peers { strata, yamux, .. } = p;
        yamux.ended().await.expect("yamux ends gracefully");
        let reason = within("strata end", strata.handle.closed()).await;
        assert!(reason.is_done(), "{reason}");
    }
);

both_roles!(yamux_close_is_go_away_for_strata, |p, _r| {
    // A subchannel is open when yamux closes: yamux sends GoAway and closes
    // the connection (it does not finish its streams first).
    let (mut s, mut ev) = p.strata.open();
    s.write_all(b"hi").await.unwrap();
    let mut y = p.yamux.accept().await;
    let mut two = [0u8; 2];
    y.read_exact(&mut two).await.unwrap();
    p.yamux.close();
    let Peers {
        strata,
        yamux,
        going_away,
    } = p;
    yamux.ended().await.expect("yamux closes cleanly");
    let reason = within("strata end", strata.handle.closed()).await;
    assert!(reason.is_done(), "{reason}");
    assert!(going_away.load(Ordering::SeqCst), "Strata saw the GoAway");
    // The subchannel yamux never finished is cut short: a reset.
    let (names, _, reason) = ev.until_lost().await;
    assert_eq!(names, ["made", "lost"]);
    assert_eq!(kind(&reason), "reset", "{reason}");
    let e = s.read_to_end(&mut Vec::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    drop(y);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strata_open_after_yamux_close_is_refused() {
    for roles in BOTH {
        let p = pair(roles).await;
        p.yamux.close();
        let Peers { strata, yamux, .. } = p;
        yamux.ended().await.expect("yamux closes cleanly");
        within("strata end", strata.handle.closed()).await;
        // The mux is gone: a stream opened now fails at once.
        let r = StrataStream::open(&strata.handle, |b| strata.remote.open(b));
        assert!(r.is_err(), "{roles:?}: open after the end");
    }
}
