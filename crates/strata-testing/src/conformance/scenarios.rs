//! The scenarios of the conformance suite, one function each.
//!
//! Each takes `&mut dyn PairRunner`, builds a scripted client and server
//! ([`Recorder`]s), runs them over the runner's transport and asserts on what
//! each side saw. Every scenario also checks the single-side contract
//! ([`Log::check_contract`]) on both sides.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{Bytes, BytesMut, TimerId, Transport};

use super::{Event, Log, PairRunner, Recorder};
use crate::rng::{pattern, Rng};

/// Bytes moved by the bulk scenarios: more than the default high-water mark
/// and than a mux window, small enough for one-byte chunking.
pub const BULK: usize = 256 * 1024;

/// Write `data` in pieces of seeded-random sizes (1 byte to 16 KiB), each
/// by `write`, by `write_slice` or by `write_buf` (from one buffer, reused
/// as a framing layer reuses its own) at random: the three interleave in
/// order, and `write_buf` always hands the buffer back empty.
pub fn write_in_pieces(t: &mut dyn Transport, data: &[u8], seed: u64) {
    let mut rng = Rng::new(seed);
    let mut buf = BytesMut::new();
    let mut at = 0;
    while at < data.len() {
        let n = rng.range(1, 16 * 1024).min(data.len() - at);
        let piece = &data[at..at + n];
        match rng.range(0, 2) {
            0 => t.write(Bytes::copy_from_slice(piece)),
            1 => t.write_slice(piece),
            _ => {
                buf.extend_from_slice(piece);
                t.write_buf(&mut buf);
                assert!(buf.is_empty(), "write_buf left bytes in the buffer");
            }
        }
        at += n;
    }
}

fn check(r: &dyn PairRunner, client: &Log, server: &Log) {
    if let Err(e) = client.check_contract() {
        panic!("[{}] client broke the contract: {e}", r.name());
    }
    if let Err(e) = server.check_contract() {
        panic!("[{}] server broke the contract: {e}", r.name());
    }
}

fn pos(log: &Log, e: Event) -> usize {
    log.position(|x| *x == e)
        .unwrap_or_else(|| panic!("expected {e:?} in {:?}", log.events()))
}

fn assert_same(r: &dyn PairRunner, what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "[{}] {what}: got {} bytes, want {} (first difference at {:?})",
            r.name(),
            got.len(),
            want.len(),
            first
        );
    }
}

fn assert_lost(r: &dyn PairRunner, who: &str, log: &Log, kind: &str) {
    assert_eq!(
        log.lost(),
        Some(kind),
        "[{}] {who} ended with {:?}, want {kind}; events {:?}",
        r.name(),
        log.lost_reason(),
        log.events()
    );
}

fn count(log: &Log, f: impl Fn(&Event) -> bool) -> usize {
    log.events().iter().filter(|e| f(e)).count()
}

