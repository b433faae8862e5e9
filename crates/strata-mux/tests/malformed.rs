//! Malformed input from the peer: every case ends the connection with
//! GoAway(protocol error) on the wire and a precise `MuxError` as the
//! `connection_lost` reason of every live subchannel — and tolerated
//! oddities (data in flight for a stream we reset) do not.

use std::sync::{Arc, Mutex};

use strata_core::{BoxProtocol, Bytes, Protocol, Reason, Transport, TransportInfo};
use strata_mux::frame::{Decoder, Flags, FrameError, FrameType, Header, Item};
use strata_mux::{Config, GoAwayCode, Mux, MuxError, INITIAL_WINDOW};
use strata_testing::{Chunking, Pair};

/// A peer speaking raw bytes: writes its script, half-closes, records
/// everything it receives.
struct Raw {
    script: Vec<u8>,
    got: Arc<Mutex<Vec<u8>>>,
}

impl Protocol for Raw {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(Bytes::from(std::mem::take(&mut self.script)));
        t.close_write();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.got.lock().unwrap().extend_from_slice(&data);
    }
}

/// A subchannel app that records how it ended.
struct Capture {
    lost: Arc<Mutex<Vec<Reason>>>,
    abort_at_start: bool,
}

impl Protocol for Capture {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        if self.abort_at_start {
            t.abort();
        }
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
    fn connection_lost(&mut self, reason: Reason) {
        self.lost.lock().unwrap().push(reason);
    }
}

fn frame(h: Header, payload: &[u8]) -> Vec<u8> {
    let mut v = h.encode().to_vec();
    v.extend_from_slice(payload);
    v
}

fn syn(id: u32) -> Vec<u8> {
    frame(Header::window_update(id, Flags::SYN, 0), b"")
}

struct Outcome {
    frames: Vec<Header>,
    lost: Vec<Reason>,
    mux_failed: bool,
}

impl Outcome {
    fn go_away(&self) -> Option<GoAwayCode> {
        self.frames
            .iter()
            .find(|h| h.ty == FrameType::GoAway)
            .map(|h| GoAwayCode::from_u32(h.length))
    }
}

/// Run `script` against a mux server whose subchannels are `Capture`s,
/// fed in `chunk`-byte pieces.
fn run(script: Vec<u8>, chunk: usize, abort_at_start: bool) -> Outcome {
    let got = Arc::new(Mutex::new(Vec::new()));
    let lost = Arc::new(Mutex::new(Vec::new()));
    let l2 = lost.clone();
    let server = Mux::server(Config::default(), move |_: &TransportInfo| {
        Box::new(Capture {
            lost: l2.clone(),
            abort_at_start,
        }) as BoxProtocol
    });
    let raw = Raw {
        script,
        got: got.clone(),
    };
    let mut pair = Pair::new(raw, server).chunking(Chunking::Fixed(chunk));
    assert!(pair.run(), "the pair did not finish");
    let mut d = Decoder::new(u32::MAX);
    let mut input = Bytes::from(got.lock().unwrap().clone());
    let mut frames = Vec::new();
    while let Some(item) = d.next(&mut input).expect("the mux sends valid frames") {
        if let Item::Header(h) = item {
            frames.push(h);
        }
    }
    let lost = lost.lock().unwrap().clone();
    Outcome {
        frames,
        lost,
        mux_failed: pair.b.proto.is_failed(),
    }
}

fn mux_error(r: &Reason) -> MuxError {
    r.source()
        .and_then(|e| e.downcast_ref::<MuxError>())
        .unwrap_or_else(|| panic!("not a mux error: {r}"))
        .clone()
}

/// `script` (after opening stream 1, whose app must see the error) ends the
/// connection with GoAway(protocol error) and an error `check` accepts, in
/// every chunking.
fn assert_violation(script: Vec<u8>, check: impl Fn(&MuxError) -> bool) {
    let mut full = syn(1);
    full.extend_from_slice(&script);
    for chunk in [1, 5, 12, 4096] {
        let o = run(full.clone(), chunk, false);
        assert!(o.mux_failed, "chunk {chunk}: the mux did not fail");
        assert_eq!(
            o.go_away(),
            Some(GoAwayCode::ProtocolError),
            "chunk {chunk}: {:?}",
            o.frames
        );
        assert!(
            o.lost.iter().any(|r| r.kind() == "error"),
            "chunk {chunk}: no subchannel saw the error: {:?}",
            o.lost
        );
        for r in o.lost.iter().filter(|r| r.kind() == "error") {
            let e = mux_error(r);
            assert!(check(&e), "chunk {chunk}: unexpected error {e:?}");
        }
        // The reason reads well.
        assert!(!o.lost[0].to_string().is_empty());
    }
}

