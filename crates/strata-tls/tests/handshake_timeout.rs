//! The handshake timeout, on the in-memory harness with its virtual clock:
//! a handshake that does not complete in time ends with
//! `connection_lost(TimedOut)` and the transport below closed; one that
//! completes is never timed out; the protocol's own timers still pass
//! through, told apart from the layer's by id.

mod common;

use std::time::Duration;

use strata_core::{Bytes, Protocol, Transport};
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::{Chunking, Pair};
use strata_tls::DEFAULT_HANDSHAKE_TIMEOUT;

/// A plain peer that sends `send` (maybe nothing) and then says nothing
/// more, whatever it is told: a stalled or dead handshake partner.
struct Silent {
    send: Vec<u8>,
    log: Log,
}

impl Protocol for Silent {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        if !self.send.is_empty() {
            t.write_slice(&self.send);
        }
    }
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.log.note(format!("got {}", data.len()));
    }
    fn read_closed(&mut self, _t: &mut dyn Transport) {
        self.log.note("eof");
    }
    fn connection_lost(&mut self, r: strata_core::Reason) {
        self.log.note(format!("lost {}", r.kind()));
    }
}

fn silent(send: &[u8]) -> (Silent, Log) {
    let log = Log::new();
    (
        Silent {
            send: send.to_vec(),
            log: log.clone(),
        },
        log,
    )
}

/// The first bytes a real client sends: part of a ClientHello.
fn client_hello_prefix(n: usize) -> Vec<u8> {
    use strata_testing::doubles::RecordingTransport;
    let mut client = common::client().wrap(Recorder::new(&Log::new()));
    let mut t = RecordingTransport::new();
    client.connection_made(&mut t);
    let hello = t.take_written();
    hello[..n.min(hello.len())].to_vec()
}

#[test]
fn server_times_out_a_client_that_sends_nothing() {
    let s = Log::new();
    let (peer, peer_log) = silent(b"");
    let mut pair = Pair::new(peer, common::server().wrap(Recorder::new(&s)));
    pair.advance(DEFAULT_HANDSHAKE_TIMEOUT - Duration::from_millis(1));
    assert_eq!(s.events(), vec![], "not yet");
    assert!(!pair.b.is_lost());
    pair.advance(Duration::from_millis(1));
    assert_eq!(s.events(), vec![Event::Lost("timed-out")]);
    assert!(pair.b.is_lost(), "the transport below is closed");
    // The peer sees the connection end (an end-of-stream, no data).
    pair.pump();
    assert!(
        peer_log.has(&Event::Note("eof".into())),
        "{:?}",
        peer_log.events()
    );
    assert!(!peer_log
        .events()
        .iter()
        .any(|e| matches!(e, Event::Note(n) if n.starts_with("got"))));
}

#[test]
fn server_times_out_a_handshake_cut_halfway() {
    for cut in [1, 5, 40] {
        let s = Log::new();
        let (peer, _) = silent(&client_hello_prefix(cut));
        let server = common::server()
            .with_handshake_timeout(Some(Duration::from_secs(3)))
            .wrap(Recorder::new(&s));
        let mut pair = Pair::new(peer, server).chunking(Chunking::Fixed(7));
        pair.advance(Duration::from_millis(2999));
        assert_eq!(s.events(), vec![], "cut at {cut}: not yet");
        pair.advance(Duration::from_millis(1));
        assert_eq!(s.events(), vec![Event::Lost("timed-out")], "cut at {cut}");
        assert_eq!(s.lost_reason().as_deref(), Some("connection timed out"));
        assert!(
            pair.b.is_lost(),
            "cut at {cut}: the transport below is closed"
        );
    }
}

#[test]
fn client_times_out_a_server_that_never_answers() {
    let c = Log::new();
    let (peer, peer_log) = silent(b"");
    let client = common::client()
        .with_handshake_timeout(Some(Duration::from_secs(5)))
        .wrap(Recorder::new(&c));
    let mut pair = Pair::new(client, peer);
    pair.advance(Duration::from_secs(4));
    assert!(peer_log
        .events()
        .iter()
        .any(|e| matches!(e, Event::Note(n) if n.starts_with("got"))));
    assert_eq!(c.events(), vec![]);
    // `run` jumps the clock to the next deadline: the layer's timer.
    pair.run();
    assert_eq!(c.events(), vec![Event::Lost("timed-out")]);
    assert!(pair.a.is_lost());
    assert_eq!(pair.elapsed(), Duration::from_secs(5));
}

#[test]
fn a_completed_handshake_is_never_timed_out_and_app_timers_pass_through() {
    let (c, s) = (Log::new(), Log::new());
    let client = common::client()
        .with_handshake_timeout(Some(Duration::from_secs(1)))
        .wrap(Recorder::new(&c).on_made(|t| {
            t.set_timer_after(Duration::from_secs(30));
        }));
    let server = common::server()
        .with_handshake_timeout(Some(Duration::from_secs(1)))
        .wrap(Recorder::new(&s).on_timer(|t, _| t.close()));
    let mut pair = Pair::new(client, server);
    pair.pump();
    assert_eq!(c.events(), vec![Event::Made]);
    assert_eq!(s.events(), vec![Event::Made]);
    // Well past the handshake timeout: nothing happens but the app's timer.
    pair.advance(Duration::from_secs(60));
    let ev = c.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(ev[1], Event::Timer(_)), "{ev:?}");
    assert_eq!(s.events(), vec![Event::Made]);
    assert!(!pair.a.is_lost() && !pair.b.is_lost());
}

#[test]
fn no_timeout_waits_forever() {
    let s = Log::new();
    let (peer, _) = silent(&client_hello_prefix(10));
    let server = common::server()
        .with_handshake_timeout(None)
        .wrap(Recorder::new(&s));
    let mut pair = Pair::new(peer, server);
    pair.advance(Duration::from_secs(3600));
    assert_eq!(s.events(), vec![]);
    assert!(!pair.b.is_lost());
    // And with nothing scheduled, `run` has nothing to jump to.
    assert!(!pair.run());
}

#[test]
fn starttls_handshake_times_out_too() {
    // Under STARTTLS the protocol is already connected: it gets only
    // `connection_lost(TimedOut)`.
    let s = Log::new();
    let (peer, _) = silent(b"");
    let server = common::server()
        .with_handshake_timeout(Some(Duration::from_secs(2)))
        .wrap_connected(Recorder::new(&s));
    let mut pair = Pair::new(peer, server);
    pair.advance(Duration::from_secs(2));
    assert_eq!(s.events(), vec![Event::Lost("timed-out")]);
    assert!(pair.b.is_lost());
}
