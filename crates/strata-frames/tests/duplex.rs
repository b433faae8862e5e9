//! Half- vs full-duplex ordering, end to end: a `Caller` and a
//! `CommandServer` on frame layers, over the in-memory harness (several
//! chunkings), TLS over the harness, TCP, and TLS over TCP.
//!
//! * Full duplex: the client half-closes only after every answer arrived —
//!   which can only finish if the server answered while the client was
//!   still sending.
//! * Half duplex: the client half-closes a while after sending; not one
//!   response frame may arrive before its half-close.

mod common;

use std::time::Duration;

use common::{roles, sha256_hex, Demo};
use strata_core::{BoxProtocol, Protocol, Reason};
use strata_frames::{
    Call, Caller, CommandServer, Duplex, Event, FrameType, Framed, HalfClose, Outcome,
};
use strata_testing::{Chunking, Pair};
use tokio::sync::oneshot;

fn big() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn calls() -> Vec<Call> {
    vec![
        Call::new("echo").data("one"),
        Call::new("hash").data(big()),
        Call::new("echo")
            .arg("key", "value")
            .arg("long", vec![b'v'; 40_000]),
        Call::new("fail"),
        Call::new("echo").data(big()),
    ]
}

fn check_answers(out: &Outcome) {
    assert_eq!(out.error, None);
    let a = &out.answers;
    assert_eq!(a.len(), 5, "{:?}", out.answers.len());
    assert_eq!(a[0].as_ref().unwrap(), "one");
    assert_eq!(a[1].as_ref().unwrap(), sha256_hex(&big()).as_str());
    let mut want = b"key=value\nlong=".to_vec();
    want.extend(vec![b'v'; 40_000]);
    want.push(b'\n');
    assert_eq!(a[2].as_ref().unwrap()[..], want[..]);
    assert_eq!(a[3].as_ref().unwrap_err().message, "failed as asked");
    assert_eq!(a[4].as_ref().unwrap()[..], big()[..]);
}

/// Position of our half-close among the events, and of the first and last
/// response frames.
fn positions(out: &Outcome) -> (usize, usize, usize) {
    let closed = out
        .log
        .iter()
        .position(|e| *e == Event::HalfClosed)
        .expect("half-closed");
    let received: Vec<usize> = out
        .log
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Received(f) if matches!(f.kind, FrameType::BytesResponse | FrameType::ErrorResponse)))
        .map(|(i, _)| i)
        .collect();
    (closed, received[0], *received.last().unwrap())
}

fn check_full(out: &Outcome) {
    check_answers(out);
    let (closed, _, last) = positions(out);
    assert!(
        last < closed,
        "full duplex: every answer before our half-close"
    );
}

fn check_half(out: &Outcome) {
    check_answers(out);
    let (closed, first, _) = positions(out);
    assert!(
        closed < first,
        "half duplex: no answer before our half-close"
    );
}

fn client(mode: Duplex) -> Caller {
    let hc = match mode {
        Duplex::Full => HalfClose::AfterAnswers,
        Duplex::Half => HalfClose::After(Duration::from_millis(50)),
    };
    Caller::new(calls(), hc).recording()
}

fn server(mode: Duplex) -> Framed<CommandServer<Demo>> {
    Framed::new(CommandServer::new(mode, Demo::default()))
}

const CHUNKINGS: [Chunking; 4] = [
    Chunking::Whole,
    Chunking::Fixed(1),
    Chunking::Fixed(4093),
    Chunking::Random { seed: 7, max: 700 },
];

#[test]
fn full_duplex_over_the_harness() {
    for c in CHUNKINGS {
        let mut pair =
            Pair::new(Framed::new(client(Duplex::Full)), server(Duplex::Full)).chunking(c);
        assert!(pair.run(), "{c:?}");
        check_full(pair.a.proto.app().outcome());
        assert!(pair
            .a
            .proto
            .app()
            .outcome()
            .reason
            .as_ref()
            .unwrap()
            .is_done());
    }
}

#[test]
fn half_duplex_over_the_harness() {
    for c in CHUNKINGS {
        let mut pair =
            Pair::new(Framed::new(client(Duplex::Half)), server(Duplex::Half)).chunking(c);
        assert!(pair.run(), "{c:?}");
        check_half(pair.a.proto.app().outcome());
    }
}