#[test]
fn unknown_version() {
    let mut bad = Header::data(1, Flags::NONE, 0).encode();
    bad[0] = 1;
    assert_violation(bad.to_vec(), |e| {
        *e == MuxError::Frame(FrameError::UnknownVersion(1))
    });
}

#[test]
fn unknown_type() {
    let mut bad = Header::data(1, Flags::NONE, 0).encode();
    bad[1] = 7;
    assert_violation(bad.to_vec(), |e| {
        *e == MuxError::Frame(FrameError::UnknownType(7))
    });
}

#[test]
fn wrong_parity_open() {
    assert_violation(syn(2), |e| *e == MuxError::WrongParity { stream: 2 });
}

#[test]
fn reused_stream_id() {
    // Opening a stream that is live again is a violation...
    let mut s = syn(3);
    s.extend(syn(5));
    s.extend(syn(3));
    assert_violation(s, |e| *e == MuxError::StreamIdReused { stream: 3, last: 5 });
}

#[test]
fn out_of_order_opens_are_accepted() {
    // ...but a new id below the highest is not: yamux sends a stream's SYN
    // with its first frame, so stream 3 may open after stream 5.
    let mut s = syn(1);
    s.extend(syn(5));
    s.extend(syn(3));
    for chunk in [1, 12, 4096] {
        let o = run(s.clone(), chunk, false);
        assert!(
            !o.mux_failed,
            "chunk {chunk}: out-of-order opens failed the mux"
        );
        assert_eq!(o.go_away(), None, "chunk {chunk}: {:?}", o.frames);
        let acks = o
            .frames
            .iter()
            .filter(|h| h.flags.contains(Flags::ACK) && [1, 3, 5].contains(&h.stream))
            .count();
        assert_eq!(
            acks, 3,
            "chunk {chunk}: every open acknowledged: {:?}",
            o.frames
        );
    }
}

#[test]
fn data_beyond_the_window() {
    let h = Header::data(1, Flags::NONE, INITIAL_WINDOW + 1);
    assert_violation(frame(h, b""), |e| {
        *e == MuxError::WindowExceeded {
            stream: 1,
            len: INITIAL_WINDOW + 1,
            window: INITIAL_WINDOW,
        }
    });
}

#[test]
fn data_beyond_the_window_over_several_frames() {
    let mut s = Vec::new();
    let piece = vec![0u8; 100_000];
    for _ in 0..3 {
        s.extend(frame(Header::data(1, Flags::NONE, 100_000), &piece));
    }
    // The app reads everything, so a window update was sent after half the
    // window: a peer that ignores it and sends past the window still fails.
    s.extend(frame(Header::data(1, Flags::NONE, 300_000), b""));
    assert_violation(s, |e| {
        matches!(e, MuxError::WindowExceeded { stream: 1, .. })
    });
}

#[test]
fn oversized_frame() {
    let max = Config::default().max_window;
    let h = Header::data(1, Flags::NONE, max + 1);
    assert_violation(frame(h, b""), |e| {
        *e == MuxError::Frame(FrameError::Oversized {
            length: max + 1,
            max,
        })
    });
}

#[test]
fn data_for_a_stream_never_opened() {
    assert_violation(frame(Header::data(7, Flags::NONE, 3), b"abc"), |e| {
        *e == MuxError::UnknownStream {
            ty: FrameType::Data,
            stream: 7,
        }
    });
}

#[test]
fn window_update_for_one_of_our_ids_never_opened() {
    assert_violation(frame(Header::window_update(4, Flags::NONE, 1), b""), |e| {
        *e == MuxError::UnknownStream {
            ty: FrameType::WindowUpdate,
            stream: 4,
        }
    });
}

#[test]
fn data_after_fin() {
    // Stream 1 ends cleanly at the FIN; stream 3 is there to see the error.
    let mut s = syn(3);
    s.extend(frame(Header::data(1, Flags::FIN, 2), b"hi"));
    s.extend(frame(Header::data(1, Flags::NONE, 3), b"abc"));
    assert_violation(s, |e| *e == MuxError::StreamClosed { stream: 1, len: 3 });
}

