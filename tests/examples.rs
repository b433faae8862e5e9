//! The examples, as tests.
//!
//! Each example keeps its logic in a `run()` function; the files are
//! included here as modules and `run()` is called under a timeout, over
//! real sockets on 127.0.0.1. The same protocols are also run over the
//! in-memory harness with hostile chunkings (down to one byte at a time),
//! which is the point of writing them sans-IO: the protocol cannot tell.

use std::time::Duration;

use strata::Reason;
use strata_testing::{Chunking, Pair};
use tokio::sync::oneshot;

#[path = "../examples/line_protocol.rs"]
#[allow(dead_code)] // each example's `main` is not used here
mod line_protocol;

#[path = "../examples/half_close.rs"]
#[allow(dead_code)]
mod half_close;

#[path = "../examples/layer.rs"]
#[allow(dead_code)]
mod layer;

// Lesson 4 reuses lesson 1's echo server by including `echo.rs` as a module;
// lesson 1 is reached through it rather than loaded twice.
use layer::echo;

const LIMIT: Duration = Duration::from_secs(30);

async fn within_limit<E: std::fmt::Display>(
    name: &str,
    f: impl std::future::Future<Output = Result<(), E>>,
) {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("example {name} failed: {e}"),
        Err(_) => panic!("example {name} did not finish within {LIMIT:?}"),
    }
}

// --- over TCP, exactly as `cargo run --example NAME` runs them ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_over_tcp() {
    within_limit("echo", echo::run()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_protocol_over_tcp() {
    within_limit("line_protocol", line_protocol::run()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_over_tcp() {
    within_limit("half_close", half_close::run()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_over_tcp() {
    within_limit("layer", layer::run()).await;
}

// --- the same protocols over the in-memory harness ---------------------------

#[test]
fn echo_one_byte_at_a_time() {
    let (report, mut outcome) = oneshot::channel();
    let mut pair =
        Pair::new(echo::EchoClient::new(report), echo::Echo).chunking(Chunking::Fixed(1));
    pair.run();
    let out = outcome.try_recv().expect("the client reported");
    assert!(out.reason.is_done(), "{}", out.reason);
    assert_eq!(out.echoed, echo::LINES.concat().into_bytes());
}

#[test]
fn line_protocol_under_every_chunking() {
    let chunkings = [
        Chunking::Whole,
        Chunking::Fixed(1),
        Chunking::Fixed(7),
        Chunking::Random { seed: 3, max: 64 },
    ];
    for chunking in chunkings {
        let (report, mut outcome) = oneshot::channel();
        let client = line_protocol::KvClient::new(report);
        let mut pair = Pair::new(client, line_protocol::KvServer::new()).chunking(chunking);
        pair.run();
        let out = outcome.try_recv().expect("the client reported");
        assert_eq!(
            out.replies,
            line_protocol::expected_replies(),
            "{chunking:?}"
        );
        // The server closes while the rest of the over-long line (and the
        // request after it) is still on its way. The harness answers bytes
        // sent to a side that is gone with a reset, as a kernel does for a
        // socket closed with data arriving, so unless the whole script
        // arrived in one piece the client ends with `Reset` — after every
        // reply was delivered. (Over TCP the driver lingers after a clean
        // close, reading and discarding until the peer's FIN, so the real
        // run ends `Done`; `line_protocol_over_tcp` checks that.)
        assert!(
            matches!(out.reason, Reason::Done | Reason::Reset),
            "{chunking:?}: {}",
            out.reason
        );
    }
}

#[test]
fn line_buffer_edges() {
    use line_protocol::{LineBuffer, LineTooLong};
    let mut b = LineBuffer::new(4);
    b.push(b"ab");
    assert_eq!(b.next_line(), Ok(None));
    b.push(b"cd\r");
    assert_eq!(
        b.next_line(),
        Ok(None),
        "a line of exactly the limit, waiting"
    );
    b.push(b"\nx\n\n");
    assert_eq!(b.next_line().unwrap().as_deref(), Some(&b"abcd"[..]));
    assert_eq!(b.next_line().unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(b.next_line().unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(b.next_line(), Ok(None));
    b.push(b"abcde\n");
    assert_eq!(b.next_line(), Err(LineTooLong { max: 4 }));

    let mut b = LineBuffer::new(4);
    for byte in b"abcdefgh" {
        b.push(&[*byte]);
        if b.next_line().is_err() {
            return;
        }
    }
    panic!("an unterminated over-long line was never refused");
}

#[test]
fn half_close_under_random_chunking() {
    let (report, mut outcome) = oneshot::channel();
    let client = half_close::Uploader::new(1 << 20, report);
    let mut pair = Pair::new(client, half_close::DigestServer::default())
        .chunking(Chunking::Random { seed: 7, max: 3000 });
    pair.run();
    let out = outcome.try_recv().expect("the client reported");
    half_close::check(&out).unwrap();
    assert_eq!(out.sent, 1 << 20);
    assert!(out.pauses > 0, "the upload never had to pause");
}

#[test]
fn layer_times_out_on_the_virtual_clock() {
    // No server protocol of interest here: lesson 1's echo.
    let (report, mut outcome) = oneshot::channel();
    let client = layer::IdleTimeout::new(layer::Chatty::new(report), layer::IDLE);
    let mut pair = Pair::new(client, echo::Echo).chunking(Chunking::Fixed(1));
    pair.run();
    let out = outcome.try_recv().expect("the client reported");
    assert!(matches!(out.reason, Reason::TimedOut), "{}", out.reason);
    assert_eq!(out.echoed, b"one\ntwo\n");
    assert_eq!(out.layers, ["memory", "idle-timeout"]);
    // The clock is virtual: 30 ms to the second line, then 100 ms of
    // silence, in no real time at all.
    assert!(pair.elapsed() >= layer::IDLE + std::time::Duration::from_millis(30));
}
