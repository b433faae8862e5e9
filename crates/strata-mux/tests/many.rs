//! Many subchannels at once over the in-memory harness: the known yamux
//! deadlocks (both ends writing far more than a window before reading; one
//! subchannel paused while the others run), fairness, and bounded memory
//! behind a peer that stops reading.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{BoxProtocol, Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use strata_mux::{no_inbound, Config, Mux};
use strata_testing::{Chunking, Pair};

const MIB: usize = 1024 * 1024;

/// A shared pattern: stream data are slices of it at stream-specific
/// offsets, so a byte delivered to the wrong subchannel or out of order
/// shows, and no stream needs its own copy of megabytes.
fn base(len: usize) -> Bytes {
    let mut v = vec![0u8; len + 4096];
    strata_testing::rng::Rng::new(77).fill(&mut v);
    Bytes::from(v)
}

#[derive(Debug, Default)]
struct Report {
    events: Vec<String>,
    got: usize,
    /// The largest receive window granted (the mux's `recv_window_limit`)
    /// seen while between a quarter and three quarters of the data had
    /// arrived: when every stream of a run is busy.
    mid_limit: u32,
    bad: Option<String>,
    lost: Option<String>,
}

impl Report {
    fn check(&self, who: &str, want_got: usize) {
        assert!(self.bad.is_none(), "{who}: {:?}", self.bad);
        assert_eq!(
            self.got, want_got,
            "{who}: bytes received; {:?}",
            self.events
        );
        assert_eq!(
            self.lost.as_deref(),
            Some("done"),
            "{who}: {:?}",
            self.events
        );
        assert_eq!(
            self.events.first().map(String::as_str),
            Some("made"),
            "{who}"
        );
        assert_eq!(
            self.events.iter().filter(|e| e.starts_with("lost")).count(),
            1,
            "{who}: {:?}",
            self.events
        );
        assert!(self.events.last().unwrap().starts_with("lost"), "{who}");
    }
}

/// Writes `total` bytes at once in `connection_made` (far beyond the
/// window and the water marks: it ignores `pause_writing`), half-closes,
/// and checks what it receives against the pattern.
struct Bulk {
    base: Bytes,
    total: usize,
    server: bool,
    rx_off: usize,
    /// Pause reading at start until this timer (virtual time).
    pause_for: Option<Duration>,
    report: Arc<Mutex<Report>>,
}

fn offsets(stream: usize, server: bool) -> (usize, usize) {
    // (what this side sends, what it expects)
    let (c, s) = (stream, 2048 + stream);
    if server {
        (s, c)
    } else {
        (c, s)
    }
}

impl Protocol for Bulk {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let id: usize = t.info().fact("stream").unwrap().parse().unwrap();
        let (tx, rx) = offsets(id, self.server);
        self.rx_off = rx;
        self.report.lock().unwrap().events.push("made".into());
        if let Some(d) = self.pause_for {
            t.pause_reading();
            t.set_timer_after(d);
        }
        let mut at = 0;
        while at < self.total {
            let n = (64 * 1024).min(self.total - at);
            t.write(self.base.slice(tx + at..tx + at + n));
            at += n;
        }
        t.close_write();
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        let mut r = self.report.lock().unwrap();
        let at = self.rx_off + r.got;
        if r.bad.is_none() && self.base.get(at..at + data.len()) != Some(&data[..]) {
            r.bad = Some(format!("wrong bytes at {}", r.got));
        }
        r.got += data.len();
        if (self.total / 4..self.total * 3 / 4).contains(&r.got) {
            let limit = t.info().fact("recv_window_limit").unwrap().parse().unwrap();
            r.mid_limit = r.mid_limit.max(limit);
        }
    }
    fn read_closed(&mut self, _t: &mut dyn Transport) {
        self.report
            .lock()
            .unwrap()
            .events
            .push("read_closed".into());
    }
    fn write_closed(&mut self, _t: &mut dyn Transport) {
        self.report
            .lock()
            .unwrap()
            .events
            .push("write_closed".into());
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, _timer: TimerId) {
        self.report.lock().unwrap().events.push("timer".into());
        t.resume_reading();
    }
    fn connection_lost(&mut self, reason: Reason) {
        let mut r = self.report.lock().unwrap();
        r.events.push(format!("lost:{}", reason.kind()));
        r.lost = Some(reason.kind().to_string());
    }
}