#[test]
fn credit_overflow() {
    assert_violation(
        frame(Header::window_update(1, Flags::NONE, u32::MAX), b""),
        |e| *e == MuxError::WindowOverflow { stream: 1 },
    );
}

#[test]
fn ping_on_a_stream() {
    let mut bad = Header::ping(Flags::SYN, 1).encode();
    bad[7] = 1;
    assert_violation(bad.to_vec(), |e| {
        matches!(
            e,
            MuxError::Frame(FrameError::SessionFrameOnStream {
                ty: FrameType::Ping,
                stream: 1
            })
        )
    });
}

#[test]
fn window_update_on_stream_zero() {
    assert_violation(
        Header::window_update(0, Flags::NONE, 1).encode().to_vec(),
        |e| matches!(e, MuxError::Frame(FrameError::StreamFrameOnSession { .. })),
    );
}

/// Open+reset, again and again (HTTP/2 "Rapid Reset"): bounded, then the
/// connection ends with GoAway(protocol error).
#[test]
fn open_reset_flood() {
    let mut s = Vec::new();
    for i in 0..1500u32 {
        let id = 3 + 2 * i;
        s.extend(syn(id));
        s.extend(frame(Header::window_update(id, Flags::RST, 0), b""));
    }
    let mut full = syn(1);
    full.extend(s);
    let o = run(full, 4096, false);
    assert_eq!(o.go_away(), Some(GoAwayCode::ProtocolError));
    let flood = o
        .lost
        .iter()
        .filter(|r| r.kind() == "error")
        .map(mux_error)
        .find(|e| matches!(e, MuxError::ResetFlood { .. }));
    assert!(flood.is_some(), "stream 1 ended by the flood: {:?}", o.lost);
    // Every reset stream got exactly one connection_lost: the 1000 within
    // the limit and the one that crossed it; nothing after.
    let resets = o.lost.iter().filter(|r| r.kind() == "reset").count();
    assert_eq!(resets, 1001);
}

/// The peer goes away with an error: every subchannel learns why.
#[test]
fn peer_go_away_with_an_error() {
    let mut s = syn(1);
    s.extend(Header::go_away(2).encode());
    let o = run(s, 7, false);
    assert_eq!(o.lost.len(), 1);
    assert_eq!(
        mux_error(&o.lost[0]),
        MuxError::PeerGoAway(GoAwayCode::InternalError)
    );
}

/// The connection below ends in the middle of a frame.
#[test]
fn truncated_frame() {
    let mut s = syn(1);
    s.extend(&Header::data(1, Flags::NONE, 10).encode()[..5]);
    let o = run(s, 3, false);
    assert_eq!(o.lost.len(), 1);
    assert_eq!(mux_error(&o.lost[0]), MuxError::Truncated);
}

/// Data the peer sent before it saw our RST is discarded, not an error.
#[test]
fn data_in_flight_after_our_reset_is_tolerated() {
    let mut s = syn(1);
    s.extend(frame(Header::data(1, Flags::NONE, 5), b"hello"));
    s.extend(frame(Header::window_update(1, Flags::NONE, 100), b""));
    s.extend(frame(Header::data(1, Flags::FIN, 5), b"world"));
    for chunk in [1, 4096] {
        let o = run(s.clone(), chunk, true);
        assert!(!o.mux_failed, "chunk {chunk}");
        assert_eq!(o.go_away(), None);
        assert_eq!(o.lost.len(), 1);
        assert_eq!(o.lost[0].kind(), "aborted");
        assert!(o
            .frames
            .iter()
            .any(|h| h.stream == 1 && h.flags.contains(Flags::RST)));
    }
}

/// A graceful GoAway from the peer ends nothing; it only forbids new
/// streams from us.
#[test]
fn peer_go_away_normal_is_graceful() {
    let mut s = syn(1);
    s.extend(Header::go_away(0).encode());
    s.extend(frame(Header::data(1, Flags::FIN, 2), b"ok"));
    let o = run(s, 5, false);
    assert!(!o.mux_failed);
    assert_eq!(o.lost.len(), 1);
    assert_eq!(o.lost[0].kind(), "done");
}

/// Pings are answered with ACK and the same opaque value.
#[test]
fn ping_is_answered() {
    let mut s = Header::ping(Flags::SYN, 0xfeed).encode().to_vec();
    s.extend(syn(1));
    let o = run(s, 1, false);
    assert!(o
        .frames
        .iter()
        .any(|h| *h == Header::ping(Flags::ACK, 0xfeed)));
}
