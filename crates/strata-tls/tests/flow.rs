//! Flow control through TLS: pause_reading stops delivery at once, and a
//! peer that stops reading pauses the writer with memory bounded.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strata_core::{Bytes, Protocol, Reason, Transport};
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::Pair;

#[test]
fn pause_reading_stops_delivery_at_once() {
    let (c, s) = (Log::new(), Log::new());
    let data = vec![7u8; 200_000];
    let d = data.clone();
    let client = Recorder::new(&c).on_made(move |t| {
        t.write(Bytes::from(d.clone()));
        t.close_write();
    });
    let mut first = true;
    let server = Recorder::new(&s)
        .on_data(move |t, _| {
            if first {
                first = false;
                t.pause_reading();
                t.set_timer_after(Duration::from_millis(5));
            }
        })
        .on_timer(|t, _| t.resume_reading());
    // Whole chunks: the first delivery holds many TLS records at once.
    let mut pair = Pair::new(common::client().wrap(client), common::server().wrap(server));
    assert!(pair.run());
    assert_eq!(s.received(), data);
    let ev = s.events();
    let first_data = ev.iter().position(|e| matches!(e, Event::Data(_))).unwrap();
    let timer = ev
        .iter()
        .position(|e| matches!(e, Event::Timer(_)))
        .unwrap();
    assert_eq!(
        timer,
        first_data + 1,
        "nothing between pause and resume: {ev:?}"
    );
    // The end-of-stream waited for the buffered data too.
    let rc = ev.iter().position(|e| *e == Event::ReadClosed).unwrap();
    assert!(rc > timer + 1);
}

/// Writes 16 KiB pieces while the write buffer is under the high mark, up
/// to `total`; tracks the largest buffer it ever saw.
struct Producer {
    total: usize,
    sent: usize,
    max_seen: Arc<AtomicUsize>,
    pauses: Arc<AtomicUsize>,
}

const HIGH: usize = 64 * 1024;

impl Producer {
    fn fill(&mut self, t: &mut dyn Transport) {
        while self.sent < self.total && t.write_buffer_len() <= HIGH {
            let n = (16 * 1024).min(self.total - self.sent);
            t.write(Bytes::from(vec![1u8; n]));
            self.sent += n;
            self.max_seen
                .fetch_max(t.write_buffer_len(), Ordering::SeqCst);
        }
        if self.sent == self.total {
            t.close_write();
        }
    }
}

impl Protocol for Producer {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.fill(t)
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {}
    fn pause_writing(&mut self, _t: &mut dyn Transport) {
        self.pauses.fetch_add(1, Ordering::SeqCst);
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.fill(t)
    }
    fn connection_lost(&mut self, reason: Reason) {
        assert!(reason.is_done(), "{reason}");
    }
}

#[test]
fn a_peer_that_stops_reading_pauses_the_writer_with_bounded_memory() {
    let (max_seen, pauses) = (Arc::default(), Arc::default());
    let producer = Producer {
        total: 8 << 20,
        sent: 0,
        max_seen: Arc::clone(&max_seen),
        pauses: Arc::clone(&pauses),
    };
    // The server's protocol stops reading as soon as it is connected, and
    // resumes after a (virtual) second.
    let s = Log::new();
    let server = Recorder::new(&s)
        .on_made(|t| {
            t.pause_reading();
            t.set_timer_after(Duration::from_secs(1));
        })
        .on_timer(|t, _| t.resume_reading());
    let mut pair = Pair::new(
        common::client().wrap(producer),
        common::server().wrap(server),
    );
    pair.set_link_capacity(64 * 1024);
    for _ in 0..10 {
        pair.pump(); // no time passes: the server stays paused
    }
    let held = pair.a.t.queue.len() + pair.b.in_flight();
    assert!(
        pauses.load(Ordering::SeqCst) >= 1,
        "the writer was told to pause"
    );
    assert!(held < 4 * HIGH, "memory is bounded: {held} bytes held");
    let sent = pair.a.proto.app().sent;
    assert!(sent < 6 * HIGH, "the producer stopped after {sent} bytes");
    assert!(pair.run());
    assert_eq!(s.received_len(), 8 << 20);
    assert!(max_seen.load(Ordering::SeqCst) <= HIGH + 16 * 1024 + 1024);
}

/// The most ciphertext the layer lets wait below: its own 96 KiB mark,
/// plus at most one record beyond it, plus record overhead.
const MOST_BELOW: usize = 96 * 1024 + 16 * 1024 + 1024;

/// A protocol with marks far above its write: 1 MiB written in one
/// callback goes below in steps, as the link drains, and waits above as
/// plaintext meanwhile; the writer is never paused (its marks are not
/// reached) and every byte arrives. Observed from the writer's callbacks
/// (the peer echoes, so they come all through the transfer) through
/// `info()`, which reports each layer's buffer.
#[test]
fn a_large_write_goes_below_in_steps() {
    const TOTAL: usize = 1 << 20;
    let most_below = Arc::new(AtomicUsize::new(0));
    let most_plain = Arc::new(AtomicUsize::new(0));
    let (mb, mp) = (most_below.clone(), most_plain.clone());
    let look = move |t: &mut dyn Transport| {
        let info = t.info();
        let layer = |name: &str| {
            info.layers
                .iter()
                .find(|l| l.name == name)
                .unwrap()
                .buffered
        };
        mp.fetch_max(layer("tls"), Ordering::SeqCst);
        mb.fetch_max(layer("memory"), Ordering::SeqCst);
    };
    let look2 = look.clone();
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c)
        .on_made(move |t| {
            t.set_write_buffer_limits(4 << 20, 1 << 20);
            t.write(Bytes::from(vec![5u8; TOTAL]));
            t.close_write();
            look(t);
        })
        .on_data(move |t, _| look2(t));
    let server = Recorder::new(&s)
        .on_data(|t, d| t.write(d.clone()))
        .on_read_closed(|t| t.close_write());
    let mut pair = Pair::new(common::client().wrap(client), common::server().wrap(server));
    pair.set_link_capacity(64 * 1024);
    assert!(pair.run());
    assert_eq!(s.received_len(), TOTAL);
    assert_eq!(c.received_len(), TOTAL);
    let below = most_below.load(Ordering::SeqCst);
    assert!(
        below <= MOST_BELOW,
        "{below} bytes of ciphertext waited below"
    );
    let plain = most_plain.load(Ordering::SeqCst);
    assert!(
        plain >= TOTAL / 2,
        "the plaintext waited above: at most {plain} bytes"
    );
    let paused = c
        .events()
        .iter()
        .any(|e| matches!(e, Event::PauseWriting(_)));
    assert!(!paused, "paused below its marks: {:?}", c.events());
}

