//! What can go wrong, precisely: in a byte stream ([`FrameError`]), in a
//! sequence of frames ([`ProtocolError`]), and as reported by the peer
//! ([`ServerError`]).

use crate::FrameType;

/// A byte stream that is not a valid sequence of frames. Found by the
/// decoder; after one, the stream cannot be resynchronised.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announces a payload longer than this side accepts.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversized {
        /// The announced payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The type nibble is not one of the five frame types.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// A flag bit the frame's type does not define is set.
    #[error("flags {flags:#x} are not defined for a {kind} frame")]
    UnknownFlags {
        /// The frame's type.
        kind: FrameType,
        /// The flag nibble.
        flags: u8,
    },
    /// The stream ended in the middle of a frame.
    #[error("the stream ended inside a frame ({have} of {need} bytes)")]
    Truncated {
        /// Bytes of the frame that arrived.
        have: usize,
        /// Bytes the frame needed (or 4, the header, if its header was cut).
        need: usize,
    },
}

/// A sequence of frames that breaks the command protocol. A reactor answers
/// each with an error-response frame (flag `protocol`) and takes no more
/// input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The bytes did not even make frames.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame of a type that cannot come now.
    #[error("unexpected {kind} frame {state}")]
    UnexpectedFrame {
        /// The frame's type.
        kind: FrameType,
        /// Where the reactor was: `before any command`, `while reading arguments`, ...
        state: &'static str,
    },
    /// Flags that are defined for the type but make no sense together or here.
    #[error("invalid flags on a {kind} frame: {why}")]
    InvalidFlags {
        /// The frame's type.
        kind: FrameType,
        /// What is wrong.
        why: &'static str,
    },
    /// A command-name frame with an empty name.
    #[error("empty command name")]
    EmptyName,
    /// A command-argument frame that does not hold what its header says.
    #[error("malformed argument: {0}")]
    BadArgument(&'static str),
    /// More arguments than the reactor accepts for one command.
    #[error("more than {0} arguments")]
    TooManyArguments(usize),
    /// Argument names and values add up to more than the reactor accepts.
    #[error("arguments exceed {0} bytes")]
    ArgumentsTooLarge(usize),
    /// More commands received than answered, beyond the limit.
    #[error("more than {0} commands awaiting an answer")]
    TooManyPending(usize),
    /// The input ended in the middle of a request.
    #[error("the input ended inside a request ({0})")]
    IncompleteRequest(&'static str),
    /// A response arrived with no command waiting for one.
    #[error("a {0} frame answers no command")]
    UnsolicitedResponse(FrameType),
    /// The input ended with commands still unanswered.
    #[error("the connection ended with {0} command(s) unanswered")]
    IncompleteResponse(usize),
    /// In half-duplex mode, responses held until the input ends outgrew the limit.
    #[error("responses held for half-duplex exceed {0} bytes")]
    DeferredTooLarge(usize),
}

/// Which side an error-response blames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The protocol was broken (flag `protocol`); the connection closes.
    Protocol,
    /// The command failed (flag `application`); the connection goes on.
    Application,
}

/// An error-response frame as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} error from the server: {message}", match .kind { ErrorKind::Protocol => "protocol", ErrorKind::Application => "application" })]
pub struct ServerError {
    /// Protocol or application.
    pub kind: ErrorKind,
    /// The server's message.
    pub message: String,
}

/// Why a request could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A command name must be 1 to max-frame bytes.
    #[error("a command name must be 1 to {max} bytes, not {len}")]
    NameLength {
        /// The name's length.
        len: usize,
        /// The frame limit.
        max: usize,
    },
    /// An argument name must be 1 byte to fit, with its 4-byte header, in one frame.
    #[error("argument name of {len} bytes: must be 1 to {max}")]
    ArgumentName {
        /// The name's length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// An argument value is longer than its 16-bit length field can say.
    #[error("argument value of {0} bytes exceeds 65535")]
    ArgumentValue(usize),
}
