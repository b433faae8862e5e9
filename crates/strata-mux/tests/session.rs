//! Connection management over the harness: keepalive, RTT, GoAway, limits,
//! losing the connection below, remote opens, info facts, and `close()`
//! with the peer still sending.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{
    BoxProtocol, Bytes, OpenError, Protocol, Reason, TimerId, Transport, TransportInfo,
};
use strata_mux::{no_inbound, Config, Mux};
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::{Chunking, Pair};

fn recorder_server(logs: Arc<Mutex<Vec<Log>>>) -> Mux {
    recorder_server_with(Config::default(), logs, |r| r)
}

fn recorder_server_with(
    cfg: Config,
    logs: Arc<Mutex<Vec<Log>>>,
    script: impl Fn(Recorder) -> Recorder + Send + 'static,
) -> Mux {
    Mux::server(cfg, move |_: &TransportInfo| {
        let log = Log::new();
        logs.lock().unwrap().push(log.clone());
        script(Recorder::new(&log)).boxed()
    })
}

/// An app that does nothing (stays open until the connection ends).
fn idle(log: &Log) -> BoxProtocol {
    Recorder::new(log).on_read_closed(|_| {}).boxed()
}

#[test]
fn keepalive_times_out_when_the_peer_goes_silent() {
    let cfg = Config::default()
        .keepalive(Some(Duration::from_secs(10)))
        .keepalive_timeout(Duration::from_secs(5));
    let logs = Arc::default();
    let (a, b) = (Log::new(), Log::new());
    let client = Mux::client(cfg, no_inbound()).with_initial(idle(&a));
    let mut pair = Pair::new(client, recorder_server(logs));
    pair.start();
    pair.a
        .proto
        .open(&mut pair.a.t, idle(&b))
        .expect("a second subchannel");
    pair.pump();
    // Pings are answered while the link works: nothing ends.
    pair.advance(Duration::from_secs(60));
    assert!(a.lost().is_none());
    // The cable is pulled: the next keepalive goes unanswered.
    pair.cut();
    pair.advance(Duration::from_secs(16));
    assert_eq!(a.lost(), Some("timed-out"));
    assert_eq!(b.lost(), Some("timed-out"));
    a.check_contract().unwrap();
    assert!(pair.a.is_lost(), "the transport below was aborted");
}

#[test]
fn rtt_is_measured_and_published() {
    let logs = Arc::default();
    let facts = Arc::new(Mutex::new(None));
    let f2 = facts.clone();
    struct Ask(Arc<Mutex<Option<TransportInfo>>>);
    impl Protocol for Ask {
        fn connection_made(&mut self, t: &mut dyn Transport) {
            t.write_slice(b"x");
        }
        fn data_received(&mut self, t: &mut dyn Transport, _d: Bytes) {
            *self.0.lock().unwrap() = Some(t.info());
            t.close();
        }
    }
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound())
        .with_initial(Box::new(Ask(f2)));
    let server = recorder_server_with(Config::default(), logs, |r| {
        r.on_data(|t, b| t.write(b.clone()))
    });
    let mut pair = Pair::new(client, server);
    assert!(pair.run());
    assert!(pair.a.proto.rtt().is_some());
    let info = facts.lock().unwrap().clone().unwrap();
    assert_eq!(info.layer_names(), vec!["memory", "mux"]);
    assert_eq!(info.fact("stream"), Some("1"));
    assert_eq!(info.fact("role"), Some("client"));
    assert!(info.fact("rtt_us").is_some());
    assert!(info.fact("send_window").is_some());
}

#[test]
fn go_away_refuses_new_subchannels_and_lets_existing_ones_finish() {
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let (first, late) = (Log::new(), Log::new());
    // The first subchannel waits 1 s, then finishes normally.
    let f = Recorder::new(&first)
        .on_made(|t| {
            t.set_timer_after(Duration::from_secs(1));
        })
        .on_timer(|t, _| {
            t.write_slice(b"bye");
            t.close_write();
        })
        .on_read_closed(|_| {})
        .boxed();
    let client = Mux::client(Config::default(), no_inbound()).with_initial(f);
    let server = recorder_server(logs.clone());
    let mut pair = Pair::new(client, server);
    pair.start();
    pair.pump();
    // The server goes away gracefully.
    pair.b.proto.go_away(&mut pair.b.t);
    pair.b.t.settle(&mut pair.b.proto);
    pair.pump();
    assert!(pair.a.proto.is_going_away());
    // The client may not open more.
    assert_eq!(
        pair.a.proto.open(&mut pair.a.t, idle(&late)),
        Err(OpenError::GoingAway)
    );
    assert!(pair.run());
    first.check_contract().unwrap();
    assert_eq!(first.lost(), Some("done"));
    let server_logs = logs.lock().unwrap();
    assert_eq!(server_logs.len(), 1);
    assert_eq!(server_logs[0].received(), b"bye");
    assert_eq!(server_logs[0].lost(), Some("done"));
    assert!(
        late.events().is_empty(),
        "a refused protocol is never called"
    );
}

