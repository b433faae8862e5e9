//! The client reactor: builds the frames of a request and makes sense of
//! the response frames, sans-IO.
//!
//! [`ClientReactor::command`] turns a name, arguments and "data follows"
//! into frames (arguments longer than a frame continue over several), and
//! returns a [`DataSender`] that cuts the command's data stream into
//! command-data frames as it is produced — the data is never buffered
//! whole. [`ClientReactor::on_frame`] takes each frame from the server and
//! returns a [`ClientAction`]: a piece of a response (in order, `eos` on the
//! last), the command's failure, or a protocol error if the server sent
//! something a server must not.

use bytes::{BufMut, Bytes, BytesMut};

use crate::server::{split, split_into};
use crate::{
    ErrorKind, Flags, Frame, FrameTransport, FrameType, ProtocolError, RequestError, ServerError,
    DEFAULT_MAX_FRAME,
};

/// What a response frame means to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    /// A piece of the response to the oldest command awaiting one; `eos`
    /// on the last (that command is then answered).
    Response {
        /// The piece (the frame's payload, no copy).
        data: Bytes,
        /// Whether it is the last.
        eos: bool,
    },
    /// The server answered with an error-response. An application error
    /// answers the oldest command; a protocol error means the server is
    /// closing the connection.
    Failed(ServerError),
    /// The server broke the protocol.
    Error(ProtocolError),
    /// Nothing to do (input after an error).
    Noop,
}

/// Cuts one command's data stream into command-data frames.
#[derive(Debug)]
pub struct DataSender {
    max_frame: usize,
    done: bool,
}

impl DataSender {
    /// Frames for the next piece of data, appended to `out`; `eos` with the
    /// last piece (which may be empty). Nothing is sent after `eos`.
    #[inline]
    pub fn push(&mut self, out: &mut Vec<Frame>, data: Bytes, eos: bool) {
        if self.done {
            tracing::warn!("command data after its end: dropped");
            return;
        }
        self.done = eos;
        split(out, FrameType::CommandData, data, eos, self.max_frame);
    }

    /// [`push`](DataSender::push) into a new vector.
    pub fn frames(&mut self, data: Bytes, eos: bool) -> Vec<Frame> {
        let mut v = Vec::new();
        self.push(&mut v, data, eos);
        v
    }

    /// Whether the data's end has been sent.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// The client side of the command protocol. See the [module docs](self).
#[derive(Debug)]
pub struct ClientReactor {
    max_frame: usize,
    awaiting: usize,
    failed: bool,
    /// Names and argument headers are copied into this buffer and split
    /// off it: one allocation per several requests, not one per frame.
    scratch: BytesMut,
    /// The last command name sent, reused (a reference, no copy) while a
    /// client calls the same command again and again.
    last_name: Bytes,
}

/// The buffer reserved for names and argument headers when the last one
/// is used up.
const SCRATCH: usize = 4096;

impl Default for ClientReactor {
    fn default() -> Self {
        ClientReactor::new(DEFAULT_MAX_FRAME)
    }
}

impl ClientReactor {
    /// A client sending frames of at most `max_frame` bytes (at least 8).
    pub fn new(max_frame: usize) -> Self {
        ClientReactor {
            max_frame: max_frame.clamp(8, crate::MAX_FRAME_LIMIT),
            awaiting: 0,
            failed: false,
            scratch: BytesMut::new(),
            last_name: Bytes::new(),
        }
    }

    /// Commands sent and not yet answered in full.
    pub fn awaiting(&self) -> usize {
        self.awaiting
    }

    /// Whether the exchange failed (a protocol error either way).
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// The frames of a request: `name`, then `args` (in order; a value
    /// longer than a frame continues over several), and, if `data`, a
    /// [`DataSender`] for the command data, which must be sent before the
    /// next command.
    pub fn command(
        &mut self,
        name: &[u8],
        args: &[(Bytes, Bytes)],
        data: bool,
    ) -> Result<(Vec<Frame>, Option<DataSender>), RequestError> {
        let mut frames = Vec::with_capacity(1 + args.len());
        let sender = self.command_into(&mut frames, name, args, data)?;
        Ok((frames, sender))
    }

    /// [`command`](ClientReactor::command), appending the frames to `out`
    /// (a vector the caller reuses, so that a request allocates nothing).
    /// On an error nothing is appended.
    #[inline]
    pub fn command_into(
        &mut self,
        out: &mut Vec<Frame>,
        name: &[u8],
        args: &[(Bytes, Bytes)],
        data: bool,
    ) -> Result<Option<DataSender>, RequestError> {
        // The usual request, inline in the caller: no arguments and a name
        // that fits a frame, so one command-name frame and nothing to
        // check or cut. Everything else (this case included, in general)
        // is `command_general`'s; a test pins the two together.
        if let Some(flags) = self.usual_name_flags(name, args, data) {
            let name = self.name(name);
            out.push(Frame {
                kind: FrameType::CommandName,
                flags,
                payload: name,
            });
            self.awaiting += 1;
            return Ok(data.then_some(DataSender {
                max_frame: self.max_frame,
                done: false,
            }));
        }
        self.command_general(out, name, args, data)
    }

