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