/// While one subchannel has data to send alone, the mux halves the water
/// marks it sets on the transport below (smaller refills); as soon as two
/// wait their turn, the configured marks are back. Nothing stalls on the
/// way: every byte arrives and every subchannel ends cleanly.
#[test]
fn the_marks_below_are_halved_while_one_subchannel_sends_alone() {
    const EACH: usize = 200 * 1024;
    let cfg = Config::default().close_when_idle(true);
    let full = (cfg.lower_high_water, cfg.lower_low_water);
    let half = (full.0 / 2, full.1 / 2);
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let writer = |log: &Log| {
        Recorder::new(log)
            .on_made(|t| {
                t.write(Bytes::from(vec![7u8; EACH]));
                t.close_write();
            })
            .boxed()
    };
    let mut pair = Pair::new(
        Mux::client(cfg, no_inbound()),
        recorder_server(logs.clone()),
    );
    pair.start();
    pair.pump();
    let marks = |pair: &Pair<Mux, Mux>| (pair.a.t.marks.high(), pair.a.t.marks.low());
    assert_eq!(marks(&pair), full, "the configured marks to begin with");
    // No pump between the opens: frames pile up below. The first two
    // subchannels each send their 200 KiB in one frame, alone; the third
    // finds the buffer below over the halved mark and waits.
    let apps: Vec<Log> = (0..4).map(|_| Log::new()).collect();
    for app in &apps[..3] {
        pair.a.proto.open(&mut pair.a.t, writer(app)).unwrap();
        assert_eq!(marks(&pair), half, "one subchannel sends at a time");
    }
    assert!(pair.a.t.write_buffer_len() > half.0);
    // The fourth joins the third: two wait, the full marks are back, and
    // their frames go below interleaved up to the full mark.
    pair.a.proto.open(&mut pair.a.t, writer(&apps[3])).unwrap();
    assert_eq!(marks(&pair), full, "two subchannels wait their turn");
    assert!(pair.a.t.write_buffer_len() > full.0);
    assert!(pair.run(), "both ends finish");
    for app in &apps {
        app.check_contract().unwrap();
        assert_eq!(app.lost(), Some("done"));
    }
    let server_logs = logs.lock().unwrap();
    assert_eq!(server_logs.len(), 4);
    for log in server_logs.iter() {
        assert_eq!(log.received_len(), EACH);
        assert_eq!(log.lost(), Some("done"));
    }
}

#[test]
fn stream_limits_refuse_with_rst_and_too_many() {
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let server = recorder_server_with(Config::default().max_streams(2), logs.clone(), |r| {
        r.on_read_closed(|_| {})
    });
    let client = Mux::client(Config::default().max_streams(3), no_inbound());
    let mut pair = Pair::new(client, server);
    pair.start();
    let clients: Vec<Log> = (0..3).map(|_| Log::new()).collect();
    for l in &clients {
        pair.a.proto.open(&mut pair.a.t, idle(l)).unwrap();
    }
    assert_eq!(
        pair.a.proto.open(&mut pair.a.t, idle(&Log::new())),
        Err(OpenError::TooMany { limit: 3 })
    );
    pair.a.t.settle(&mut pair.a.proto);
    pair.pump();
    // The server took two; the third was reset.
    assert_eq!(logs.lock().unwrap().len(), 2);
    assert_eq!(clients[2].lost(), Some("reset"));
    assert!(clients[0].lost().is_none() && clients[1].lost().is_none());
    assert_eq!(pair.a.proto.subchannels(), 2);
}

#[test]
fn losing_the_connection_below_ends_every_subchannel_once() {
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let client = Mux::client(Config::default(), no_inbound());
    let mut pair = Pair::new(client, recorder_server(logs.clone()));
    pair.start();
    let clients: Vec<Log> = (0..5).map(|_| Log::new()).collect();
    for l in &clients {
        pair.a.proto.open(&mut pair.a.t, idle(l)).unwrap();
    }
    pair.a.t.settle(&mut pair.a.proto);
    pair.pump();
    pair.reset();
    for l in clients.iter().chain(logs.lock().unwrap().iter()) {
        l.check_contract().unwrap();
        assert_eq!(l.lost(), Some("reset"));
    }
    assert_eq!(logs.lock().unwrap().len(), 5);
    assert_eq!(pair.a.proto.subchannels(), 0);
}

