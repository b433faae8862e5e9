//! The server reactor: a command server as a pure state machine.
//!
//! Events go in — a frame arrived ([`on_frame`](ServerReactor::on_frame)),
//! the bytes did not decode ([`on_decode_error`](ServerReactor::on_decode_error)),
//! a response is ready ([`on_response`](ServerReactor::on_response)), a
//! command failed ([`on_application_error`](ServerReactor::on_application_error)),
//! the input ended ([`on_input_eof`](ServerReactor::on_input_eof)) — and
//! each returns one [`Action`] saying what to do: send these frames, run
//! this command, here is a piece of its data, want another frame, or the
//! peer broke the protocol. The reactor never does I/O, never calls the
//! application, and never panics on what a peer sends; whoever owns it
//! carries the actions out (see [`CommandServer`](crate::CommandServer)).
//!
//! ## The request, frame by frame
//!
//! ```text
//!  Idle --command-name eos----------------------------> Run            (no args, no data)
//!  Idle --command-name have-args[|have-data]--> Args
//!  Args --command-argument [continuation]...--> Args                   (a value over several frames)
//!  Args --command-argument eoa--> Run, then Idle or Data               (have-data: data follows)
//!  Idle --command-name have-data--------------> Run, Data
//!  Data --command-data continuation--> Data(piece)
//!  Data --command-data eos-----------> Data(last piece), Idle          (next command may follow)
//! ```
//!
//! Anything else — a frame of the wrong type for the state, flags that
//! contradict each other, an argument that does not hold what its header
//! says, limits exceeded, the input ending inside a request — is a
//! [`ProtocolError`]: the reactor answers with an error-response frame
//! (flag `protocol`) and takes no more input.
//!
//! ## Responses
//!
//! Commands are answered in the order they arrived (the wire format has no
//! request ids): [`on_response`](ServerReactor::on_response) and
//! [`on_application_error`](ServerReactor::on_application_error) answer
//! the oldest command not yet answered. A response may be given in pieces
//! and may start before the command's data has ended (an echo streams);
//! each piece is cut into frames of at most `max_frame` bytes, flagged
//! `continuation`, the last piece's last frame `eos`.
//!
//! ## Full and half duplex
//!
//! In [`Duplex::Full`] mode response frames are sent as soon as they are
//! ready. In [`Duplex::Half`] mode no output may be sent until the input
//! has ended: frames are held (up to `max_deferred` bytes) and
//! [`on_input_eof`](ServerReactor::on_input_eof) returns them all, in
//! order. Either way, once the input has ended and every command is
//! answered, [`should_close`](ServerReactor::should_close) says so.

use bytes::{Bytes, BytesMut};

use crate::{Flags, Frame, FrameError, FrameType, ProtocolError, DEFAULT_MAX_FRAME};

/// When responses may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duplex {
    /// As soon as they are ready.
    Full,
    /// Only after the input has ended (the peer's half-close); until then
    /// they are held.
    Half,
}

/// Limits and mode of a [`ServerReactor`].
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Full or half duplex. Default: full.
    pub duplex: Duplex,
    /// The largest payload of a frame sent. Default 32 KiB.
    pub max_frame: usize,
    /// Most arguments per command. Default 256.
    pub max_args: usize,
    /// Most bytes of argument names and values per command. Default 1 MiB.
    pub max_arg_bytes: usize,
    /// Most commands received and not yet answered. Default 1024.
    pub max_pending: usize,
    /// Most bytes of frames held in half-duplex mode. Default 64 MiB.
    pub max_deferred: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            duplex: Duplex::Full,
            max_frame: DEFAULT_MAX_FRAME,
            max_args: 256,
            max_arg_bytes: 1 << 20,
            max_pending: 1024,
            max_deferred: 64 << 20,
        }
    }
}

impl ServerConfig {
    /// The default limits in `duplex` mode.
    pub fn new(duplex: Duplex) -> Self {
        ServerConfig {
            duplex,
            ..Default::default()
        }
    }
}