/// Data both ways: the client streams bytes in odd-sized writes and
/// half-closes; the server echoes and half-closes after the client's end.
/// Both see everything, in order; the client sees `write_closed` before
/// `read_closed`.
pub fn echo_both_ways(r: &mut dyn PairRunner) {
    let data = pattern(1, 100_000);
    let (c, s) = (Log::new(), Log::new());
    let d = data.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        write_in_pieces(t, &d, 1);
        t.close_write();
    });
    let server = Recorder::new(&s)
        .on_data(|t, b| t.write(b.clone()))
        .on_read_closed(|t| t.close_write());
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &data);
    assert_same(r, "client received", &c.received(), &data);
    assert!(
        pos(&c, Event::WriteClosed) < pos(&c, Event::ReadClosed),
        "[{}] {:?}",
        r.name(),
        c.events()
    );
    assert!(
        pos(&s, Event::ReadClosed) < pos(&s, Event::WriteClosed),
        "[{}] {:?}",
        r.name(),
        s.events()
    );
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// The client sends a request and half-closes; the server answers after the
/// client's end-of-stream, then closes.
pub fn client_half_close_then_server_replies(r: &mut dyn PairRunner) {
    let request = pattern(2, 1000);
    let reply = pattern(3, BULK);
    let (c, s) = (Log::new(), Log::new());
    let rq = request.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        t.write(Bytes::from(rq.clone()));
        t.close_write();
    });
    let rp = reply.clone();
    let server = Recorder::new(&s).on_read_closed(move |t| {
        write_in_pieces(t, &rp, 3);
        t.close();
    });
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &request);
    assert_same(r, "client received", &c.received(), &reply);
    assert!(pos(&c, Event::WriteClosed) < pos(&c, Event::ReadClosed));
    assert!(
        !s.has(&Event::WriteClosed),
        "[{}] close() must not report write_closed",
        r.name()
    );
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// The server speaks first and half-closes; the client answers after the
/// server's end-of-stream, then half-closes too.
pub fn server_half_close_then_client_replies(r: &mut dyn PairRunner) {
    let greeting = pattern(4, 50_000);
    let answer = pattern(5, 70_000);
    let (c, s) = (Log::new(), Log::new());
    let an = answer.clone();
    let client = Recorder::new(&c).on_read_closed(move |t| {
        write_in_pieces(t, &an, 5);
        t.close_write();
    });
    let gr = greeting.clone();
    let server = Recorder::new(&s).on_made(move |t| {
        write_in_pieces(t, &gr, 4);
        t.close_write();
    });
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "client received", &c.received(), &greeting);
    assert_same(r, "server received", &s.received(), &answer);
    assert!(pos(&c, Event::ReadClosed) < pos(&c, Event::WriteClosed));
    assert!(pos(&s, Event::WriteClosed) < pos(&s, Event::ReadClosed));
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// Both sides write a bulk stream and half-close at once, without waiting
/// for the other. Each sees all the other's bytes, both half-close
/// callbacks, and a clean end.
pub fn simultaneous_half_close(r: &mut dyn PairRunner) {
    let a = pattern(6, BULK);
    let b = pattern(7, BULK);
    let (c, s) = (Log::new(), Log::new());
    let (a2, b2) = (a.clone(), b.clone());
    let client = Recorder::new(&c)
        .on_made(move |t| {
            write_in_pieces(t, &a2, 6);
            t.close_write();
        })
        .on_read_closed(|_| {});
    let server = Recorder::new(&s)
        .on_made(move |t| {
            write_in_pieces(t, &b2, 7);
            t.close_write();
        })
        .on_read_closed(|_| {});
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &a);
    assert_same(r, "client received", &c.received(), &b);
    for (who, log) in [("client", &c), ("server", &s)] {
        assert!(
            log.has(&Event::WriteClosed),
            "[{}] {who}: no write_closed: {:?}",
            r.name(),
            log.events()
        );
        assert!(
            log.has(&Event::ReadClosed),
            "[{}] {who}: no read_closed",
            r.name()
        );
        assert_lost(r, who, log, "done");
    }
}

/// `close()` flushes: the server writes a bulk stream and closes at once;
/// the client still gets every byte, then a clean end. After `close()` the
/// server sees nothing but `connection_lost`.
pub fn close_flushes_buffered_data(r: &mut dyn PairRunner) {
    let data = pattern(8, BULK);
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c);
    let d = data.clone();
    let server = Recorder::new(&s).on_made(move |t| {
        write_in_pieces(t, &d, 8);
        t.close();
    });
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "client received", &c.received(), &data);
    assert!(c.has(&Event::ReadClosed));
    let after_made: Vec<_> = s.events().into_iter().skip(1).collect();
    assert!(
        matches!(after_made.as_slice(), [Event::Lost("done")]),
        "[{}] after close() the server must see only connection_lost: {after_made:?}",
        r.name()
    );
    assert_lost(r, "client", &c, "done");
}

