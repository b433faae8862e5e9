//! The harness's own behaviours: backpressure through a stalled reader,
//! cut and reset links, virtual time, and the lossy datagram network.

use std::time::Duration;

use strata_core::{Bytes, DatagramProtocol, DatagramTransport, Reason, Transport};
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::datagram::{DatagramPair, Faults};
use strata_testing::doubles::{Call, RecordingTransport};
use strata_testing::{Chunking, Pair};

#[test]
fn a_stalled_reader_pushes_back_on_the_writer() {
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c).on_made(|t| t.write(Bytes::from(vec![7u8; 1 << 20])));
    let server = Recorder::new(&s);
    let mut pair = Pair::new(client, server).chunking(Chunking::Fixed(4096));
    pair.set_link_capacity(64 * 1024);
    pair.stall(false, true);
    pair.pump();
    // The link holds 64 KiB; the rest stays in the client's buffer.
    assert_eq!(pair.b.in_flight(), 64 * 1024);
    assert_eq!(pair.a.t.write_buffer_len(), (1 << 20) - 64 * 1024);
    assert_eq!(s.received_len(), 0);
    assert!(c.has(&Event::PauseWriting(1 << 20)));
    pair.stall(false, false);
    pair.pump();
    assert_eq!(s.received_len(), 1 << 20);
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::ResumeWriting(0))));
}

#[test]
fn reset_ends_both_sides_with_reset() {
    let (c, s) = (Log::new(), Log::new());
    let mut pair = Pair::new(Recorder::new(&c), Recorder::new(&s));
    pair.pump();
    pair.reset();
    assert_eq!(c.lost(), Some("reset"));
    assert_eq!(s.lost(), Some("reset"));
}

#[test]
fn a_cut_link_moves_nothing_but_timers_still_fire() {
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c)
        .on_made(|t| {
            t.set_timer_after(Duration::from_secs(30));
        })
        .on_timer(|t, _| t.abort());
    let mut pair = Pair::new(client, Recorder::new(&s));
    pair.pump();
    pair.cut();
    pair.a.t.write(Bytes::from_static(b"lost in the cable"));
    pair.advance(Duration::from_secs(29));
    assert_eq!(s.received_len(), 0);
    assert_eq!(c.lost(), None);
    pair.advance(Duration::from_secs(1));
    assert_eq!(c.lost(), Some("aborted"));
    // The peer was never told: the cable was cut.
    assert_eq!(s.lost(), None);
    assert_eq!(pair.elapsed(), Duration::from_secs(30));
}

#[test]
fn recording_transport_records_calls() {
    let mut t = RecordingTransport::new();
    t.write_slice(b"abc");
    let id = t.set_timer_after(Duration::from_millis(5));
    t.close_write();
    t.write_slice(b"def");
    assert_eq!(&t.take_written()[..], b"abc");
    assert!(t.called(&Call::SetTimer(id, Duration::from_millis(5))));
    assert!(t.called(&Call::CloseWrite));
    assert!(!t.can_write());
}

/// Counts datagrams and echoes a reply for each.
#[derive(Default)]
struct Ping {
    sent: u32,
    got: Vec<u32>,
    stopped: Option<Reason>,
}

impl DatagramProtocol for Ping {
    fn started(&mut self, t: &mut dyn DatagramTransport) {
        if t.local_addr() == DatagramPair::<Ping, Ping>::ADDR_A {
            for i in 0..200u32 {
                t.send_to(
                    Bytes::copy_from_slice(&i.to_be_bytes()),
                    DatagramPair::<Ping, Ping>::ADDR_B,
                );
                self.sent += 1;
            }
            t.set_timer_after(Duration::from_secs(1));
        }
    }
    fn datagram_received(
        &mut self,
        _t: &mut dyn DatagramTransport,
        data: Bytes,
        _from: std::net::SocketAddr,
    ) {
        self.got
            .push(u32::from_be_bytes(data[..4].try_into().unwrap()));
    }
    fn timer_fired(&mut self, t: &mut dyn DatagramTransport, _timer: strata_core::TimerId) {
        t.close();
    }
    fn stopped(&mut self, reason: Reason) {
        self.stopped = Some(reason);
    }
}

#[test]
fn datagram_faults_are_seeded_and_visible() {
    let faults = Faults {
        drop: 0.1,
        duplicate: 0.1,
        reorder: 0.3,
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(20),
    };
    let run = |seed| {
        let mut pair = DatagramPair::new(Ping::default(), Ping::default(), faults, seed);
        pair.advance(Duration::from_secs(2));
        assert!(pair.a.proto.stopped.as_ref().is_some_and(Reason::is_done));
        (pair.b.proto.got.clone(), pair.dropped)
    };
    let (got, dropped) = run(7);
    assert_eq!(run(7), (got.clone(), dropped), "same seed, same run");
    assert!(dropped > 0, "some datagrams were dropped");
    let mut sorted = got.clone();
    sorted.sort();
    assert_ne!(got, sorted, "some datagrams were reordered");
    sorted.dedup();
    assert!(sorted.len() < got.len(), "some datagrams were duplicated");
    assert!(sorted.len() < 200, "the dropped ones never arrived");
}

#[test]
fn a_perfect_datagram_network_delivers_in_order() {
    let mut pair = DatagramPair::new(Ping::default(), Ping::default(), Faults::default(), 1);
    pair.advance(Duration::from_millis(5));
    assert_eq!(pair.b.proto.got, (0..200).collect::<Vec<_>>());
}

#[test]
fn a_closed_side_lingers_and_late_data_does_not_reset_the_sender() {
    // The server closes at once; the client, not knowing yet, sends data and
    // half-closes. As under the tokio driver, the closed side discards what
    // arrives, and both ends finish cleanly.
    let (c, s) = (Log::new(), Log::new());
    let client = Recorder::new(&c).on_made(|t| {
        t.write(Bytes::from(vec![1u8; 100_000]));
        t.close_write();
    });
    let server = Recorder::new(&s).on_made(|t| t.close());
    let mut pair = Pair::new(client, server).chunking(Chunking::Fixed(1000));
    assert!(pair.run());
    assert_eq!(s.lost(), Some("done"));
    assert_eq!(c.lost(), Some("done"));
    assert_eq!(s.received_len(), 0);
}
