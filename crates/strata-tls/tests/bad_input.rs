//! Hostile and broken input: garbage instead of a ClientHello, handshakes
//! cut at every byte offset, random bytes after the handshake, truncation.
//! Each ends with a clear error, the transport below closed, and no panic.

mod common;

use strata_core::{Bytes, Protocol, Transport};
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::doubles::{Call, RecordingTransport};
use strata_testing::rng::Rng;
use strata_testing::{Chunking, Pair};

/// A plain protocol that sends `bytes` and records what comes back.
struct Raw {
    send: Vec<u8>,
    log: Log,
}
impl Protocol for Raw {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write_slice(&self.send);
    }
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.log
            .note(format!("got {:02x?}", &data[..data.len().min(7)]));
    }
    fn connection_lost(&mut self, r: strata_core::Reason) {
        self.log.note(format!("lost {}", r.kind()));
    }
}

#[test]
fn garbage_instead_of_client_hello() {
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff][..], // a record longer than allowed
        &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5][..], // not a ClientHello
        &[0x17; 64][..],                     // application data first
        &[0u8; 1][..],
    ] {
        let (raw, s) = (Log::new(), Log::new());
        let client = Raw {
            send: garbage.to_vec(),
            log: raw.clone(),
        };
        let mut pair = Pair::new(client, common::server().wrap(Recorder::new(&s)));
        pair.run();
        assert!(
            pair.b.is_lost(),
            "{garbage:02x?}: the server's transport must be closed"
        );
        assert_eq!(s.events(), vec![Event::Lost("error")], "{garbage:02x?}");
        let reason = s.lost_reason().unwrap();
        assert!(reason.contains("TLS handshake failed"), "{reason}");
        // What the peer gets back is at most an alert record (type 0x15),
        // then the end of the stream.
        let notes = raw.events();
        assert!(
            notes.iter().all(
                |e| matches!(e, Event::Note(n) if n.starts_with("got [15") || n.starts_with("lost"))
            ),
            "{garbage:02x?}: {notes:?} ({reason})"
        );
        assert!(notes
            .iter()
            .any(|e| matches!(e, Event::Note(n) if n.starts_with("lost"))));
    }
}

/// Drive a client and a server by hand over recording transports: the
/// client's first flight, the server's answer, the client's second flight.
fn transcript() -> (Bytes, Bytes, Bytes) {
    let (c, s) = (Log::new(), Log::new());
    let mut client = common::client().wrap(Recorder::new(&c));
    let mut server = common::server().wrap(Recorder::new(&s));
    let (mut ct, mut st) = (RecordingTransport::new(), RecordingTransport::new());
    client.connection_made(&mut ct);
    server.connection_made(&mut st);
    let hello = ct.take_written();
    server.data_received(&mut st, hello.clone());
    let answer = st.take_written();
    client.data_received(&mut ct, answer.clone());
    let finish = ct.take_written();
    assert_eq!(c.events(), vec![Event::Made], "the client completes");
    (hello, answer, finish)
}

/// Feed `prefix` then end-of-stream to a fresh layer (`client` or server);
/// it must fail cleanly: `connection_lost(error)` once, nothing before
/// unless the handshake completed, the transport below closed.
fn cut(is_client: bool, before: &[Bytes], prefix: Bytes) -> Log {
    let log = Log::new();
    let app = Recorder::new(&log);
    let mut layer: Box<dyn Protocol> = if is_client {
        Box::new(common::client().wrap(app))
    } else {
        Box::new(common::server().wrap(app))
    };
    let mut t = RecordingTransport::new();
    layer.connection_made(&mut t);
    for b in before {
        layer.data_received(&mut t, b.clone());
    }
    layer.data_received(&mut t, prefix);
    layer.read_closed(&mut t);
    assert!(
        t.called(&Call::Close) || t.called(&Call::Abort),
        "the transport below must be closed: {:?}",
        t.calls
    );
    layer.connection_lost(strata_core::Reason::Done);
    log
}