/// A `close()` with nothing written ends both sides cleanly.
pub fn close_immediately(r: &mut dyn PairRunner) {
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c).on_made(|t| t.close());
    let server = Recorder::new(&s);
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_eq!(
        c.events(),
        vec![Event::Made, Event::Lost("done")],
        "[{}]",
        r.name()
    );
    assert_eq!(s.received_len(), 0);
    assert!(
        s.has(&Event::ReadClosed),
        "[{}] server: {:?}",
        r.name(),
        s.events()
    );
    assert_lost(r, "server", &s, "done");
}

/// `abort()` drops what is buffered and ends at once: the aborting side sees
/// exactly `connection_lost(Aborted)`; the peer receives none of the dropped
/// bytes and sees a reset where the transport can express one.
pub fn abort_drops_buffer_and_resets_peer(r: &mut dyn PairRunner) {
    let (c, s) = (Log::new(), Log::new());
    let cl = c.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        t.write(Bytes::from(pattern(9, 4 * BULK)));
        t.abort();
        if t.can_write() {
            cl.note("violation: can_write() after abort()");
        }
    });
    let server = Recorder::new(&s);
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_eq!(
        c.events(),
        vec![Event::Made, Event::Lost("aborted")],
        "[{}]",
        r.name()
    );
    assert!(
        s.received_len() < 4 * BULK,
        "[{}] the peer received all {} bytes of an aborted write",
        r.name(),
        s.received_len()
    );
    if r.caps().resets_visible {
        assert!(
            matches!(s.lost(), Some("reset") | Some("error")),
            "[{}] peer of an abort ended with {:?}, want a reset",
            r.name(),
            s.lost_reason()
        );
        assert!(
            !s.has(&Event::ReadClosed),
            "[{}] a reset is not an end-of-stream",
            r.name()
        );
    }
}

/// The server aborts in the middle of a stream: nothing reaches it after
/// `abort()`, and the client sees its connection reset.
pub fn abort_mid_stream(r: &mut dyn PairRunner) {
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c).on_made(|t| {
        write_in_pieces(t, &pattern(10, 4 * BULK), 10);
        t.close_write();
    });
    let mut seen = 0;
    let server = Recorder::new(&s).on_data(move |t, b| {
        seen += b.len();
        if seen >= 64 * 1024 {
            t.abort();
        }
    });
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    let ev = s.events();
    assert!(
        matches!(ev.as_slice(), [.., Event::Data(_), Event::Lost("aborted")]),
        "[{}] server: {:?}",
        r.name(),
        &ev[ev.len().saturating_sub(3)..]
    );
    if r.caps().resets_visible {
        assert!(
            matches!(c.lost(), Some("reset") | Some("error")),
            "[{}] client ended with {:?}, want a reset",
            r.name(),
            c.lost_reason()
        );
        assert!(
            !c.has(&Event::ReadClosed),
            "[{}] a reset is not an end-of-stream",
            r.name()
        );
    }
}

