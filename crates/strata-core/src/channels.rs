//! Opening sibling channels: what a multiplexing layer offers.
//!
//! A mux connection carries many subchannels; a protocol running on one of
//! them (or anywhere above the mux) may open another. It asks its transport
//! for the capability — [`Transport::channels`](crate::Transport::channels)
//! returns `Some` where a multiplexer is reachable — and opens a channel with
//! a protocol of its own for it:
//!
//! ```
//! use strata_core::{BoxProtocol, Bytes, Protocol, Transport};
//!
//! struct Opener(Option<BoxProtocol>);
//! impl Protocol for Opener {
//!     fn connection_made(&mut self, t: &mut dyn Transport) {
//!         if let (Some(ch), Some(p)) = (t.channels(), self.0.take()) {
//!             let id = ch.open_channel(p).expect("mux accepts a new channel");
//!             let _ = id;
//!         }
//!     }
//!     fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
//! }
//! ```
//!
//! Layers that pass data through (TLS, tracing) forward the capability to
//! the transport below them, so it reaches the mux wherever it sits.

use crate::BoxProtocol;

/// Identifies a channel within its multiplexed connection.
pub type ChannelId = u32;

/// Why a channel could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Too many channels are open or opening; try again when some close.
    #[error("too many channels are open (limit {limit})")]
    TooMany {
        /// The limit that was reached.
        limit: usize,
    },
    /// The connection is shutting down (GoAway sent or received).
    #[error("the connection is going away; no new channels")]
    GoingAway,
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Closed,
    /// Channel ids are exhausted on this connection.
    #[error("channel ids are exhausted on this connection")]
    Exhausted,
}

/// The capability to open sibling channels on a multiplexed connection.
pub trait Channels {
    /// Open a new outbound channel running `proto`. Its `connection_made`
    /// comes after the current callback returns; the id is known at once.
    fn open_channel(&mut self, proto: BoxProtocol) -> Result<ChannelId, OpenError>;
}