    /// The flags of the usual request's command-name frame (no arguments,
    /// a name that fits a frame: nothing to check or cut), or `None` for
    /// any other request.
    #[inline]
    fn usual_name_flags(&self, name: &[u8], args: &[(Bytes, Bytes)], data: bool) -> Option<Flags> {
        let usual = args.is_empty() && !name.is_empty() && name.len() <= self.max_frame;
        usual.then_some(if data {
            Flags::HAVE_DATA
        } else {
            Flags::NAME_EOS
        })
    }

    /// Send a whole request through `t`, the frame transport a
    /// [`FrameProtocol`](crate::FrameProtocol) is lent: `name`, then `args`,
    /// then `data` if there is any, ending the command — the same frames as
    /// [`command_into`](ClientReactor::command_into) followed by one
    /// [`DataSender::push`] of all the data with `eos`, each sent as it is
    /// made (nothing gathered in between). The usual request, a name and no
    /// arguments, sends its name with [`FrameTransport::send_slice`]: copied
    /// straight into the frame layer's output, no `Bytes` made for it. On an
    /// error nothing is sent.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use strata_frames::{ClientReactor, Frame, FrameProtocol, FrameTransport};
    ///
    /// /// Asks for the hash of some data as soon as connected.
    /// struct AskHash(ClientReactor);
    ///
    /// impl FrameProtocol for AskHash {
    ///     fn connection_made(&mut self, t: &mut dyn FrameTransport) {
    ///         let data = Some(Bytes::from_static(b"some data"));
    ///         self.0.request(t, b"hash", &[], data).expect("a valid request");
    ///     }
    ///     fn frame_received(&mut self, t: &mut dyn FrameTransport, frame: Frame) {
    ///         let _ = self.0.on_frame(frame);
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn request(
        &mut self,
        t: &mut dyn FrameTransport,
        name: &[u8],
        args: &[(Bytes, Bytes)],
        data: Option<Bytes>,
    ) -> Result<(), RequestError> {
        // The usual request, inline, as in `command_into`; a test pins it
        // to the general path.
        if let Some(flags) = self.usual_name_flags(name, args, data.is_some()) {
            self.awaiting += 1;
            t.send_slice(FrameType::CommandName, flags, name);
            if let Some(data) = data {
                let max = self.max_frame;
                split_into(&mut |f| t.send(f), FrameType::CommandData, data, true, max);
            }
            return Ok(());
        }
        self.request_general(t, name, args, data)
    }

    fn request_general(
        &mut self,
        t: &mut dyn FrameTransport,
        name: &[u8],
        args: &[(Bytes, Bytes)],
        data: Option<Bytes>,
    ) -> Result<(), RequestError> {
        let mut frames = Vec::new();
        let sender = self.command_general(&mut frames, name, args, data.is_some())?;
        if let (Some(mut sender), Some(data)) = (sender, data) {
            sender.push(&mut frames, data, true);
        }
        t.send_all(frames);
        Ok(())
    }

    fn command_general(
        &mut self,
        out: &mut Vec<Frame>,
        name: &[u8],
        args: &[(Bytes, Bytes)],
        data: bool,
    ) -> Result<Option<DataSender>, RequestError> {
        let max = self.max_frame;
        if name.is_empty() || name.len() > max {
            return Err(RequestError::NameLength {
                len: name.len(),
                max,
            });
        }
        for (k, v) in args {
            let most = (max - 4).min(u16::MAX as usize);
            if k.is_empty() || k.len() > most {
                return Err(RequestError::ArgumentName {
                    len: k.len(),
                    max: most,
                });
            }
            if v.len() > u16::MAX as usize {
                return Err(RequestError::ArgumentValue(v.len()));
            }
        }
        let mut flags = Flags::NONE;
        if !args.is_empty() {
            flags = flags | Flags::HAVE_ARGS;
        }
        if data {
            flags = flags | Flags::HAVE_DATA;
        }
        if flags.is_empty() {
            flags = Flags::NAME_EOS;
        }
        let name = self.name(name);
        out.push(Frame::new(FrameType::CommandName, flags, name));
        for (i, (k, v)) in args.iter().enumerate() {
            let last = i + 1 == args.len();
            let room = max - 4 - k.len();
            let first = v.len().min(room);
            let lens = [k.len() as u16, v.len() as u16].map(u16::to_le_bytes);
            let p = self.copy(&[&lens[0], &lens[1], k, &v[..first]]);
            let mut rest = v.slice(first..);
            let end = |more: bool| match (more, last) {
                (true, _) => Flags::CONTINUATION,
                (false, true) => Flags::EOA,
                (false, false) => Flags::NONE,
            };
            out.push(Frame::new(
                FrameType::CommandArgument,
                end(!rest.is_empty()),
                p,
            ));
            while !rest.is_empty() {
                let piece = rest.split_to(rest.len().min(max));
                out.push(Frame::new(
                    FrameType::CommandArgument,
                    end(!rest.is_empty()),
                    piece,
                ));
            }
        }
        self.awaiting += 1;
        let sender = data.then_some(DataSender {
            max_frame: max,
            done: false,
        });
        Ok(sender)
    }