/// A write after `close_write` is a logged no-op: `can_write()` says so
/// beforehand, and the bytes never reach the peer.
pub fn write_after_close_write_is_dropped(r: &mut dyn PairRunner) {
    let (c, s) = (Log::new(), Log::new());
    let cl = c.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        if !t.can_write() {
            cl.note("violation: cannot write in connection_made");
        }
        t.write_slice(b"abc");
        t.close_write();
        if t.can_write() {
            cl.note("violation: can_write() after close_write()");
        }
        t.write_slice(b"zzz");
        let mut buf = BytesMut::from(&b"yyy"[..]);
        t.write_buf(&mut buf);
        if !buf.is_empty() {
            cl.note("violation: write_buf after close_write left its buffer full");
        }
    });
    let server = Recorder::new(&s);
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_eq!(s.received(), b"abc", "[{}]", r.name());
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// The peer's end-of-stream with the default `read_closed` closes our side
/// too; the half-closing client sees its `write_closed`, then `read_closed`.
pub fn peer_close_default_closes_both(r: &mut dyn PairRunner) {
    let data = pattern(11, 10_000);
    let (c, s) = (Log::new(), Log::new());
    let d = data.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        t.write(Bytes::from(d.clone()));
        t.close_write();
    });
    let server = Recorder::new(&s);
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &data);
    assert!(pos(&c, Event::WriteClosed) < pos(&c, Event::ReadClosed));
    assert!(!s.has(&Event::WriteClosed));
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// `pause_reading` stops `data_received` until `resume_reading`, at the
/// start and in the middle of a stream, and loses nothing.
pub fn pause_reading_loses_nothing(r: &mut dyn PairRunner) {
    let data = pattern(12, BULK);
    let (c, s) = (Log::new(), Log::new());
    let d = data.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        write_in_pieces(t, &d, 12);
        t.close_write();
    });
    let paused = Arc::new(AtomicBool::new(false));
    let (p1, p2, p3) = (paused.clone(), paused.clone(), paused.clone());
    let sl = s.clone();
    let mut seen = 0;
    let mut paused_mid = false;
    let server = Recorder::new(&s)
        .on_made(move |t| {
            t.pause_reading();
            p1.store(true, Ordering::SeqCst);
            t.set_timer_after(Duration::from_millis(20));
        })
        .on_data(move |t, b| {
            if p2.load(Ordering::SeqCst) {
                sl.note("violation: data_received while reading is paused");
            }
            seen += b.len();
            if seen >= BULK / 2 && !paused_mid {
                paused_mid = true;
                t.pause_reading();
                p2.store(true, Ordering::SeqCst);
                t.set_timer_after(Duration::from_millis(20));
            }
        })
        .on_timer(move |t, _| {
            p3.store(false, Ordering::SeqCst);
            t.resume_reading();
        });
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &data);
    assert_eq!(
        count(&s, |e| matches!(e, Event::Timer(_))),
        2,
        "[{}] {:?}",
        r.name(),
        s.events()
    );
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// Water marks: a writer whose buffer rises above the high mark gets
/// `pause_writing`, and `resume_writing` once it drains to the low mark.
pub fn water_marks_pause_and_resume_writing(r: &mut dyn PairRunner) {
    water_marks(r, BULK, |t, d| write_in_pieces(t, d, 13));
}

/// Water marks after one write of 100 KiB, between the high mark and
/// twice it: a layer that passes it below in pieces (TLS encrypts in
/// steps) must still resume the writer when the last piece, too small to
/// cross a mark by itself, has drained.
pub fn water_marks_after_one_large_write(r: &mut dyn PairRunner) {
    water_marks(r, 100 * 1024, |t, d| t.write(Bytes::copy_from_slice(d)));
}