type Reports = Arc<Mutex<Vec<(u32, Arc<Mutex<Report>>)>>>;

/// A server mux whose every inbound subchannel runs a `Bulk`.
fn bulk_server(base: Bytes, total: usize, reports: Reports, paused: Option<u32>) -> Mux {
    Mux::server(Config::default(), move |info: &TransportInfo| {
        let id: u32 = info.fact("stream").unwrap().parse().unwrap();
        let report = Arc::new(Mutex::new(Report::default()));
        reports.lock().unwrap().push((id, report.clone()));
        Box::new(Bulk {
            base: base.clone(),
            total,
            server: true,
            rx_off: 0,
            pause_for: (paused == Some(id)).then_some(Duration::from_secs(10)),
            report,
        }) as BoxProtocol
    })
}

/// Runs `n` bulk subchannels both ways; returns the reports of the
/// server's and the client's subchannels.
fn run_bulk(n: usize, total: usize, chunking: Chunking, paused: Option<u32>) -> [Vec<Report>; 2] {
    let base = base(total + 4096);
    let server_reports: Reports = Arc::default();
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound());
    let server = bulk_server(base.clone(), total, server_reports.clone(), paused);
    let mut pair = Pair::new(client, server).chunking(chunking);
    pair.start();
    let mut client_reports = Vec::new();
    for _ in 0..n {
        let report = Arc::new(Mutex::new(Report::default()));
        let app = Bulk {
            base: base.clone(),
            total,
            server: false,
            rx_off: 0,
            pause_for: None,
            report: report.clone(),
        };
        let id = pair.a.proto.open(&mut pair.a.t, Box::new(app)).unwrap();
        client_reports.push((id, report));
    }
    pair.a.t.settle(&mut pair.a.proto);
    assert!(pair.run(), "the pair did not finish (deadlock?)");
    let (rx, tx) = pair.a.proto.bytes();
    assert!(rx >= (n * total) as u64 && tx >= (n * total) as u64);
    assert_eq!(server_reports.lock().unwrap().len(), n);
    for (id, r) in &client_reports {
        r.lock()
            .unwrap()
            .check(&format!("client stream {id}"), total);
    }
    for (id, r) in server_reports.lock().unwrap().iter() {
        r.lock()
            .unwrap()
            .check(&format!("server stream {id}"), total);
    }
    if let Some(p) = paused {
        // The paused subchannel finished after every other one: the others
        // were not held up by it.
        let reports = server_reports.lock().unwrap();
        let paused_report = &reports.iter().find(|(id, _)| *id == p).unwrap().1;
        assert!(paused_report
            .lock()
            .unwrap()
            .events
            .contains(&"timer".to_string()));
    }
    let take = |v: &[(u32, Arc<Mutex<Report>>)]| {
        v.iter()
            .map(|(_, r)| std::mem::take(&mut *r.lock().unwrap()))
            .collect()
    };
    let server = take(&server_reports.lock().unwrap());
    [server, take(&client_reports)]
}

/// 16 subchannels, both ends writing 8 MiB on each before reading any:
/// the writes wait in per-subchannel queues, flow control moves them, and
/// nothing deadlocks.
#[test]
fn sixteen_subchannels_both_ways_8_mib_each() {
    run_bulk(16, 8 * MIB, Chunking::Whole, None);
}

/// Sixteen busy subchannels share the receive budget: each window is cut
/// to a sixteenth of it once the initial 256 KiB is used, so what the
/// peer may have in flight stays near the budget, not at 16 × 256 KiB.
/// A subchannel alone keeps at least the initial window.
#[test]
fn busy_subchannels_share_the_receive_budget() {
    let budget = Config::default().receive_budget as u32;
    for side in run_bulk(16, 4 * MIB, Chunking::Whole, None) {
        for r in side {
            assert!(r.mid_limit > 0, "no window seen mid-run");
            assert!(
                r.mid_limit <= budget / 16,
                "a window of {} with 16 busy streams (budget {budget})",
                r.mid_limit
            );
        }
    }
    for side in run_bulk(1, 4 * MIB, Chunking::Whole, None) {
        assert!(side[0].mid_limit >= strata_mux::INITIAL_WINDOW);
    }
}

