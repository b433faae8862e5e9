//! [`Caller`]: a ready-made client — the client reactor on a frame
//! transport. It makes a list of calls, half-closes, and collects the
//! answers; the tour, the tests and the benchmarks use it.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use strata_core::{Reason, TimerId};

use crate::client::{ClientAction, ClientReactor};
use crate::{
    ErrorKind, Frame, FrameError, FrameProtocol, FrameTransport, ProtocolError, ServerError,
};

/// One command to call.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// The name.
    pub name: Bytes,
    /// The arguments.
    pub args: Vec<(Bytes, Bytes)>,
    /// The data, in the pieces it is sent in; `None`: no data.
    pub data: Option<Vec<Bytes>>,
}

impl Call {
    /// A call of `name`, no arguments, no data.
    pub fn new(name: impl Into<Bytes>) -> Call {
        Call {
            name: name.into(),
            ..Call::default()
        }
    }

    /// Add an argument.
    pub fn arg(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Call {
        self.args.push((name.into(), value.into()));
        self
    }

    /// Send `data` as the command data (in one piece; frames cut it).
    pub fn data(mut self, data: impl Into<Bytes>) -> Call {
        self.data.get_or_insert_with(Vec::new).push(data.into());
        self
    }
}

/// When the [`Caller`] half-closes its side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfClose {
    /// As soon as every request is sent (what a half-duplex server needs).
    AfterSending,
    /// Once every call is answered (works only with a full-duplex server).
    AfterAnswers,
    /// This long after every request is sent.
    After(Duration),
}

/// What the caller saw, in order (kept when recording).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A frame sent.
    Sent(Frame),
    /// A frame received.
    Received(Frame),
    /// We half-closed.
    HalfClosed,
    /// The server ended its side.
    ReadClosed,
}

/// Everything a [`Caller`] learned.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// One answer per call answered, in order.
    pub answers: Vec<Result<Bytes, ServerError>>,
    /// A protocol error: the server's (error-response `protocol`) or ours
    /// about the server.
    pub error: Option<String>,
    /// The events, if recording.
    pub log: Vec<Event>,
    /// How the connection ended (`None` while it runs).
    pub reason: Option<Reason>,
}

type Done = Box<dyn FnOnce(Outcome) + Send>;

/// Makes its calls, half-closes (see [`HalfClose`]), collects the answers.
pub struct Caller {
    reactor: ClientReactor,
    calls: Vec<Call>,
    queue: VecDeque<Frame>,
    half_close: HalfClose,
    half_closed: bool,
    timer: Option<TimerId>,
    current: BytesMut,
    record: bool,
    out: Outcome,
    done: Option<Done>,
}

/// Frames are handed below while its buffer holds less than this.
const SEND_AHEAD: usize = 256 * 1024;

impl Caller {
    /// A caller making `calls`, half-closing as `half_close` says.
    pub fn new(calls: Vec<Call>, half_close: HalfClose) -> Self {
        Caller {
            reactor: ClientReactor::default(),
            calls,
            queue: VecDeque::new(),
            half_close,
            half_closed: false,
            timer: None,
            current: BytesMut::new(),
            record: false,
            out: Outcome::default(),
            done: None,
        }
    }

    /// Keep a log of every frame (builder style).
    pub fn recording(mut self) -> Self {
        self.record = true;
        self
    }

    /// Frames of at most `max` bytes (builder style).
    pub fn max_frame(mut self, max: usize) -> Self {
        self.reactor = ClientReactor::new(max);
        self
    }

    /// Call `f` with the outcome when the connection is over.
    pub fn on_done(mut self, f: impl FnOnce(Outcome) + Send + 'static) -> Self {
        self.done = Some(Box::new(f));
        self
    }

    /// What was learned so far.
    pub fn outcome(&self) -> &Outcome {
        &self.out
    }

    fn pump(&mut self, t: &mut dyn FrameTransport) {
        while t.write_buffer_len() < SEND_AHEAD {
            let Some(f) = self.queue.pop_front() else {
                break;
            };
            if self.record {
                self.out.log.push(Event::Sent(f.clone()));
            }
            t.send(f);
        }
        if self.queue.is_empty() && !self.half_closed && self.timer.is_none() {
            match self.half_close {
                HalfClose::AfterSending => self.close_write(t),
                HalfClose::After(d) => self.timer = Some(t.set_timer(t.now() + d)),
                HalfClose::AfterAnswers => self.maybe_done(t),
            }
        }
    }

    fn close_write(&mut self, t: &mut dyn FrameTransport) {
        if !self.half_closed {
            self.half_closed = true;
            if self.record {
                self.out.log.push(Event::HalfClosed);
            }
            t.close_write();
        }
    }

    fn maybe_done(&mut self, t: &mut dyn FrameTransport) {
        if self.half_close == HalfClose::AfterAnswers
            && self.queue.is_empty()
            && self.out.answers.len() == self.calls.len()
        {
            self.close_write(t);
        }
    }

    fn broke(&mut self, t: &mut dyn FrameTransport, e: String) {
        self.out.error.get_or_insert(e);
        t.close();
    }
}

impl FrameProtocol for Caller {
    fn connection_made(&mut self, t: &mut dyn FrameTransport) {
        let calls = std::mem::take(&mut self.calls);
        for call in &calls {
            let (frames, sender) =
                match self
                    .reactor
                    .command(&call.name, &call.args, call.data.is_some())
                {
                    Ok(x) => x,
                    Err(e) => return self.broke(t, e.to_string()),
                };
            self.queue.extend(frames);
            if let (Some(mut s), Some(data)) = (sender, &call.data) {
                let mut frames = Vec::new();
                for piece in data {
                    s.push(&mut frames, piece.clone(), false);
                }
                s.push(&mut frames, Bytes::new(), true);
                self.queue.extend(frames);
            }
        }
        self.calls = calls;
        self.pump(t);
    }

    fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame) {
        if self.record {
            self.out.log.push(Event::Received(frame.clone()));
        }
        match self.reactor.on_frame(frame) {
            ClientAction::Response { data, eos } => {
                if eos && self.current.is_empty() {
                    self.out.answers.push(Ok(data));
                } else {
                    self.current.extend_from_slice(&data);
                    if eos {
                        self.out.answers.push(Ok(self.current.split().freeze()));
                    }
                }
            }
            ClientAction::Failed(e) if e.kind == ErrorKind::Application => {
                self.current.clear();
                self.out.answers.push(Err(e));
            }
            ClientAction::Failed(e) => self.out.error = Some(e.to_string()),
            ClientAction::Error(e) => self.broke(t, e.to_string()),
            ClientAction::Noop => {}
        }
        self.maybe_done(t);
    }

    fn frame_error(&mut self, t: &mut dyn FrameTransport, error: FrameError) {
        self.broke(t, ProtocolError::from(error).to_string());
    }

    fn read_closed(&mut self, t: &mut dyn FrameTransport) {
        if self.record {
            self.out.log.push(Event::ReadClosed);
        }
        if let Some(e) = self.reactor.on_input_eof() {
            self.out.error.get_or_insert(e.to_string());
        }
        t.close();
    }

    fn resume_writing(&mut self, t: &mut dyn FrameTransport) {
        self.pump(t);
    }

    fn timer_fired(&mut self, t: &mut dyn FrameTransport, timer: TimerId) {
        if self.timer == Some(timer) {
            self.close_write(t);
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.out.reason = Some(reason);
        if let Some(done) = self.done.take() {
            done(self.out.clone());
        }
    }
}