    /// `name` as a `Bytes`: the last name again if it is the same (the
    /// usual case: one command called over and over; a reference-count
    /// increment instead of a copy and a split), else a copy of it split
    /// off the scratch buffer, kept for next time.
    #[inline]
    fn name(&mut self, name: &[u8]) -> Bytes {
        if self.last_name[..] != *name {
            self.last_name = self.copy(&[name]);
        }
        self.last_name.clone()
    }

    /// `parts`, joined, as a `Bytes` split off the scratch buffer.
    fn copy(&mut self, parts: &[&[u8]]) -> Bytes {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.scratch.capacity() - self.scratch.len() < len
            && !self.scratch.try_reclaim(len.max(SCRATCH))
        {
            self.scratch.reserve(len.max(SCRATCH));
        }
        for p in parts {
            self.scratch.put_slice(p);
        }
        self.scratch.split().freeze()
    }

    /// A frame from the server.
    #[inline]
    pub fn on_frame(&mut self, f: Frame) -> ClientAction {
        // The usual case, inline: a piece of an awaited response, its flags
        // exactly `continuation` or `eos`. Everything else (the same case
        // included, in general) is decided by `on_other_frame`.
        if !self.failed && f.kind == FrameType::BytesResponse && self.awaiting != 0 {
            let eos = f.flags == Flags::EOS;
            if eos || f.flags == Flags::CONTINUATION {
                self.awaiting -= usize::from(eos);
                return ClientAction::Response {
                    data: f.payload,
                    eos,
                };
            }
        }
        self.on_other_frame(f)
    }

    fn on_other_frame(&mut self, f: Frame) -> ClientAction {
        if self.failed {
            return ClientAction::Noop;
        }
        match f.kind {
            FrameType::BytesResponse => {
                let cont = f.has(Flags::CONTINUATION);
                let eos = f.has(Flags::EOS);
                if cont == eos {
                    return self.fail(ProtocolError::InvalidFlags {
                        kind: f.kind,
                        why: "exactly one of continuation, eos is required",
                    });
                }
                if self.awaiting == 0 {
                    return self.fail(ProtocolError::UnsolicitedResponse(f.kind));
                }
                if eos {
                    self.awaiting -= 1;
                }
                ClientAction::Response {
                    data: f.payload,
                    eos,
                }
            }
            FrameType::ErrorResponse => {
                let kind = match (f.has(Flags::PROTOCOL), f.has(Flags::APPLICATION)) {
                    (true, false) => ErrorKind::Protocol,
                    (false, true) => ErrorKind::Application,
                    _ => {
                        return self.fail(ProtocolError::InvalidFlags {
                            kind: f.kind,
                            why: "exactly one of protocol, application is required",
                        })
                    }
                };
                match kind {
                    ErrorKind::Protocol => self.failed = true,
                    ErrorKind::Application if self.awaiting == 0 => {
                        return self.fail(ProtocolError::UnsolicitedResponse(f.kind))
                    }
                    ErrorKind::Application => self.awaiting -= 1,
                }
                ClientAction::Failed(ServerError {
                    kind,
                    message: String::from_utf8_lossy(&f.payload).into_owned(),
                })
            }
            kind => self.fail(ProtocolError::UnexpectedFrame {
                kind,
                state: "from a server",
            }),
        }
    }

    /// The server's output ended: an error if commands are unanswered
    /// (and the exchange had not already failed).
    pub fn on_input_eof(&mut self) -> Option<ProtocolError> {
        if self.failed || self.awaiting == 0 {
            return None;
        }
        self.failed = true;
        Some(ProtocolError::IncompleteResponse(self.awaiting))
    }