/// The water-mark scenarios: the client sets marks of 64 KiB / 16 KiB and
/// writes `len` bytes with `write` at once, while the server does not read
/// for a while; the client must be paused above the high mark and resumed
/// at the low one (then it closes its side).
fn water_marks(
    r: &mut dyn PairRunner,
    len: usize,
    write: impl Fn(&mut dyn Transport, &[u8]) + Send + 'static,
) {
    const HIGH: usize = 64 * 1024;
    const LOW: usize = 16 * 1024;
    let data = pattern(13, len);
    let (c, s) = (Log::new(), Log::new());
    let d = data.clone();
    let client = Recorder::new(&c)
        .on_made(move |t| {
            t.set_write_buffer_limits(HIGH, LOW);
            write(t, &d);
        })
        .on_resume(|t| t.close_write());
    let server = Recorder::new(&s)
        .on_made(|t| {
            t.pause_reading();
            t.set_timer_after(Duration::from_millis(20));
        })
        .on_timer(|t, _| t.resume_reading());
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &data);
    let ev = c.events();
    let pause = ev.iter().position(|e| matches!(e, Event::PauseWriting(_)));
    let resume = ev.iter().position(|e| matches!(e, Event::ResumeWriting(_)));
    match (pause, resume) {
        (Some(p), Some(q)) if p < q => {
            let Event::PauseWriting(at_pause) = ev[p] else {
                unreachable!()
            };
            let Event::ResumeWriting(at_resume) = ev[q] else {
                unreachable!()
            };
            assert!(at_pause > HIGH, "[{}] paused at {at_pause} bytes", r.name());
            assert!(
                at_resume <= LOW,
                "[{}] resumed at {at_resume} bytes",
                r.name()
            );
        }
        _ => panic!(
            "[{}] want pause_writing then resume_writing: {ev:?}",
            r.name()
        ),
    }
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// Timers set through the transport fire in deadline order; a cancelled one
/// never fires.
pub fn timers_fire_in_order_and_cancel(r: &mut dyn PairRunner) {
    let (c, s) = (Log::new(), Log::new());
    let ids: Arc<Mutex<Vec<TimerId>>> = Arc::default();
    let (i1, i2) = (ids.clone(), ids.clone());
    let client = Recorder::new(&c)
        .on_made(move |t| {
            let late = t.set_timer_after(Duration::from_millis(30));
            let cancelled = t.set_timer_after(Duration::from_millis(10));
            let early = t.set_timer_after(Duration::from_millis(1));
            t.cancel_timer(cancelled);
            *i1.lock().unwrap() = vec![early, late, cancelled];
        })
        .on_timer(move |t, id| {
            if id == i2.lock().unwrap()[1] {
                t.close();
            }
        });
    let server = Recorder::new(&s);
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    let ids = ids.lock().unwrap().clone();
    let fired: Vec<_> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Timer(id) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(
        fired,
        vec![ids[0], ids[1]],
        "[{}] timers fired {fired:?}, set {ids:?}",
        r.name()
    );
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// Both sides stream in both directions at once, far past their water
/// marks, without reading in step: nothing deadlocks and nothing is lost.
pub fn bulk_both_directions(r: &mut dyn PairRunner) {
    let a = pattern(14, 2 * BULK);
    let b = pattern(15, 2 * BULK);
    let (c, s) = (Log::new(), Log::new());
    let (a2, b2) = (a.clone(), b.clone());
    let client = Recorder::new(&c)
        .on_made(move |t| {
            write_in_pieces(t, &a2, 14);
            t.close_write();
        })
        .on_read_closed(|t| t.close());
    let server = Recorder::new(&s)
        .on_made(move |t| {
            write_in_pieces(t, &b2, 15);
        })
        .on_read_closed(|t| t.close_write());
    r.run(client.boxed(), server.boxed());
    check(r, &c, &s);
    assert_same(r, "server received", &s.received(), &a);
    assert_same(r, "client received", &c.received(), &b);
    assert_lost(r, "client", &c, "done");
    assert_lost(r, "server", &s, "done");
}

/// Invoke the conformance suite for one transport: generates a module `$name`
/// with one `#[test]` per scenario, each running `$runner` (an expression
/// making a fresh [`PairRunner`](crate::conformance::PairRunner)).
///
/// ```
/// use strata_testing::{conformance::MemoryRunner, conformance_suite, Chunking};
///
/// conformance_suite!(memory_1_byte, MemoryRunner::new(Chunking::Fixed(1)));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($name:ident, $runner:expr) => {
        #[allow(unused_imports)]
        mod $name {
            use super::*;
            use $crate::conformance as __c;
            fn __runner() -> impl __c::PairRunner {
                $runner
            }
            $crate::conformance_suite!(@tests
                echo_both_ways,
                client_half_close_then_server_replies,
                server_half_close_then_client_replies,
                simultaneous_half_close,
                close_flushes_buffered_data,
                close_immediately,
                abort_drops_buffer_and_resets_peer,
                abort_mid_stream,
                write_after_close_write_is_dropped,
                peer_close_default_closes_both,
                pause_reading_loses_nothing,
                water_marks_pause_and_resume_writing,
                water_marks_after_one_large_write,
                timers_fire_in_order_and_cancel,
                bulk_both_directions
            );
        }
    };
    (@tests $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                let mut r = __runner();
                __c::$scenario(&mut r);
            }
        )*
    };
}
