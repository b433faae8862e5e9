use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a connection ended: the argument of
/// [`Protocol::connection_lost`](crate::Protocol::connection_lost).
///
/// Cheap to clone (an error source is shared), because a layer that carries
/// many connections — a mux — hands the same reason to each of them.
#[derive(Clone, Debug)]
pub enum Reason {
    /// Both directions closed cleanly, as the close contract describes.
    Done,
    /// We called [`Transport::abort`](crate::Transport::abort).
    Aborted,
    /// The peer reset the connection (TCP RST, mux RST) or the layer below
    /// was lost under a layer that cannot survive that.
    Reset,
    /// A timeout set by a layer (keepalive, handshake, idle) expired.
    TimedOut,
    /// Anything else: an I/O error, a protocol violation, a TLS alert, a
    /// truncated TLS stream. The source says which.
    Error(Arc<dyn Error + Send + Sync + 'static>),
}

impl Reason {
    /// Wrap an error as a reason.
    pub fn error(e: impl Error + Send + Sync + 'static) -> Self {
        Reason::Error(Arc::new(e))
    }

    /// Whether the connection ended cleanly.
    pub fn is_done(&self) -> bool {
        matches!(self, Reason::Done)
    }

    /// The error behind an [`Reason::Error`], if any.
    pub fn source(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match self {
            Reason::Error(e) => Some(&**e),
            _ => None,
        }
    }

    /// A short, stable name for the kind of reason (`done`, `aborted`,
    /// `reset`, `timed-out`, `error`), for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Done => "done",
            Reason::Aborted => "aborted",
            Reason::Reset => "reset",
            Reason::TimedOut => "timed-out",
            Reason::Error(_) => "error",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Done => f.write_str("connection closed cleanly"),
            Reason::Aborted => f.write_str("connection aborted locally"),
            Reason::Reset => f.write_str("connection reset by peer"),
            Reason::TimedOut => f.write_str("connection timed out"),
            Reason::Error(e) => write!(f, "connection failed: {e}"),
        }
    }
}

impl From<std::io::Error> for Reason {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match e.kind() {
            ConnectionReset | ConnectionAborted | BrokenPipe => Reason::Reset,
            TimedOut => Reason::TimedOut,
            _ => Reason::error(e),
        }
    }
}