    fn fail(&mut self, e: ProtocolError) -> ClientAction {
        self.failed = true;
        ClientAction::Error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `request` puts on the wire, through a frame layer over a
    /// recording transport, and the reactor after it.
    fn wire_of(
        reactor: &mut ClientReactor,
        send: impl FnOnce(&mut ClientReactor, &mut dyn FrameTransport) -> Result<(), RequestError>,
    ) -> (Vec<u8>, String) {
        struct Once<F>(Option<F>, String);
        impl<F: FnOnce(&mut dyn FrameTransport) -> String> crate::FrameProtocol for Once<F> {
            fn connection_made(&mut self, t: &mut dyn FrameTransport) {
                self.1 = (self.0.take().unwrap())(t);
            }
            fn frame_received(&mut self, _: &mut dyn FrameTransport, _: Frame) {}
        }
        let mut below = strata_testing::doubles::RecordingTransport::new();
        let mut layer = crate::Framed::new(Once(
            Some(|t: &mut dyn FrameTransport| format!("{:?}", send(reactor, t))),
            String::new(),
        ));
        strata_core::Protocol::connection_made(&mut layer, &mut below);
        let result = std::mem::take(&mut layer.app_mut().1);
        (below.take_written().to_vec(), result)
    }

    /// `request`'s inline fast path puts the same bytes on the wire,
    /// returns the same result and leaves the reactor in the same state as
    /// the general path, for names around the limits, with no data, empty
    /// data, data of one frame and of several.
    #[test]
    fn request_fast_path_is_the_general_path() {
        let max = 8;
        let args: [(Bytes, Bytes); 0] = [];
        let names: Vec<Vec<u8>> = (0..=max + 1).map(|n| vec![b'n'; n]).collect();
        let datas = [
            None,
            Some(0),
            Some(1),
            Some(max),
            Some(max + 1),
            Some(3 * max),
        ];
        for data in datas {
            let data = data.map(|n| Bytes::from(vec![b'd'; n]));
            let (mut fast, mut general) = (ClientReactor::new(max), ClientReactor::new(max));
            for name in names.iter().chain(names.iter().rev()) {
                let a = wire_of(&mut fast, |r, t| r.request(t, name, &args, data.clone()));
                let b = wire_of(&mut general, |r, t| {
                    r.request_general(t, name, &args, data.clone())
                });
                assert_eq!(a, b);
                assert_eq!(fast.awaiting(), general.awaiting());
            }
        }
    }

    /// `request` sends what `command_into` and one `DataSender::push` of
    /// all the data make, arguments included.
    #[test]
    fn request_is_command_then_all_the_data() {
        let args = [(Bytes::from_static(b"key"), Bytes::from(vec![b'v'; 30]))];
        let no_args: [(Bytes, Bytes); 0] = [];
        for args in [&args[..], &no_args[..]] {
            for data in [None, Some(Bytes::new()), Some(Bytes::from(vec![b'd'; 20]))] {
                let (mut one, mut two) = (ClientReactor::new(16), ClientReactor::new(16));
                let (sent, result) =
                    wire_of(&mut one, |r, t| r.request(t, b"cmd", args, data.clone()));
                assert_eq!(result, "Ok(())");
                let mut made = Vec::new();
                let sender = two.command_into(&mut made, b"cmd", args, data.is_some());
                if let (Some(mut s), Some(d)) = (sender.unwrap(), data) {
                    s.push(&mut made, d, true);
                }
                let wire: Vec<u8> = made.iter().flat_map(|f| f.to_bytes().to_vec()).collect();
                assert_eq!(sent, wire);
                assert_eq!(one.awaiting(), 1);
            }
        }
        let mut c = ClientReactor::new(16);
        let (sent, result) = wire_of(&mut c, |r, t| r.request(t, b"", &[], None));
        assert!(result.starts_with("Err(NameLength"), "{result}");
        assert!(sent.is_empty(), "nothing is sent on an error");
        assert_eq!(c.awaiting(), 0);
    }

    /// `command_into`'s inline fast path makes the same frames, returns the
    /// same result and leaves the reactor in the same state as the general
    /// path, for every name length around the limits, with and without
    /// data, called repeatedly (the cached name) and with a new name.
    #[test]
    fn command_into_fast_path_is_the_general_path() {
        let max = 8;
        let args: [(Bytes, Bytes); 0] = [];
        let names: Vec<Vec<u8>> = (0..=max + 1).map(|n| vec![b'n'; n]).collect();
        for data in [false, true] {
            let (mut fast, mut general) = (ClientReactor::new(max), ClientReactor::new(max));
            for name in names.iter().chain(names.iter().rev()) {
                for _ in 0..2 {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    let ra = fast.command_into(&mut a, name, &args, data);
                    let rb = general.command_general(&mut b, name, &args, data);
                    assert_eq!(format!("{ra:?}"), format!("{rb:?}"));
                    assert_eq!(a, b);
                    assert_eq!(format!("{fast:?}"), format!("{general:?}"));
                }
            }
        }
    }
}
