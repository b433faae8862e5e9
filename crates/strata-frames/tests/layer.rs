//! The frame layer on its own: a recording transport below, a recording
//! frame protocol above. Pause, close and errors in the middle of a batch
//! of frames; the end of stream; what goes below.

use strata_core::{Protocol, Reason};
use strata_frames::{
    human, Bytes, Flags, Frame, FrameError, FrameProtocol, FrameTransport, FrameType, Framed,
};
use strata_testing::doubles::{Call, RecordingTransport};

#[derive(Default)]
struct Rec {
    log: Vec<String>,
    /// Act on the n-th frame: "pause", "close", "abort".
    on: Option<(usize, &'static str)>,
    seen: usize,
}

impl FrameProtocol for Rec {
    fn connection_made(&mut self, t: &mut dyn FrameTransport) {
        self.log.push("made".into());
        t.send(Frame::new(
            FrameType::CommandName,
            Flags::NAME_EOS,
            Bytes::from_static(b"hi"),
        ));
    }
    fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame) {
        self.seen += 1;
        self.log.push(human::format(&frame));
        match self.on {
            Some((n, "pause")) if n == self.seen => t.pause_reading(),
            Some((n, "close")) if n == self.seen => t.close(),
            Some((n, "abort")) if n == self.seen => t.abort(),
            _ => {}
        }
    }
    fn frame_error(&mut self, _t: &mut dyn FrameTransport, error: FrameError) {
        self.log.push(format!("error: {error}"));
    }
    fn read_closed(&mut self, _t: &mut dyn FrameTransport) {
        self.log.push("read_closed".into());
    }
    fn timer_fired(&mut self, t: &mut dyn FrameTransport, _timer: strata_core::TimerId) {
        self.log.push("timer".into());
        t.resume_reading();
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.log.push(format!("lost: {}", reason.kind()));
    }
}

fn wire(lines: &[&str]) -> Bytes {
    let mut v = Vec::new();
    for l in lines {
        v.extend_from_slice(&human::parse(l).unwrap().to_bytes());
    }
    Bytes::from(v)
}

const THREE: [&str; 3] = [
    "bytes-response continuation a",
    "bytes-response continuation b",
    "bytes-response eos c",
];

#[test]
fn a_callbacks_small_frames_go_below_as_one_write() {
    let mut t = RecordingTransport::new();
    let mut f = Framed::new(Rec::default());
    f.connection_made(&mut t);
    // Header and payload together, written when the callback returned.
    assert_eq!(t.calls, vec![Call::Write(6)]);
    assert_eq!(&t.take_written()[..], b"\x02\x00\x00\x11hi");
}

#[test]
fn pause_holds_the_rest_of_a_batch_until_resume() {
    let mut t = RecordingTransport::new();
    let mut f = Framed::new(Rec {
        on: Some((1, "pause")),
        ..Rec::default()
    });
    f.connection_made(&mut t);
    f.data_received(&mut t, wire(&THREE));
    assert_eq!(f.app().log, ["made", "bytes-response continuation a"]);
    assert!(t.called(&Call::PauseReading));
    // The end of stream waits behind the held frames, too.
    f.read_closed(&mut t);
    assert_eq!(f.app().log.len(), 2);
    f.timer_fired(&mut t, strata_core::TimerId(99));
    assert_eq!(
        f.app().log,
        [
            "made",
            "bytes-response continuation a",
            "timer",
            "bytes-response continuation b",
            "bytes-response eos c",
            "read_closed"
        ]
    );
}

#[test]
fn close_or_abort_stop_delivery_at_once() {
    for (how, call) in [("close", Call::Close), ("abort", Call::Abort)] {
        let mut t = RecordingTransport::new();
        let mut f = Framed::new(Rec {
            on: Some((2, how)),
            ..Rec::default()
        });
        f.connection_made(&mut t);
        f.data_received(&mut t, wire(&THREE));
        f.read_closed(&mut t);
        f.connection_lost(Reason::Done);
        assert_eq!(
            f.app().log,
            [
                "made",
                "bytes-response continuation a",
                "bytes-response continuation b",
                "lost: done"
            ],
            "{how}"
        );
        assert!(t.called(&call));
    }
}

#[test]
fn a_bad_stream_is_reported_once_then_discarded() {
    let mut t = RecordingTransport::new();
    let mut f = Framed::new(Rec::default());
    f.connection_made(&mut t);
    let mut bytes = wire(&THREE[..1]).to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0x70]); // type 7
    bytes.extend_from_slice(&wire(&THREE[1..]));
    f.data_received(&mut t, Bytes::from(bytes));
    f.data_received(&mut t, wire(&THREE));
    f.read_closed(&mut t);
    assert_eq!(
        f.app().log,
        [
            "made",
            "bytes-response continuation a",
            "error: unknown frame type 7",
            "read_closed"
        ]
    );
}

#[test]
fn a_stream_ending_inside_a_frame_is_an_error_before_read_closed() {
    let mut t = RecordingTransport::new();
    let mut f = Framed::new(Rec::default());
    f.connection_made(&mut t);
    let w = wire(&THREE);
    f.data_received(&mut t, w.slice(..w.len() - 1));
    f.read_closed(&mut t);
    assert_eq!(
        f.app().log,
        [
            "made",
            "bytes-response continuation a",
            "bytes-response continuation b",
            "error: the stream ended inside a frame (4 of 5 bytes)",
            "read_closed"
        ]
    );
}

#[test]
fn frames_split_anywhere_arrive_whole() {
    let w = wire(&THREE);
    for cut in 0..=w.len() {
        let mut t = RecordingTransport::new();
        let mut f = Framed::new(Rec::default());
        f.connection_made(&mut t);
        f.data_received(&mut t, w.slice(..cut));
        f.data_received(&mut t, w.slice(cut..));
        assert_eq!(f.app().log[1..], THREE, "cut at {cut}");
        assert_eq!(f.buffered(), 0);
    }
}

/// Opens a sibling channel for each frame it receives.
struct OpensSiblings;
impl FrameProtocol for OpensSiblings {
    fn frame_received(&mut self, t: &mut dyn FrameTransport, _frame: Frame) {
        struct Idle;
        impl Protocol for Idle {
            fn data_received(&mut self, _t: &mut dyn strata_core::Transport, _data: Bytes) {}
        }
        let ch = t.channels().expect("the channels of the transport below");
        ch.open_channel(Box::new(Idle)).unwrap();
    }
}

#[test]
fn a_frame_protocol_reaches_the_channels_below() {
    // Below: a transport that can open sibling channels, as a mux
    // subchannel can.
    let mut t = RecordingTransport {
        siblings: Some(0),
        ..RecordingTransport::new()
    };
    let mut f = Framed::new(OpensSiblings);
    f.connection_made(&mut t);
    f.data_received(&mut t, wire(&THREE));
    assert_eq!(t.siblings, Some(3));
}
