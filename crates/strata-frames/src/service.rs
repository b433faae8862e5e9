//! [`CommandServer`]: the server reactor carried out on a frame transport,
//! with the commands themselves left to a [`Handler`].
//!
//! The glue is the whole of the I/O side of the pattern: each event from
//! the frame layer goes into the reactor, and each [`Action`] that comes
//! out is done — frames sent, the handler called, the connection closed.

use bytes::Bytes;
use strata_core::Reason;

use crate::server::{Action, Command, Duplex, ServerConfig, ServerReactor};
use crate::{Frame, FrameError, FrameProtocol, FrameTransport};

/// The commands a [`CommandServer`] runs.
///
/// Calls come in order: `command` when a command's name and arguments are
/// in, then (if it has data) `data` for each piece, the last with `eos`,
/// then the next command. Answer through `reply`, at once or in pieces as
/// the data comes; commands are answered in the order they arrive.
pub trait Handler {
    /// A command arrived, its arguments complete.
    fn command(&mut self, cmd: &Command, reply: &mut Reply<'_>);
    /// The next piece of the current command's data (`eos` on the last).
    fn data(&mut self, data: Bytes, eos: bool, reply: &mut Reply<'_>) {
        let _ = (data, eos, reply);
    }
}

/// How a [`Handler`] answers the oldest command not yet answered.
pub struct Reply<'a> {
    reactor: &'a mut ServerReactor,
    t: &'a mut dyn FrameTransport,
}

impl Reply<'_> {
    /// A piece of the response; more will follow.
    #[inline]
    pub fn send(&mut self, data: Bytes) {
        self.respond(data, false);
    }

    /// The last piece of the response (may be empty).
    #[inline]
    pub fn finish(&mut self, data: Bytes) {
        self.respond(data, true);
    }

    #[inline]
    fn respond(&mut self, data: Bytes, eos: bool) {
        // A piece that fits one frame and may go out now is sent as it
        // is; the reactor's state moves exactly as with `on_response`.
        match self.reactor.single_response(data, eos) {
            Ok(frame) => self.t.send(frame),
            Err(data) => {
                let a = self.reactor.on_response(data, eos);
                carry_out(a, self.reactor, self.t);
            }
        }
    }

    /// The command failed: an error-response frame (flag `application`)
    /// answers it.
    pub fn fail(&mut self, message: &str) {
        let a = self.reactor.on_application_error(message);
        carry_out(a, self.reactor, self.t);
    }

    /// Whether the transport's write buffer is above its high-water mark
    /// (a handler producing a large answer should slow down).
    pub fn write_buffer_len(&self) -> usize {
        self.t.write_buffer_len()
    }
}

/// Sends what a response action says to send. Run/Data cannot come from a
/// response event.
fn carry_out(a: Action, reactor: &mut ServerReactor, t: &mut dyn FrameTransport) {
    match a {
        Action::Send(frames) => send(frames, reactor, t),
        Action::Error { error, send } => {
            tracing::warn!(%error, "command protocol error");
            t.send_all(send);
        }
        _ => {}
    }
}

/// Send `frames` and give their vector back to the reactor for reuse.
#[inline]
fn send(mut frames: Vec<Frame>, reactor: &mut ServerReactor, t: &mut dyn FrameTransport) {
    for f in frames.drain(..) {
        t.send(f);
    }
    reactor.recycle(frames);
}

/// A command server: a [`ServerReactor`] on a frame transport, running a
/// [`Handler`]'s commands.
///
/// Full duplex: responses go out as they are made; the connection closes
/// once the peer has half-closed and every command is answered. Half
/// duplex: responses are held until the peer half-closes, then sent in
/// order, and the connection closes. A protocol error is answered with an
/// error-response frame, then the connection closes (in half-duplex mode,
/// after the peer's half-close). While the transport below is above its
/// high-water mark, the server stops reading, so a client that does not
/// read its answers cannot make the server buffer without bound.
pub struct CommandServer<H> {
    reactor: ServerReactor,
    handler: H,
    error: Option<crate::ProtocolError>,
}

impl<H: Handler> CommandServer<H> {
    /// A server in `duplex` mode with default limits.
    pub fn new(duplex: Duplex, handler: H) -> Self {
        CommandServer::with_config(ServerConfig::new(duplex), handler)
    }