/// A command, its name and arguments complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The name.
    pub name: Bytes,
    /// The arguments in the order they came, as `(name, value)`.
    pub args: Vec<(Bytes, Bytes)>,
    /// Whether command data follows (as [`Action::Data`]).
    pub has_data: bool,
}

impl Command {
    /// The value of the first argument called `name`.
    pub fn arg(&self, name: &str) -> Option<&Bytes> {
        self.args
            .iter()
            .find(|(k, _)| k[..] == *name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The name as text (lossy).
    pub fn name_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
}

/// What the owner of a [`ServerReactor`] should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next frame.
    WantFrame,
    /// Nothing to do (a response held in half-duplex mode; input ignored
    /// after an error).
    Noop,
    /// Send these frames, in order.
    Send(Vec<Frame>),
    /// Run this command. Its data, if it has any, follows as `Data`.
    Run(Command),
    /// The next piece of the running command's data; `eos` on the last.
    Data {
        /// The piece (a slice of the frame, no copy).
        data: Bytes,
        /// Whether it is the last.
        eos: bool,
    },
    /// The peer broke the protocol. Send `send` (the error-response frame,
    /// after anything held; empty in half-duplex mode until the input
    /// ends), then close once [`should_close`](ServerReactor::should_close).
    Error {
        /// What went wrong.
        error: ProtocolError,
        /// Frames to send now.
        send: Vec<Frame>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum In {
    Idle,
    Args,
    Data,
    Failed,
}

/// An argument whose value spans frames.
#[derive(Debug)]
struct Partial {
    name: Bytes,
    value: BytesMut,
    len: usize,
}

#[derive(Debug, Default)]
struct Building {
    name: Bytes,
    args: Vec<(Bytes, Bytes)>,
    arg_bytes: usize,
    has_data: bool,
    partial: Option<Partial>,
}

/// The server side of the command protocol, sans-IO. See the
/// [module docs](self).
#[derive(Debug)]
pub struct ServerReactor {
    cfg: ServerConfig,
    state: In,
    building: Building,
    /// Commands run and not yet answered in full.
    awaiting: usize,
    input_ended: bool,
    /// Frames held in half-duplex mode, and their wire bytes.
    deferred: Vec<Frame>,
    deferred_bytes: usize,
    /// An emptied frame vector given back with [`recycle`](Self::recycle),
    /// reused by the next response.
    spare: Vec<Frame>,
}

impl Default for ServerReactor {
    fn default() -> Self {
        ServerReactor::new(ServerConfig::default())
    }
}

impl ServerReactor {
    /// A reactor with `cfg`.
    pub fn new(cfg: ServerConfig) -> Self {
        ServerReactor {
            cfg,
            state: In::Idle,
            building: Building::default(),
            awaiting: 0,
            input_ended: false,
            deferred: Vec::new(),
            deferred_bytes: 0,
            spare: Vec::new(),
        }
    }

    /// Give back the vector of an [`Action::Send`] once its frames are
    /// sent: the next response reuses it instead of allocating (a
    /// connection answering one small command after another then allocates
    /// nothing per answer). Optional.
    #[inline]
    pub fn recycle(&mut self, mut frames: Vec<Frame>) {
        frames.clear();
        if frames.capacity() > self.spare.capacity() && frames.capacity() <= RECYCLE_MAX {
            self.spare = frames;
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Commands run and not yet answered in full.
    pub fn awaiting(&self) -> usize {
        self.awaiting
    }

    /// Bytes of frames held for half-duplex output.
    pub fn deferred_bytes(&self) -> usize {
        self.deferred_bytes
    }

    /// Bytes of a request's arguments held while it is assembled: names and
    /// values counted at their declared lengths (an upper bound of the
    /// memory, at most `max_arg_bytes`).
    pub fn held_bytes(&self) -> usize {
        self.building.arg_bytes
    }

    /// Whether the peer broke the protocol.
    pub fn has_failed(&self) -> bool {
        self.state == In::Failed
    }

    /// Whether the connection should now be closed: after a protocol error
    /// (in half-duplex mode, once the input has ended and the held frames
    /// went out), or once the input has ended and every command is answered.
    pub fn should_close(&self) -> bool {
        match self.state {
            In::Failed => self.cfg.duplex == Duplex::Full || self.input_ended,
            _ => self.input_ended && self.awaiting == 0,
        }
    }

    // ----- events ---------------------------------------------------------

    /// A frame arrived.
    #[inline]
    pub fn on_frame(&mut self, frame: Frame) -> Action {
        if self.input_ended {
            return Action::Noop;
        }
        match self.state {
            In::Failed => Action::Noop,
            In::Idle => self.on_name(frame),
            In::Args => self.on_argument(frame),
            In::Data => self.on_data(frame),
        }
    }

    /// [`on_frame`](Self::on_frame)'s fast path, for the glue: a
    /// command-data frame where the running command's data is expected,
    /// flagged exactly `continuation` or `eos`, is returned as its data and
    /// whether it is the last piece, with the state moved exactly as
    /// `on_frame` moves it (which would answer [`Action::Data`]); any other
    /// frame is given back untouched, for `on_frame`. Saves making and
    /// matching an action for the most frequent frame.
    #[inline]
    pub(crate) fn data_frame(&mut self, f: Frame) -> Result<(Bytes, bool), Frame> {
        if self.state != In::Data || self.input_ended || f.kind != FrameType::CommandData {
            return Err(f);
        }
        let eos = f.flags == Flags::EOS;
        if !eos && f.flags != Flags::CONTINUATION {
            return Err(f);
        }
        if eos {
            self.state = In::Idle;
        }
        Ok((f.payload, eos))
    }

    /// [`on_frame`](Self::on_frame)'s other fast path, for the glue: a
    /// command-name frame that starts a request without arguments (flagged
    /// exactly `eos`, or exactly `have-data`), where a request may start, is
    /// returned as its command, with the state moved exactly as `on_frame`
    /// moves it (which would answer [`Action::Run`]); any other frame is
    /// given back untouched, for `on_frame`.
    #[inline]
    pub(crate) fn name_frame(&mut self, f: Frame) -> Result<Command, Frame> {
        let data = f.flags == Flags::HAVE_DATA;
        if self.state != In::Idle
            || self.input_ended
            || f.kind != FrameType::CommandName
            || !(data || f.flags == Flags::NAME_EOS)
            || f.payload.is_empty()
            || self.awaiting >= self.cfg.max_pending
        {
            return Err(f);
        }
        self.state = if data { In::Data } else { In::Idle };
        self.awaiting += 1;
        Ok(Command {
            name: f.payload,
            args: Vec::new(),
            has_data: data,
        })
    }

    /// The bytes below did not decode into frames.
    pub fn on_decode_error(&mut self, error: FrameError) -> Action {
        if self.state == In::Failed || self.input_ended {
            return Action::Noop;
        }
        self.fail(ProtocolError::Frame(error))
    }

    /// The oldest unanswered command's response has `data` ready; `eos` if
    /// that is all of it. Answering when no command waits is a bug of the
    /// caller: it is logged and ignored.
    pub fn on_response(&mut self, data: Bytes, eos: bool) -> Action {
        if self.state == In::Failed {
            return Action::Noop;
        }
        if self.awaiting == 0 {
            tracing::warn!("a response with no command awaiting one: ignored");
            return Action::Noop;
        }
        if data.is_empty() && !eos {
            return Action::Noop;
        }
        let mut frames = std::mem::take(&mut self.spare);
        frames.reserve(1 + data.len() / self.cfg.max_frame.max(1));
        split(
            &mut frames,
            FrameType::BytesResponse,
            data,
            eos,
            self.cfg.max_frame,
        );
        if eos {
            self.awaiting -= 1;
        }
        self.emit(frames)
    }

    /// [`on_response`](Self::on_response)'s fast path, for the glue: a
    /// response piece that fits one frame and may go out now (full duplex,
    /// or the input has ended) is returned as that frame, with the state
    /// updated exactly as `on_response` would; anything else gives `data`
    /// back untouched for `on_response`. Saves the frame vector and the
    /// action for the common small answer.
    #[inline]
    pub(crate) fn single_response(&mut self, data: Bytes, eos: bool) -> Result<Frame, Bytes> {
        if self.state == In::Failed
            || self.awaiting == 0
            || data.len() > self.cfg.max_frame
            || (data.is_empty() && !eos)
            || !(self.cfg.duplex == Duplex::Full || self.input_ended)
        {
            return Err(data);
        }
        if eos {
            self.awaiting -= 1;
        }
        let flags = if eos { Flags::EOS } else { Flags::CONTINUATION };
        Ok(Frame {
            kind: FrameType::BytesResponse,
            flags,
            payload: data,
        })
    }

    /// The oldest unanswered command failed with `message`: it is answered
    /// with an error-response frame (flag `application`).
    pub fn on_application_error(&mut self, message: &str) -> Action {
        if self.state == In::Failed {
            return Action::Noop;
        }
        if self.awaiting == 0 {
            tracing::warn!("an application error with no command awaiting an answer: ignored");
            return Action::Noop;
        }
        self.awaiting -= 1;
        let mut msg = message.as_bytes();
        msg = &msg[..msg.len().min(self.cfg.max_frame)];
        let f = Frame::new(
            FrameType::ErrorResponse,
            Flags::APPLICATION,
            Bytes::copy_from_slice(msg),
        );
        self.emit(vec![f])
    }

    /// The input ended (the peer half-closed). Returns the frames held in
    /// half-duplex mode, or an error if a request was cut short.
    pub fn on_input_eof(&mut self) -> Action {
        if self.input_ended {
            return Action::Noop;
        }
        self.input_ended = true;
        let cut = match self.state {
            In::Args => Some("while reading arguments"),
            In::Data => Some("while reading command data"),
            In::Idle | In::Failed => None,
        };
        let held = std::mem::take(&mut self.deferred);
        self.deferred_bytes = 0;
        match cut {
            Some(at) => {
                let error = ProtocolError::IncompleteRequest(at);
                self.state = In::Failed;
                self.building = Building::default();
                let mut send = held;
                send.push(error_frame(&error));
                Action::Error { error, send }
            }
            None if held.is_empty() => Action::Noop,
            None => Action::Send(held),
        }
    }

    // ----- the request ----------------------------------------------------

    #[inline]
    fn on_name(&mut self, f: Frame) -> Action {
        if f.kind != FrameType::CommandName {
            return self.fail(ProtocolError::UnexpectedFrame {
                kind: f.kind,
                state: "where a command-name frame must come",
            });
        }
        let eos = f.has(Flags::NAME_EOS);
        let args = f.has(Flags::HAVE_ARGS);
        let data = f.has(Flags::HAVE_DATA);
        if eos && (args || data) {
            return self.invalid(f.kind, "eos with have-args or have-data");
        }
        if !eos && !args && !data {
            return self.invalid(f.kind, "one of eos, have-args, have-data is required");
        }
        if f.payload.is_empty() {
            return self.fail(ProtocolError::EmptyName);
        }
        if self.awaiting >= self.cfg.max_pending {
            return self.fail(ProtocolError::TooManyPending(self.cfg.max_pending));
        }
        if args {
            self.building = Building {
                name: f.payload,
                has_data: data,
                ..Building::default()
            };
            self.state = In::Args;
            return Action::WantFrame;
        }
        self.state = if data { In::Data } else { In::Idle };
        self.run(Command {
            name: f.payload,
            args: Vec::new(),
            has_data: data,
        })
    }

    fn on_argument(&mut self, f: Frame) -> Action {
        if f.kind != FrameType::CommandArgument {
            return self.fail(ProtocolError::UnexpectedFrame {
                kind: f.kind,
                state: "while reading arguments (before eoa)",
            });
        }
        let cont = f.has(Flags::CONTINUATION);
        let eoa = f.has(Flags::EOA);
        if cont && eoa {
            return self.invalid(f.kind, "continuation with eoa");
        }
        let complete = match self.building.partial.take() {
            None => {
                let p = &f.payload;
                if p.len() < 4 {
                    return self.bad("shorter than its 4-byte header");
                }
                let nlen = u16::from_le_bytes([p[0], p[1]]) as usize;
                let vlen = u16::from_le_bytes([p[2], p[3]]) as usize;
                if nlen == 0 {
                    return self.bad("empty name");
                }
                if p.len() < 4 + nlen {
                    return self.bad("name longer than the frame");
                }
                if p.len() - 4 - nlen > vlen {
                    return self.bad("value longer than its declared length");
                }
                if self.building.args.len() >= self.cfg.max_args {
                    return self.fail(ProtocolError::TooManyArguments(self.cfg.max_args));
                }
                if self.building.arg_bytes + nlen + vlen > self.cfg.max_arg_bytes {
                    return self.fail(ProtocolError::ArgumentsTooLarge(self.cfg.max_arg_bytes));
                }
                self.building.arg_bytes += nlen + vlen;
                let name = p.slice(4..4 + nlen);
                let value = p.slice(4 + nlen..);
                if value.len() == vlen {
                    if cont {
                        return self.invalid(f.kind, "continuation on a complete argument");
                    }
                    Some((name, value))
                } else {
                    if !cont {
                        return self
                            .bad("value shorter than its declared length, and no continuation");
                    }
                    let mut v = BytesMut::with_capacity(vlen);
                    v.extend_from_slice(&value);
                    self.building.partial = Some(Partial {
                        name,
                        value: v,
                        len: vlen,
                    });
                    None
                }
            }
            Some(mut part) => {
                if part.value.len() + f.payload.len() > part.len {
                    return self.bad("continuation longer than the value's declared length");
                }
                part.value.extend_from_slice(&f.payload);
                if part.value.len() == part.len {
                    if cont {
                        return self.invalid(f.kind, "continuation after the value is complete");
                    }
                    Some((part.name, part.value.freeze()))
                } else {
                    if !cont {
                        return self.bad("value cut short: no continuation flag");
                    }
                    self.building.partial = Some(part);
                    None
                }
            }
        };
        let Some(arg) = complete else {
            return Action::WantFrame;
        };
        self.building.args.push(arg);
        if !eoa {
            return Action::WantFrame;
        }
        let b = std::mem::take(&mut self.building);
        self.state = if b.has_data { In::Data } else { In::Idle };
        self.run(Command {
            name: b.name,
            args: b.args,
            has_data: b.has_data,
        })
    }

    #[inline]
    fn on_data(&mut self, f: Frame) -> Action {
        if f.kind != FrameType::CommandData {
            return self.fail(ProtocolError::UnexpectedFrame {
                kind: f.kind,
                state: "while reading command data (before eos)",
            });
        }
        let cont = f.has(Flags::CONTINUATION);
        let eos = f.has(Flags::EOS);
        if cont == eos {
            return self.invalid(f.kind, "exactly one of continuation, eos is required");
        }
        if eos {
            self.state = In::Idle;
        }
        Action::Data {
            data: f.payload,
            eos,
        }
    }

    // ----- helpers ----------------------------------------------------------

    #[inline]
    fn run(&mut self, cmd: Command) -> Action {
        self.awaiting += 1;
        Action::Run(cmd)
    }

    #[cold]
    fn invalid(&mut self, kind: FrameType, why: &'static str) -> Action {
        self.fail(ProtocolError::InvalidFlags { kind, why })
    }

    #[cold]
    fn bad(&mut self, why: &'static str) -> Action {
        self.fail(ProtocolError::BadArgument(why))
    }

    #[cold]
    fn fail(&mut self, error: ProtocolError) -> Action {
        self.state = In::Failed;
        self.building = Building::default();
        let f = error_frame(&error);
        let send = match self.cfg.duplex {
            Duplex::Half if !self.input_ended => {
                self.deferred_bytes += f.wire_len();
                self.deferred.push(f);
                Vec::new()
            }
            _ => vec![f],
        };
        Action::Error { error, send }
    }

    fn emit(&mut self, frames: Vec<Frame>) -> Action {
        if self.cfg.duplex == Duplex::Full || self.input_ended {
            return Action::Send(frames);
        }
        let bytes: usize = frames.iter().map(Frame::wire_len).sum();
        if self.deferred_bytes + bytes > self.cfg.max_deferred {
            return self.fail(ProtocolError::DeferredTooLarge(self.cfg.max_deferred));
        }
        self.deferred_bytes += bytes;
        if self.deferred.is_empty() {
            self.deferred = frames;
        } else {
            self.deferred.extend(frames);
        }
        Action::Noop
    }
}

/// The largest frame vector kept for reuse by [`ServerReactor::recycle`].
const RECYCLE_MAX: usize = 64;

/// The error-response frame (flag `protocol`) for `e`.
pub fn error_frame(e: &ProtocolError) -> Frame {
    Frame::new(
        FrameType::ErrorResponse,
        Flags::PROTOCOL,
        Bytes::from(e.to_string()),
    )
}

/// Cut `data` into frames of `kind` of at most `max` bytes (slices, no
/// copy): `continuation` on each but the last, which gets `eos` if `eos`
/// (else `continuation` too). Empty data makes one empty frame if `eos`,
/// none otherwise.
#[inline]
pub fn split(out: &mut Vec<Frame>, kind: FrameType, data: Bytes, eos: bool, max: usize) {
    split_into(&mut |f| out.push(f), kind, data, eos, max)
}

/// [`split`], each frame handed to `out` in order.
#[inline]
pub(crate) fn split_into(
    out: &mut impl FnMut(Frame),
    kind: FrameType,
    data: Bytes,
    eos: bool,
    max: usize,
) {
    // The usual case, inline: the data fits one frame, which is the data.
    if !data.is_empty() && data.len() <= max {
        let flags = if eos { Flags::EOS } else { Flags::CONTINUATION };
        out(Frame {
            kind,
            flags,
            payload: data,
        });
        return;
    }
    split_slow(out, kind, data, eos, max);
}

fn split_slow(
    out: &mut impl FnMut(Frame),
    kind: FrameType,
    mut data: Bytes,
    eos: bool,
    max: usize,
) {
    let max = max.max(1);
    if data.is_empty() {
        if eos {
            out(Frame::new(kind, Flags::EOS, Bytes::new()));
        }
        return;
    }
    while !data.is_empty() {
        // The last piece is the rest itself (no reference-count round trip).
        let piece = if data.len() <= max {
            std::mem::take(&mut data)
        } else {
            data.split_to(max)
        };
        let flags = if data.is_empty() && eos {
            Flags::EOS
        } else {
            Flags::CONTINUATION
        };
        out(Frame::new(kind, flags, piece));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a fast path of the glue against `on_frame`: in every state
    /// reached by one of `prefixes` (full and half duplex, input ended or
    /// not, `max_pending` 2), for every frame type, flag set and payload in
    /// `payloads`, `fast` either takes the frame and answers what
    /// `on_frame` answers, or gives it back untouched (and `on_frame` then
    /// does the rest); the reactor's state after is the same either way.
    fn fast_path_is_on_frame(
        prefixes: &[Vec<Frame>],
        payloads: &[&'static [u8]],
        fast: impl Fn(&mut ServerReactor, Frame) -> Result<Action, Frame>,
    ) {
        for duplex in [Duplex::Full, Duplex::Half] {
            for (prefix, ended) in prefixes.iter().flat_map(|p| [(p, false), (p, true)]) {
                let make = || {
                    let mut r = ServerReactor::new(ServerConfig {
                        duplex,
                        max_pending: 2,
                        ..ServerConfig::default()
                    });
                    for f in prefix {
                        r.on_frame(f.clone());
                    }
                    if ended {
                        r.on_input_eof();
                    }
                    r
                };
                for kind in FrameType::ALL {
                    for (bits, payload) in
                        (0..16).flat_map(|b| payloads.iter().map(move |p| (b, p)))
                    {
                        let f =
                            Frame::new(kind, Flags::from_bits(bits), Bytes::from_static(payload));
                        let (mut a, mut b) = (make(), make());
                        let want = a.on_frame(f.clone());
                        match fast(&mut b, f.clone()) {
                            Ok(got) => assert_eq!(got, want, "{f:?}"),
                            Err(back) => {
                                assert_eq!(back, f);
                                assert_eq!(b.on_frame(back), want, "{f:?}");
                            }
                        }
                        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{f:?}");
                    }
                }
            }
        }
    }

    fn frame(kind: FrameType, flags: Flags, payload: &'static [u8]) -> Frame {
        Frame::new(kind, flags, Bytes::from_static(payload))
    }

    /// The glue's data fast path (`data_frame`) answers as `on_frame` would
    /// (`Action::Data` with the same data and `eos`), in every state.
    #[test]
    fn data_frame_is_on_frame() {
        let name = |flags| frame(FrameType::CommandName, flags, b"c");
        let prefixes = [
            vec![],
            vec![name(Flags::NAME_EOS)],
            vec![name(Flags::HAVE_DATA)],
            vec![
                name(Flags::HAVE_DATA),
                frame(FrameType::CommandData, Flags::CONTINUATION, b"d"),
            ],
            vec![name(Flags::HAVE_ARGS)],
            vec![frame(FrameType::BytesResponse, Flags::EOS, b"")],
        ];
        fast_path_is_on_frame(&prefixes, &[b"xy"], |r, f| {
            r.data_frame(f)
                .map(|(data, eos)| Action::Data { data, eos })
        });
    }

    /// The glue's command fast path (`name_frame`) answers as `on_frame`
    /// would (`Action::Run` with the same command), in every state, limits
    /// included (`max_pending` is reached).
    #[test]
    fn name_frame_is_on_frame() {
        let name = |flags| frame(FrameType::CommandName, flags, b"c");
        let prefixes = [
            vec![],
            vec![name(Flags::NAME_EOS)],
            vec![name(Flags::NAME_EOS), name(Flags::NAME_EOS)],
            vec![name(Flags::HAVE_DATA)],
            vec![name(Flags::HAVE_ARGS)],
            vec![frame(FrameType::BytesResponse, Flags::EOS, b"")],
        ];
        fast_path_is_on_frame(&prefixes, &[b"", b"name"], |r, f| {
            r.name_frame(f).map(Action::Run)
        });
    }

    /// The glue's fast path answers exactly as `on_response` would: the
    /// same frame when it takes the piece, the data back untouched when it
    /// does not, and the same reactor state after, in every state.
    #[test]
    fn single_response_is_on_response() {
        for duplex in [Duplex::Full, Duplex::Half] {
            for max_frame in [0, 1, 4, 16] {
                for commands in 0..3 {
                    for (failed, ended) in [(false, false), (false, true), (true, false)] {
                        for len in [0, 1, 4, 5, 40] {
                            for eos in [false, true] {
                                let make = || {
                                    let mut r = ServerReactor::new(ServerConfig {
                                        duplex,
                                        max_frame,
                                        ..ServerConfig::default()
                                    });
                                    for _ in 0..commands {
                                        r.on_frame(Frame::new(
                                            FrameType::CommandName,
                                            Flags::NAME_EOS,
                                            Bytes::from_static(b"c"),
                                        ));
                                    }
                                    if failed {
                                        r.on_frame(Frame::new(
                                            FrameType::BytesResponse,
                                            Flags::EOS,
                                            Bytes::new(),
                                        ));
                                    }
                                    if ended {
                                        r.on_input_eof();
                                    }
                                    r
                                };
                                let (mut a, mut b) = (make(), make());
                                let data = Bytes::from(vec![b'x'; len]);
                                let want = a.on_response(data.clone(), eos);
                                match b.single_response(data.clone(), eos) {
                                    Ok(f) => assert_eq!(Action::Send(vec![f]), want),
                                    Err(back) => {
                                        assert_eq!(back, data);
                                        assert_eq!(b.on_response(back, eos), want);
                                    }
                                }
                                assert_eq!(format!("{a:?}"), format!("{b:?}"));
                            }
                        }
                    }
                }
            }
        }
    }
}