/// A writer paused by its marks is resumed once what it wrote has drained
/// to its low mark, also when the last piece of plaintext went below in a
/// step too small to pause the layer itself (100 KiB: a 64 KiB step, then
/// 36 KiB with the writer still paused). Every size around that is tried.
#[test]
fn a_paused_writer_is_resumed_after_the_last_step() {
    for total in [80 * 1024, 100 * 1024, 127 * 1024, 150 * 1024, 300 * 1024] {
        let (c, s) = (Log::new(), Log::new());
        let client = Recorder::new(&c)
            .on_made(move |t| {
                t.set_write_buffer_limits(HIGH, 16 * 1024);
                t.write(Bytes::from(vec![3u8; total]));
            })
            .on_resume(|t| t.close_write());
        let server = Recorder::new(&s).on_read_closed(|t| t.close_write());
        let mut pair = Pair::new(common::client().wrap(client), common::server().wrap(server));
        pair.set_link_capacity(64 * 1024);
        assert!(
            pair.run(),
            "{total}: the transfer did not finish: {:?}",
            c.events()
        );
        assert_eq!(s.received_len(), total);
        let ev = c.events();
        let resumed = ev.iter().find_map(|e| match e {
            Event::ResumeWriting(n) => Some(*n),
            _ => None,
        });
        assert!(
            matches!(resumed, Some(n) if n <= 16 * 1024),
            "{total}: {ev:?}"
        );
    }
}

/// Writes random pieces while it is not paused, until `total`, then
/// half-closes; records what `write_buffer_len` was at each pause and
/// resume.
struct Paced {
    rng: strata_testing::rng::Rng,
    marks: (usize, usize),
    total: usize,
    sent: usize,
    paused: bool,
    seen: Arc<std::sync::Mutex<Vec<(bool, usize)>>>,
}

impl Paced {
    fn fill(&mut self, t: &mut dyn Transport) {
        // Writes until above the high mark (so a pause is due), and then
        // sometimes a few pieces more: a callback may go far past it.
        let mut extra = self.rng.range(0, 3);
        while !self.paused && self.sent < self.total {
            if t.write_buffer_len() > self.marks.0 {
                if extra == 0 {
                    break;
                }
                extra -= 1;
            }
            let n = self.rng.range(1, 100 * 1024).min(self.total - self.sent);
            t.write(Bytes::from(vec![9u8; n]));
            self.sent += n;
        }
        if self.sent == self.total {
            t.close_write();
        }
    }
}

impl Protocol for Paced {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.set_write_buffer_limits(self.marks.0, self.marks.1);
        self.fill(t)
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {}
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.paused = true;
        self.seen.lock().unwrap().push((true, t.write_buffer_len()));
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.paused = false;
        self.seen
            .lock()
            .unwrap()
            .push((false, t.write_buffer_len()));
        self.fill(t)
    }
}

/// Random marks (from none to above what is written), random writes,
/// random link capacity and cuts: every transfer completes (the layer's
/// steps below never leave a paused writer without its resume), pause and
/// resume alternate, a pause comes above the high mark and a resume at
/// the low one.
#[test]
fn random_marks_and_writes_always_complete() {
    let mut rng = strata_testing::rng::Rng::new(7);
    for case in 0..60 {
        let choices = [0, 1024, 16 * 1024, 64 * 1024, 100 * 1024, 1 << 20];
        let high = choices[rng.range(0, choices.len() - 1)];
        let low = choices[rng.range(0, choices.len() - 1)].min(high);
        let total = rng.range(1, 1 << 20);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Paced {
            rng: strata_testing::rng::Rng::new(case),
            marks: (high, low),
            total,
            sent: 0,
            paused: false,
            seen: seen.clone(),
        };
        let s = Log::new();
        let server = Recorder::new(&s).on_read_closed(|t| t.close_write());
        let mut pair = Pair::new(common::client().wrap(writer), common::server().wrap(server))
            .chunking(strata_testing::Chunking::Random {
                seed: case,
                max: rng.range(1, 64 * 1024),
            });
        pair.set_link_capacity(rng.range(1024, 512 * 1024));
        let what = format!("case {case}: marks {high}/{low}, {total} bytes");
        assert!(
            pair.run(),
            "{what}: did not finish; {:?}",
            seen.lock().unwrap()
        );
        assert_eq!(s.received_len(), total, "{what}");
        let seen = seen.lock().unwrap();
        for (i, &(pause, len)) in seen.iter().enumerate() {
            assert_eq!(pause, i % 2 == 0, "{what}: not alternating: {seen:?}");
            if pause {
                assert!(len > high, "{what}: paused at {len}: {seen:?}");
            } else {
                assert!(len <= low, "{what}: resumed at {len}: {seen:?}");
            }
        }
    }
}
