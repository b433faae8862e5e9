//! # strata-frames: a frame layer, and a command protocol run by reactors
//!
//! Many protocols are framed request/response exchanges. This crate gives
//! Strata two things for them, each in the shape the rest of Strata has.
//!
//! ## 1. The frame layer: a protocol below, a transport of frames above
//!
//! [`Framed<P>`] is a layer like TLS is one: to the transport below (TCP,
//! TLS, a mux subchannel, the test harness) it is a [`Protocol`] of bytes;
//! to the [`FrameProtocol`] `P` above it is a [`FrameTransport`] — the same
//! contract (close, half-close, pause, timers, `connection_lost` once and
//! last), with *frames* where bytes were.
//!
//! ```text
//!   FrameProtocol P      frame_received(Frame)          send(Frame)
//!        ^  |                    ^                           |
//!        |  v                    |  (view: FrameTransport)   v
//!   Framed<P>            Decoder: bytes -> frames     Encoder: frames -> bytes
//!        ^  |                    ^  (Protocol)               |
//!        |  v                    |                           v
//!   transport below      data_received(bytes)         write(one batch per callback)
//! ```
//!
//! The wire format is Mercurial's (`wireprotoframing.py`): a 4-byte header —
//! a 24-bit little-endian payload length, then one byte of type (high 4
//! bits) and flags (low 4 bits) — then the payload:
//!
//! | type | code | flags |
//! |---|---|---|
//! | `command-name` | 1 | `eos` 1, `have-args` 2, `have-data` 4 |
//! | `command-argument` | 2 | `continuation` 1, `eoa` 2 — payload `<u16 LE name len><u16 LE value len>name value` |
//! | `command-data` | 3 | `continuation` 1, `eos` 2 |
//! | `bytes-response` | 4 | `continuation` 1, `eos` 2 |
//! | `error-response` | 5 | `protocol` 1, `application` 2 — payload a UTF-8 message |
//!
//! Payloads are `Bytes` both ways and are not copied: a received frame's
//! payload is a slice of the bytes that arrived (only a frame split across
//! reads is gathered, once, into a buffer of its size), and a sent frame's
//! payload over [`COPY_MAX`] (1 KiB) goes below as it is, after its 4-byte
//! header. Smaller frames are copied, header and payload, into one buffer
//! per callback ([`Encoder`]), so what a callback sends reaches the
//! transport below as one write
//! ([`Transport::write_buf`](strata_core::Transport::write_buf), which
//! under the tokio driver takes the buffer itself rather than a copy): a
//! small request is one `write` system call, not a vectored write of six
//! pieces. The default maximum payload is 32 KiB
//! ([`DEFAULT_MAX_FRAME`]), configurable up to 2^24 - 1
//! ([`Framed::with_max_frame`]). A header is checked as soon as it is in
//! (type known, flags defined for the type, length within the limit), so
//! the layer never holds more than one frame's worth of bytes; a bad stream
//! is reported once, as [`FrameProtocol::frame_error`], and the rest of it
//! discarded.
//!
//! [`human`] reads and writes frames as one line of text
//! (`command-name have-args|have-data hash`), as `strata frames encode` and
//! `strata frames decode` do.
//!
//! ## 2. The command protocol: reactors, events in, actions out
//!
//! A request is a `command-name` frame, its `command-argument` frames
//! (`eoa` on the last; a long value continues over several frames with
//! `continuation`), and its `command-data` frames (`eos` on the last). The
//! response is `bytes-response` frames (`eos` on the last) or an
//! `error-response`. Several commands follow one another on a connection.
//!
//! Both ends are **reactors**, in the pattern of Mercurial's server reactor
//! and quinn-proto's connection: a pure state machine that is told what
//! happened and answers what to do, without doing any of it.
//!
//! ```text
//!   events in                              actions out
//!   on_frame(Frame)             ┌──────────────────┐   Send(frames)
//!   on_decode_error(FrameError) │  ServerReactor   │   Run(Command)
//!   on_response(data, eos)  ──> │  (no I/O, no     │ ─> Data { data, eos }
//!   on_application_error(msg)   │   callbacks)     │   WantFrame / Noop
//!   on_input_eof()              └──────────────────┘   Error { error, send }
//! ```
//!
//! [`ServerReactor`] is tested by feeding it events and comparing actions —
//! no socket, no harness, no handler. [`CommandServer`] is the thin glue
//! that carries actions out on a frame transport and calls a [`Handler`]
//! for the commands; [`ClientReactor`] builds request frames and reassembles
//! responses, and [`Caller`] is a ready-made client on it. The same
//! reactors run over async I/O just as well: `strata call` drives a
//! `ClientReactor` from a tokio task over a stream.
//!
//! Beyond Mercurial's reference reactor: argument values span frames,
//! command data is delivered as a stream (never buffered whole), responses
//! larger than a frame are split with `continuation`/`eos` (and may start
//! before the request's data has ended), and every malformed sequence — a
//! frame of the wrong type for the state, a partial argument, flags invalid
//! for the type, an oversized frame, input ending inside a request — is
//! answered with an `error-response` frame (flag `protocol`) and a precise
//! [`ProtocolError`], never a panic. Every limit is explicit
//! ([`ServerConfig`]), so memory stays bounded whatever a peer sends.
//!
//! ## Full and half duplex
//!
//! [`Duplex::Full`]: responses go out as soon as they are ready. In
//! [`Duplex::Half`] mode no output may be sent until the input has ended —
//! a server behind a pipe or an HTTP/1.0-style exchange: response frames
//! are held until the peer's half-close arrives (`read_closed`), then sent
//! in order, and the connection closes. The client's
//! [`HalfClose::AfterSending`] is what makes that work; half-close travels
//! through TLS and the mux like any other end of stream, so both modes run
//! over every Strata stack.
//!
//! ```
//! use strata_frames::{Call, Caller, CommandServer, Duplex, Framed, HalfClose, Handler, Reply, Command};
//! use strata_frames::Bytes;
//! use strata_testing::Pair;
//!
//! /// Answers every command with its name, upper-cased.
//! struct Shout;
//! impl Handler for Shout {
//!     fn command(&mut self, cmd: &Command, reply: &mut Reply<'_>) {
//!         reply.finish(Bytes::from(cmd.name.to_ascii_uppercase()));
//!     }
//! }
//!
//! let caller = Caller::new(vec![Call::new("hello"), Call::new("there")], HalfClose::AfterSending);
//! let server = CommandServer::new(Duplex::Half, Shout);
//! let mut pair = Pair::new(Framed::new(caller), Framed::new(server));
//! assert!(pair.run());
//! let answers: Vec<_> = pair.a.proto.app().outcome().answers.iter().cloned().map(Result::unwrap).collect();
//! assert_eq!(answers, ["HELLO", "THERE"]);
//! ```
//!
//! [`Protocol`]: strata_core::Protocol

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod caller;
pub mod client;
pub mod codec;
mod error;
mod frame;
pub mod human;
mod layer;
pub mod server;
mod service;

pub use caller::{Call, Caller, Event, HalfClose, Outcome};
pub use client::{ClientAction, ClientReactor, DataSender};
pub use codec::{decode_all, Decoder, Encoder, COPY_MAX};
pub use error::{ErrorKind, FrameError, ProtocolError, RequestError, ServerError};
pub use frame::{
    parse_header, Flags, Frame, FrameType, DEFAULT_MAX_FRAME, HEADER_LEN, MAX_FRAME_LIMIT,
};
pub use layer::{FrameProtocol, FrameTransport, Framed};
pub use server::{Action, Command, Duplex, ServerConfig, ServerReactor};
pub use service::{duplex_name, CommandServer, Handler, Reply};

/// Re-exported so users need not depend on `bytes` themselves.
pub use bytes::Bytes;
