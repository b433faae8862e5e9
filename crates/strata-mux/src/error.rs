//! Why a mux connection failed: precise errors, handed to every subchannel
//! as `Reason::Error(MuxError)`.

use crate::frame::{FrameError, FrameType};

/// The code a GoAway frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GoAwayCode {
    /// 0: a graceful shutdown: no new streams, existing ones finish.
    Normal,
    /// 1: the sender saw a protocol violation.
    ProtocolError,
    /// 2: the sender failed internally.
    InternalError,
    /// Any other value (not in the spec).
    Other(u32),
}

impl GoAwayCode {
    /// The wire value.
    pub fn to_u32(self) -> u32 {
        match self {
            GoAwayCode::Normal => 0,
            GoAwayCode::ProtocolError => 1,
            GoAwayCode::InternalError => 2,
            GoAwayCode::Other(v) => v,
        }
    }

    /// The code for a wire value.
    pub fn from_u32(v: u32) -> Self {
        match v {
            0 => GoAwayCode::Normal,
            1 => GoAwayCode::ProtocolError,
            2 => GoAwayCode::InternalError,
            v => GoAwayCode::Other(v),
        }
    }
}

/// What went wrong on a mux connection. Every variant but
/// [`PeerGoAway`](MuxError::PeerGoAway) is a violation by the peer, answered
/// with GoAway(protocol error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MuxError {
    /// A frame header could not be decoded.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// The peer opened a stream with an id of our parity (odd ids are the
    /// client's, even ids the server's).
    #[error("the peer opened stream {stream}, an id of our parity")]
    WrongParity {
        /// The stream id.
        stream: u32,
    },
    /// The peer opened (SYN) a stream whose id is live or was reset
    /// recently. (A new id below the highest seen is fine: yamux sends a
    /// stream's SYN with its first frame, so opens can arrive out of order.)
    #[error("the peer opened stream {stream} again, which is live or was just reset (highest id {last})")]
    StreamIdReused {
        /// The stream id.
        stream: u32,
        /// The highest id the peer had opened.
        last: u32,
    },
    /// A frame for a stream that was never opened.
    #[error("{ty:?} frame for stream {stream}, which was never opened")]
    UnknownStream {
        /// The frame's type.
        ty: FrameType,
        /// The stream id.
        stream: u32,
    },
    /// Data for a stream the peer had already half-closed (FIN), or that is
    /// closed (beyond the grace allowed for data in flight when we reset it).
    #[error("{len} bytes of data for stream {stream}, which is closed for the peer's sending")]
    StreamClosed {
        /// The stream id.
        stream: u32,
        /// The data frame's length.
        len: u32,
    },
    /// More data than the stream's receive window allowed.
    #[error("{len} bytes of data for stream {stream} exceed its receive window of {window}")]
    WindowExceeded {
        /// The stream id.
        stream: u32,
        /// The data frame's length.
        len: u32,
        /// The window the peer had.
        window: u32,
    },
    /// Window updates pushed a stream's send credit past 2^32 − 1.
    #[error("window updates for stream {stream} overflow its credit")]
    WindowOverflow {
        /// The stream id.
        stream: u32,
    },
    /// The peer reset (or had refused) more streams than allowed within the
    /// configured interval: an open+reset flood.
    #[error("the peer reset {count} streams within {interval_ms} ms (limit {limit})")]
    ResetFlood {
        /// Resets counted.
        count: u32,
        /// The limit.
        limit: u32,
        /// The interval, in milliseconds.
        interval_ms: u64,
    },
    /// The peer sent GoAway with an error code: it found a fault with us
    /// (or with itself) and is ending the connection.
    #[error("the peer went away with {0:?}")]
    PeerGoAway(GoAwayCode),
    /// The connection below ended in the middle of a frame.
    #[error("the connection below ended in the middle of a frame")]
    Truncated,
}

impl MuxError {
    /// The GoAway code we send when this error ends the connection.
    pub fn go_away_code(&self) -> GoAwayCode {
        match self {
            MuxError::PeerGoAway(_) | MuxError::Truncated => GoAwayCode::Normal,
            _ => GoAwayCode::ProtocolError,
        }
    }
}