    /// A server with `cfg`.
    pub fn with_config(cfg: ServerConfig, handler: H) -> Self {
        CommandServer {
            reactor: ServerReactor::new(cfg),
            handler,
            error: None,
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The reactor (its state, for tests and statistics).
    pub fn reactor(&self) -> &ServerReactor {
        &self.reactor
    }

    /// The protocol error the peer made, if it made one.
    pub fn protocol_error(&self) -> Option<&crate::ProtocolError> {
        self.error.as_ref()
    }

    /// [`apply_inline`](Self::apply_inline), out of line: for the rare
    /// events (a decode error, the end of input).
    #[inline(never)]
    fn apply(&mut self, t: &mut dyn FrameTransport, a: Action) {
        self.apply_inline(t, a);
    }

    /// Carry out `a`. Inlined into `frame_received`, the per-message path,
    /// so that the action is matched where it is made (not moved into a
    /// call and matched there).
    #[inline(always)]
    fn apply_inline(&mut self, t: &mut dyn FrameTransport, a: Action) {
        let CommandServer {
            reactor,
            handler,
            error,
        } = self;
        match a {
            Action::WantFrame | Action::Noop => {}
            Action::Send(frames) => send(frames, reactor, t),
            Action::Run(cmd) => handler.command(&cmd, &mut Reply { reactor, t }),
            Action::Data { data, eos } => handler.data(data, eos, &mut Reply { reactor, t }),
            Action::Error { error: e, send } => {
                tracing::debug!(error = %e, "peer broke the command protocol");
                *error = Some(e);
                t.send_all(send);
            }
        }
        self.close_if_done(t);
    }

    /// Close once the reactor says the exchange is over.
    #[inline(always)]
    fn close_if_done(&mut self, t: &mut dyn FrameTransport) {
        if self.reactor.should_close() && t.can_send() {
            t.close();
        }
    }
}

impl<H: Handler> FrameProtocol for CommandServer<H> {
    fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame) {
        // A piece of the running command's data, the most frequent frame,
        // goes straight to the handler; `on_frame` would have said
        // `Action::Data` and moved the state the same way (the reactor's
        // tests pin both fast paths to it).
        let frame = match self.reactor.data_frame(frame) {
            Ok((data, eos)) => {
                let CommandServer {
                    reactor, handler, ..
                } = self;
                handler.data(data, eos, &mut Reply { reactor, t });
                return self.close_if_done(t);
            }
            Err(frame) => frame,
        };
        // The start of a request without arguments, likewise: `on_frame`
        // would have said `Action::Run`.
        let frame = match self.reactor.name_frame(frame) {
            Ok(cmd) => {
                let CommandServer {
                    reactor, handler, ..
                } = self;
                handler.command(&cmd, &mut Reply { reactor, t });
                // `name_frame` made the arguments `Vec::new()` and the
                // handler only borrowed them: nothing was allocated, so
                // there is nothing to free, and forgetting the vector skips
                // the out-of-line call that drops its (no) elements.
                let Command { args, .. } = cmd;
                debug_assert_eq!(args.capacity(), 0);
                std::mem::forget(args);
                return self.close_if_done(t);
            }
            Err(frame) => frame,
        };
        let a = self.reactor.on_frame(frame);
        self.apply_inline(t, a);
    }

    fn frame_error(&mut self, t: &mut dyn FrameTransport, error: FrameError) {
        let a = self.reactor.on_decode_error(error);
        self.apply(t, a);
    }

    fn read_closed(&mut self, t: &mut dyn FrameTransport) {
        let a = self.reactor.on_input_eof();
        self.apply(t, a);
    }

    fn pause_writing(&mut self, t: &mut dyn FrameTransport) {
        t.pause_reading();
    }

    fn resume_writing(&mut self, t: &mut dyn FrameTransport) {
        t.resume_reading();
    }

    fn connection_lost(&mut self, reason: Reason) {
        if !reason.is_done() {
            tracing::debug!(%reason, "command connection lost");
        }
    }
}

/// Is a [`Duplex`] mode; for messages.
pub fn duplex_name(d: Duplex) -> &'static str {
    match d {
        Duplex::Full => "full-duplex",
        Duplex::Half => "half-duplex",
    }
}