#[test]
fn half_duplex_never_answers_a_client_that_waits_for_answers() {
    let caller = Caller::new(calls(), HalfClose::AfterAnswers).recording();
    let mut pair = Pair::new(Framed::new(caller), server(Duplex::Half));
    assert!(
        !pair.run(),
        "nothing can happen: each side waits for the other"
    );
    assert!(pair.a.proto.app().outcome().answers.is_empty());
    assert!(pair.b.proto.app().reactor().deferred_bytes() > 0);
    // Its half-close (done here from outside) releases everything, in order.
    use strata_core::Transport;
    pair.a.t.close_write();
    assert!(pair.run());
    check_answers(pair.a.proto.app().outcome());
}

#[test]
fn both_modes_over_tls_over_the_harness() {
    let (c, s) = roles().clone();
    for mode in [Duplex::Full, Duplex::Half] {
        let mut pair = Pair::new(c.wrap(Framed::new(client(mode))), s.wrap(server(mode)))
            .chunking(Chunking::Random { seed: 3, max: 5000 });
        assert!(pair.run(), "{mode:?}");
        let out = pair.a.proto.app().app().outcome();
        match mode {
            Duplex::Full => check_full(out),
            Duplex::Half => check_half(out),
        }
    }
}

/// Run a caller against a server over real TCP, each wrapped by `wrap_*`.
async fn over_tcp(
    mode: Duplex,
    wrap_client: impl FnOnce(Framed<Caller>) -> BoxProtocol,
    wrap_server: impl Fn(Framed<CommandServer<Demo>>) -> BoxProtocol + Send + 'static,
) -> Outcome {
    let listener =
        strata_tokio::listen("tcp:127.0.0.1:0", move |_: &strata_core::TransportInfo| {
            wrap_server(server(mode))
        })
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel();
    let caller = client(mode).on_done(move |o| {
        let _ = tx.send(o);
    });
    let desc = format!("tcp:127.0.0.1:{}", listener.port().unwrap());
    let handle = strata_tokio::connect(&desc, wrap_client(Framed::new(caller)))
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    let reason: Reason = handle.closed().await;
    assert!(reason.is_done(), "{reason}");
    out
}

fn boxed<P: Protocol + Send + 'static>(p: P) -> BoxProtocol {
    Box::new(p)
}

#[tokio::test]
async fn both_modes_over_tcp() {
    check_full(&over_tcp(Duplex::Full, boxed, boxed).await);
    check_half(&over_tcp(Duplex::Half, boxed, boxed).await);
}

#[tokio::test]
async fn both_modes_over_tls_over_tcp() {
    for mode in [Duplex::Full, Duplex::Half] {
        let (c, s) = roles().clone();
        let out = over_tcp(mode, move |p| boxed(c.wrap(p)), move |p| boxed(s.wrap(p))).await;
        match mode {
            Duplex::Full => check_full(&out),
            Duplex::Half => check_half(&out),
        }
    }
}

#[test]
fn frames_larger_than_the_link_and_max_frame_settings_agree() {
    // Both sides at 1 KiB frames: 100 KB of data go in 98 frames and an
    // empty eos; the echo streams each piece back as it comes.
    let caller = Caller::new(vec![Call::new("echo").data(big())], HalfClose::AfterSending)
        .max_frame(1024)
        .recording();
    let mut cfg = strata_frames::ServerConfig::new(Duplex::Full);
    cfg.max_frame = 1024;
    let srv = Framed::with_max_frame(CommandServer::with_config(cfg, Demo::default()), 1024);
    let mut pair =
        Pair::new(Framed::with_max_frame(caller, 1024), srv).chunking(Chunking::Fixed(333));
    assert!(pair.run());
    let out = pair.a.proto.app().outcome();
    assert_eq!(out.answers[0].as_ref().unwrap()[..], big()[..]);
    let frames_in = out
        .log
        .iter()
        .filter(|e| matches!(e, Event::Received(_)))
        .count();
    assert_eq!(frames_in, 99);
    assert_eq!(pair.a.proto.frame_counts(), (99, 1 + 98 + 1));
}