#[test]
fn sixteen_subchannels_random_chunking() {
    run_bulk(
        16,
        MIB,
        Chunking::Random {
            seed: 1,
            max: 20_000,
        },
        None,
    );
}

/// One subchannel stops reading for 10 s of virtual time (far more than a
/// window arrives for it) while 15 others move 1 MiB each way: the others
/// complete; the paused one completes after it resumes.
#[test]
fn one_paused_subchannel_does_not_block_the_others() {
    let total = MIB;
    let base = base(total + 4096);
    let server_reports: Reports = Arc::default();
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound());
    let server = bulk_server(base.clone(), total, server_reports.clone(), Some(5));
    let mut pair = Pair::new(client, server);
    pair.start();
    for _ in 0..16 {
        let app = Bulk {
            base: base.clone(),
            total,
            server: false,
            rx_off: 0,
            pause_for: None,
            report: Arc::default(),
        };
        pair.a.proto.open(&mut pair.a.t, Box::new(app)).unwrap();
    }
    pair.a.t.settle(&mut pair.a.proto);
    // Before any virtual time passes, everything but stream 5 is done.
    pair.pump();
    {
        let reports = server_reports.lock().unwrap();
        assert_eq!(reports.len(), 16);
        for (id, r) in reports.iter() {
            let r = r.lock().unwrap();
            if *id == 5 {
                assert!(r.lost.is_none());
                assert_eq!(r.got, 0, "paused: nothing delivered");
            } else {
                r.check(&format!("server stream {id}"), total);
            }
        }
    }
    assert_eq!(pair.a.proto.subchannels(), 1, "only the paused one is left");
    assert!(pair.run());
    for (id, r) in server_reports.lock().unwrap().iter() {
        r.lock()
            .unwrap()
            .check(&format!("server stream {id}"), total);
    }
}

/// Writes a little, records when its answer is complete.
struct Small {
    want: usize,
    got: usize,
    done_at: Arc<Mutex<Option<usize>>>,
    bulk_progress: Arc<Mutex<usize>>,
}
impl Protocol for Small {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(Bytes::from(vec![1u8; self.want]));
        t.close_write();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.got += data.len();
        if self.got == self.want {
            *self.done_at.lock().unwrap() = Some(*self.bulk_progress.lock().unwrap());
        }
    }
}

/// Receives a bulk stream, counting; once `open_at` bytes have arrived,
/// opens a sibling subchannel running `then` (from inside the callback).
struct Sink {
    got: Arc<Mutex<usize>>,
    open_at: usize,
    then: Option<BoxProtocol>,
}
impl Sink {
    fn counting(got: Arc<Mutex<usize>>) -> Self {
        Sink {
            got,
            open_at: 0,
            then: None,
        }
    }
}
impl Protocol for Sink {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.close_write();
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        let mut got = self.got.lock().unwrap();
        *got += data.len();
        if *got >= self.open_at {
            if let Some(p) = self.then.take() {
                t.channels()
                    .expect("a subchannel can open siblings")
                    .open_channel(p)
                    .unwrap();
            }
        }
    }
}

/// Echoes; and on stream 1 sends a bulk stream instead.
struct Serve {
    bulk: Option<usize>,
}
impl Protocol for Serve {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        if let Some(n) = self.bulk {
            let chunk = Bytes::from(vec![7u8; 64 * 1024]);
            for _ in 0..n / chunk.len() {
                t.write(chunk.clone());
            }
            t.close_write();
        }
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        if self.bulk.is_none() {
            t.write(data);
        }
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        t.close_write();
    }
}

/// A small request on one subchannel is answered while another subchannel
/// saturates the link: frames are interleaved, not queued behind the bulk.
#[test]
fn a_small_request_is_not_starved_by_a_bulk_subchannel() {
    const BULK: usize = 16 * MIB;
    let progress = Arc::new(Mutex::new(0usize));
    let done_at = Arc::new(Mutex::new(None));
    let server = Mux::server(
        Config::default().max_window(64 * MIB as u32),
        |info: &TransportInfo| {
            let bulk = (info.fact("stream") == Some("1")).then_some(BULK);
            Box::new(Serve { bulk }) as BoxProtocol
        },
    );
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound());
    let mut pair = Pair::new(client, server).chunking(Chunking::Fixed(4096));
    pair.set_link_capacity(64 * 1024);
    pair.start();
    // Once the bulk is well under way, the sink asks a small question on a
    // sibling subchannel.
    let small = Small {
        want: 1000,
        got: 0,
        done_at: done_at.clone(),
        bulk_progress: progress.clone(),
    };
    let sink = Sink {
        got: progress.clone(),
        open_at: MIB,
        then: Some(Box::new(small)),
    };
    pair.a.proto.open(&mut pair.a.t, Box::new(sink)).unwrap();
    pair.a.t.settle(&mut pair.a.proto);
    assert!(pair.run());
    assert_eq!(*progress.lock().unwrap(), BULK);
    let at = done_at
        .lock()
        .unwrap()
        .expect("the small request was answered");
    assert!(
        at < 2 * MIB,
        "the small answer came only after {at} of {BULK} bulk bytes"
    );
}