#[test]
fn close_discards_later_data_but_credits_it() {
    // The client closes at once; the server still sends 2 MiB (eight
    // windows) and then half-closes: it must not stall for credit.
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let c = Log::new();
    let client = Mux::client(Config::default().close_when_idle(false), no_inbound())
        .with_initial(Recorder::new(&c).on_made(|t| t.close()).boxed());
    let server = recorder_server_with(Config::default(), logs.clone(), |r| {
        r.on_made(|t| {
            let chunk = Bytes::from(vec![5u8; 64 * 1024]);
            for _ in 0..32 {
                t.write(chunk.clone());
            }
            t.close_write();
        })
        .on_read_closed(|_| {})
    });
    let mut pair = Pair::new(client, server).chunking(Chunking::Fixed(1000));
    pair.start();
    pair.pump();
    assert_eq!(c.events(), vec![Event::Made, Event::Lost("done")]);
    let s = logs.lock().unwrap()[0].clone();
    assert_eq!(s.lost(), Some("done"), "{:?}", s.events());
    // The client mux forgot the stream once the server's FIN came.
    assert_eq!(pair.a.proto.streams(), 0);
}

#[test]
fn remote_opens_from_another_task() {
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let mut client = Mux::client(Config::default(), no_inbound());
    let remote = client.remote();
    let mut pair = Pair::new(client, recorder_server(logs.clone()));
    pair.start();
    // The wake-up: a driver would fire the timer in the connection task
    // (`Handle::fire_timer`); here the test does it.
    let fired: Arc<Mutex<Vec<TimerId>>> = Arc::default();
    let f2 = fired.clone();
    remote.set_wake(move |t| f2.lock().unwrap().push(t));
    let l = Log::new();
    let r2 = remote.clone();
    std::thread::spawn(move || r2.open(idle(&l)).unwrap())
        .join()
        .unwrap();
    let kicks = std::mem::take(&mut *fired.lock().unwrap());
    assert_eq!(kicks.len(), 1);
    pair.a.t.timers.cancel(kicks[0]);
    pair.a.proto.timer_fired(&mut pair.a.t, kicks[0]);
    pair.a.t.settle(&mut pair.a.proto);
    pair.pump();
    assert_eq!(
        logs.lock().unwrap().len(),
        1,
        "the server got the subchannel"
    );
    assert_eq!(pair.a.proto.subchannels(), 1);
    // A second open wakes again (the timer was re-armed).
    remote.open(idle(&Log::new())).unwrap();
    assert_eq!(fired.lock().unwrap().len(), 1);
    // Once the mux is gone, opens fail.
    pair.reset();
    assert_eq!(remote.open(idle(&Log::new())), Err(OpenError::Closed));
}

#[test]
fn the_peer_resetting_a_subchannel_is_a_reset_and_others_go_on() {
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let server = recorder_server_with(Config::default(), logs.clone(), |r| {
        let mut got = Vec::new();
        r.on_data(move |t, b| {
            got.extend_from_slice(b);
            if got == b"reset me" {
                t.abort();
            } else if !b"reset me".starts_with(&got) {
                t.write(b.clone());
            }
        })
    });
    let (x, y) = (Log::new(), Log::new());
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound());
    let mut pair = Pair::new(client, server).chunking(Chunking::Fixed(3));
    pair.start();
    let a = Recorder::new(&x)
        .on_made(|t| t.write_slice(b"reset me"))
        .boxed();
    let b = Recorder::new(&y)
        .on_made(|t| {
            t.write_slice(b"echo me");
            t.close_write();
        })
        .boxed();
    pair.a.proto.open(&mut pair.a.t, a).unwrap();
    pair.a.proto.open(&mut pair.a.t, b).unwrap();
    pair.a.t.settle(&mut pair.a.proto);
    assert!(pair.run());
    assert_eq!(x.lost(), Some("reset"));
    assert!(!x.has(&Event::ReadClosed));
    assert_eq!(y.received(), b"echo me");
    assert_eq!(y.lost(), Some("done"));
    for l in [&x, &y] {
        l.check_contract().unwrap();
    }
}

/// A reason's text says what happened, for logs.
#[test]
fn reasons_read_well() {
    let r = Reason::error(strata_mux::MuxError::WindowExceeded {
        stream: 3,
        len: 10,
        window: 5,
    });
    assert_eq!(
        r.to_string(),
        "connection failed: 10 bytes of data for stream 3 exceed its receive window of 5"
    );
}
