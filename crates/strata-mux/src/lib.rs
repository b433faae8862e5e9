//! # strata-mux: one connection, many subchannels
//!
//! A multiplexer turns one byte stream into many. In Strata it is a layer
//! like any other — a *protocol* to the transport below and, for each of
//! its subchannels, a *transport* to the protocol above:
//!
//! ```text
//!    app A          app B          app C            Box<dyn Protocol + Send>, one per subchannel
//!      ^ |            ^ |            ^ |
//!      | v view       | v view       | v view       each view: a full Transport (close contract,
//!   ┌──────────────────────────────────────┐         water marks, pause_reading, timers, info)
//!   │ Mux: streams, windows, round-robin   │       ← Protocol for the transport below
//!   └──────────────────────────────────────┘
//!      ^ | frames (yamux wire format)
//!      | v
//!   TCP / TLS / the test harness / a subchannel of another mux
//! ```
//!
//! It is **sans-IO**: it never touches a socket or a clock of its own.
//! Frames arrive through [`Protocol::data_received`](strata_core::Protocol)
//! in any chunking (down to one byte); frames leave through the lower
//! transport's `write`; time comes from `Transport::now` and timers. So the
//! same mux runs over TCP under tokio, over the in-memory harness with a
//! virtual clock, under TLS, or inside another mux.
//!
//! ## The wire format
//!
//! hashicorp/yamux `spec.md`, so it interoperates with existing yamux
//! peers: a 12-byte header (version 0, type Data / WindowUpdate / Ping /
//! GoAway, flags SYN / ACK / FIN / RST, stream id, length); odd ids for
//! the client, even for the server; a 256 KiB initial window per stream;
//! window updates carry credit deltas. See [`frame`].
//!
//! ## Subchannels are transports
//!
//! * Inbound subchannels get their protocol from the factory given to
//!   [`Mux::server`] / [`Mux::client`] (return `None` to refuse: the peer
//!   sees a reset).
//! * Outbound ones are opened with [`Mux::with_initial`] (a client running
//!   one app), [`Mux::open`] (by the owner), from inside any subchannel's
//!   callback through `t.channels().unwrap().open_channel(proto)`, and from
//!   other tasks with a [`Remote`].
//! * Each keeps the close contract: `close_write` = FIN after the queued
//!   data; the peer's FIN = `read_closed`; `abort` = RST and
//!   `connection_lost(Aborted)`; the peer's RST = `connection_lost(Reset)`;
//!   `close` = FIN after the queued data, then `connection_lost(Done)`
//!   (data arriving later is discarded but credited, so the peer is not
//!   stalled). Losing the connection below ends every subchannel once, with
//!   that reason (a clean end below is a `Reset` for a subchannel that had
//!   not ended).
//! * Data is delivered as slices of what was read (no copy) and sent as
//!   slices of what was written (no copy): a frame is a 12-byte header
//!   followed by the app's own `Bytes`. Only a small frame (at most 512
//!   bytes of payload) is copied, with its header, into one buffer.
//!
//! ## Flow control without head-of-line blocking
//!
//! Each stream has its own receive window. `pause_reading` on a subchannel
//! holds its data and withholds *its* window updates only; the others keep
//! flowing. A window update goes out once the app has consumed half the
//! window; the window doubles (up to [`Config::max_window`]) while it is
//! consumed in under two round trips (measured by ping), within a
//! connection-wide [`Config::receive_budget`]. Streams busy receiving at
//! the same time share that budget: sixteen of them get a sixteenth each,
//! so the peer's data in flight stays near the budget however many streams
//! are busy (yamux itself has no connection window). Writes beyond a
//! stream's window wait in its queue, whose water marks raise
//! `pause_writing`.
//!
//! Frames of ready subchannels are interleaved round-robin,
//! [`Config::max_frame`] bytes each when several wait, larger when one is
//! alone. Data frames go below only while the transport below keeps up
//! (its `pause_writing`, its buffer), so a slow peer pushes back into each
//! subchannel's own water marks and memory stays bounded.
//!
//! ## Misbehaving peers
//!
//! Every malformed input — unknown version or type, wrong-parity ids, data
//! beyond a window, data for an unknown or closed stream, oversized frames,
//! reused ids — ends the connection with GoAway(protocol error) and
//! `connection_lost(Reason::Error(MuxError::..))` on every subchannel; the
//! decoder never panics. A flood of open+reset is bounded
//! ([`Config::max_resets`]), as are live streams, pending opens, and
//! answers to a ping flood.
//!
//! ## Example: a client and an echo server over the test harness
//!
//! ```
//! use strata_core::{BoxProtocol, Bytes, Protocol, Transport, TransportInfo};
//! use strata_mux::{no_inbound, Config, Mux};
//! use strata_testing::Pair;
//! use std::sync::{Arc, Mutex};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, t: &mut dyn Transport, d: Bytes) { t.write(d) }
//!     fn read_closed(&mut self, t: &mut dyn Transport) { t.close() }
//! }
//!
//! struct Ask(Arc<Mutex<Vec<u8>>>);
//! impl Protocol for Ask {
//!     fn connection_made(&mut self, t: &mut dyn Transport) {
//!         t.write_slice(b"ping");
//!         t.close_write();
//!     }
//!     fn data_received(&mut self, _t: &mut dyn Transport, d: Bytes) {
//!         self.0.lock().unwrap().extend_from_slice(&d);
//!     }
//! }
//!
//! let got = Arc::new(Mutex::new(Vec::new()));
//! let client = Mux::client(Config::default().close_when_idle(true), no_inbound())
//!     .with_initial(Box::new(Ask(got.clone())));
//! let server = Mux::server(Config::default(), |_: &TransportInfo| Box::new(Echo) as BoxProtocol);
//! let mut pair = Pair::new(client, server);
//! assert!(pair.run());
//! assert_eq!(&got.lock().unwrap()[..], b"ping");
//! ```

#![warn(missing_docs)]

mod config;
mod core;
mod error;
mod flood;
pub mod frame;
mod inbound;
mod ping;
mod remote;
mod schedule;
mod session;
mod share;
mod stream;
mod view;

pub use crate::core::Role;
pub use config::Config;
pub use error::{GoAwayCode, MuxError};
pub use frame::{FrameError, INITIAL_WINDOW};
pub use remote::Remote;
pub use session::{no_inbound, Accepted, Mux};