/// Behind a peer that stops reading, the writer's memory stays bounded:
/// the transport below holds at most about its high-water mark plus a
/// frame, the rest stays in the subchannels' queues, and every subchannel
/// was told to pause.
#[test]
fn a_stalled_peer_pushes_back_into_every_subchannel() {
    struct Writer {
        paused: Arc<Mutex<usize>>,
    }
    impl Protocol for Writer {
        fn connection_made(&mut self, t: &mut dyn Transport) {
            let chunk = Bytes::from(vec![3u8; 64 * 1024]);
            for _ in 0..32 {
                t.write(chunk.clone());
            }
        }
        fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
        fn pause_writing(&mut self, _t: &mut dyn Transport) {
            *self.paused.lock().unwrap() += 1;
        }
    }
    let paused = Arc::new(Mutex::new(0));
    let server = Mux::server(Config::default(), |_: &TransportInfo| {
        Box::new(Sink::counting(Arc::default())) as BoxProtocol
    });
    let client = Mux::client(Config::default(), no_inbound());
    let mut pair = Pair::new(client, server);
    pair.set_link_capacity(32 * 1024);
    pair.start();
    pair.stall(false, true);
    for _ in 0..8 {
        let w = Writer {
            paused: paused.clone(),
        };
        pair.a.proto.open(&mut pair.a.t, Box::new(w)).unwrap();
    }
    pair.a.t.settle(&mut pair.a.proto);
    for _ in 0..10 {
        pair.pump();
    }
    let cfg = Config::default();
    let below = pair.a.t.write_buffer_len();
    assert!(
        below <= cfg.lower_high_water + cfg.max_burst as usize + 64 * 1024,
        "{below} bytes buffered below the mux"
    );
    assert_eq!(*paused.lock().unwrap(), 8, "every writer was paused");
    // The peer reads again: everything drains.
    pair.stall(false, false);
    pair.pump();
    assert_eq!(pair.a.t.write_buffer_len(), 0);
}

/// Ten thousand subchannels opened and held idle, then all closed: opens
/// are cheap and the state of an idle subchannel is small.
#[test]
fn ten_thousand_idle_subchannels() {
    const N: usize = 10_000;
    struct Idle;
    impl Protocol for Idle {
        fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
        fn read_closed(&mut self, _t: &mut dyn Transport) {}
        fn timer_fired(&mut self, t: &mut dyn Transport, _id: TimerId) {
            t.close();
        }
        fn connection_made(&mut self, t: &mut dyn Transport) {
            t.set_timer_after(Duration::from_secs(1));
        }
    }
    let cfg = Config::default().max_streams(N).max_pending_opens(N);
    let count = Arc::new(Mutex::new(0usize));
    let c2 = count.clone();
    let server = Mux::server(cfg.clone(), move |_: &TransportInfo| {
        *c2.lock().unwrap() += 1;
        Box::new(Idle) as BoxProtocol
    });
    let client = Mux::client(cfg.close_when_idle(true), no_inbound());
    let mut pair = Pair::new(client, server);
    pair.start();
    for _ in 0..N {
        pair.a.proto.open(&mut pair.a.t, Box::new(Idle)).unwrap();
    }
    pair.a.t.settle(&mut pair.a.proto);
    pair.pump();
    assert_eq!(*count.lock().unwrap(), N);
    assert_eq!(pair.a.proto.subchannels(), N);
    assert_eq!(pair.b.proto.subchannels(), N);
    // After a second every subchannel closes; the connection ends.
    assert!(pair.run());
    assert_eq!(pair.b.proto.subchannels(), 0);
}