#[test]
fn handshake_cut_at_every_byte_offset() {
    let (hello, answer, finish) = transcript();
    // The server, given part of the ClientHello.
    for k in 0..hello.len() {
        let log = cut(false, &[], hello.slice(..k));
        assert_eq!(
            log.events(),
            vec![Event::Lost("error")],
            "ClientHello cut at {k}"
        );
        assert!(log
            .lost_reason()
            .unwrap()
            .contains("before the handshake completed"));
    }
    // The client, given part of the server's answer. Another server would
    // answer differently, so this client talks to the recorded one: it
    // fails on the mismatch or the cut — either way cleanly.
    for k in 0..answer.len() {
        let log = cut(true, &[], answer.slice(..k));
        assert_eq!(
            log.events(),
            vec![Event::Lost("error")],
            "answer cut at {k}"
        );
    }
    // The server, given the ClientHello and part of the client's Finished
    // (from another run: it fails on the cut or on the mismatch).
    for k in 0..finish.len() {
        let log = cut(false, std::slice::from_ref(&hello), finish.slice(..k));
        assert_eq!(log.lost(), Some("error"), "Finished cut at {k}");
        log.check_contract().ok();
    }
}

#[test]
fn random_bytes_after_the_handshake() {
    for seed in 0..20u64 {
        let (c, s) = (Log::new(), Log::new());
        let mut pair = Pair::new(
            common::client().wrap(Recorder::new(&c).on_made(|t| t.write_slice(b"hi"))),
            common::server().wrap(Recorder::new(&s).on_read_closed(|_| {})),
        )
        .chunking(Chunking::Random { seed, max: 100 });
        pair.pump();
        assert_eq!(s.received(), b"hi", "seed {seed}");
        // Someone injects bytes into the client's stream.
        let mut rng = Rng::new(seed);
        let junk: Vec<u8> = (0..rng.range(1, 300))
            .map(|_| rng.range(0, 255) as u8)
            .collect();
        pair.a.t.deliver(&mut pair.a.proto, Bytes::from(junk));
        assert!(pair.run(), "seed {seed}: the pair did not finish");
        assert_eq!(c.lost(), Some("error"), "seed {seed}: {:?}", c.events());
        assert!(
            c.lost_reason().unwrap().contains("TLS"),
            "{:?}",
            c.lost_reason()
        );
        c.check_contract().unwrap();
        s.check_contract().unwrap();
        // The server hears of it as an alert (or a truncation), never a clean end.
        assert_ne!(s.lost(), Some("done"), "seed {seed}: {:?}", s.lost_reason());
    }
}

#[test]
fn fin_without_close_notify_is_truncation() {
    for chunking in [Chunking::Whole, Chunking::Fixed(1), Chunking::Fixed(13)] {
        let (c, s) = (Log::new(), Log::new());
        let mut pair = Pair::new(
            common::client().wrap(Recorder::new(&c).on_made(|t| t.write_slice(b"request"))),
            common::server().wrap(Recorder::new(&s).on_data(|t, _| t.write_slice(b"partial"))),
        )
        .chunking(chunking);
        pair.pump();
        assert_eq!(c.received(), b"partial");
        // The server's TCP sends a FIN beneath TLS: no close_notify.
        pair.b.t.close_write();
        pair.run();
        assert_eq!(c.lost(), Some("error"), "{chunking:?}: {:?}", c.events());
        assert!(
            c.lost_reason().unwrap().contains("truncated"),
            "{:?}",
            c.lost_reason()
        );
        assert!(
            !c.has(&Event::ReadClosed),
            "truncation is not an end-of-stream"
        );
        assert!(pair.a.is_lost(), "the client's transport is closed");
    }
}

#[test]
fn reset_below_is_forwarded_once() {
    let (c, s) = (Log::new(), Log::new());
    let mut pair = Pair::new(
        common::client().wrap(Recorder::new(&c)),
        common::server().wrap(Recorder::new(&s)),
    );
    pair.pump();
    pair.reset();
    pair.run();
    assert_eq!(c.events(), vec![Event::Made, Event::Lost("reset")]);
    assert_eq!(s.events(), vec![Event::Made, Event::Lost("reset")]);
}
