//! # strata-core: the contracts every layer of a Strata stack speaks
//!
//! Strata builds network stacks the way Twisted taught a generation to: a
//! **transport** moves bytes, a **protocol** makes sense of them, and every
//! layer in between is *both at once*. TLS is a protocol to TCP and a
//! transport to HTTP; a multiplexed connection is a protocol to TLS and, for
//! each of its subchannels, a transport to a request handler.
//!
//! ```text
//!   app protocol          Protocol
//!        ^  |               ^ upcalls: data_received, read_closed, ...
//!        |  v               | downcalls: write, close_write, close, ...
//!   TLS layer            Transport (to the app)  +  Protocol (to TCP)
//!        ^  |
//!        |  v
//!   TCP transport        Transport, driven by the tokio driver (the only I/O)
//! ```
//!
//! ## Push-style callbacks with a borrowed transport
//!
//! A [`Protocol`] receives events through synchronous callbacks. Each callback
//! is handed the transport as `&mut dyn Transport` *for the duration of the
//! call*: no protocol stores a pointer to its transport, so no layer needs
//! `Rc<RefCell<_>>`, a lock or a back-reference. A layer that sits between two
//! others hands the protocol above a short-lived *view* — a struct that
//! borrows the layer's own state and the transport below and implements
//! [`Transport`].
//!
//! Effects a protocol asks for inside a callback (close, close the write side,
//! pause) are recorded and carried out *after* the callback returns, never by
//! calling back into the protocol while it is still running. Flow-control
//! notifications ([`Protocol::pause_writing`]) are likewise delivered after the
//! callback that caused them.
//!
//! ## The close contract
//!
//! Every transport — TCP, Unix, TLS, a mux subchannel, the in-memory harness —
//! delivers the same sequence of callbacks for the same situation. The table
//! lives in `ARCHITECTURE.md`; the short form:
//!
//! * [`Transport::close_write`] flushes, sends the end-of-stream marker (TCP
//!   FIN, TLS close_notify, mux FIN) and keeps reading;
//!   [`Protocol::write_closed`] reports it done.
//! * The peer's end-of-stream arrives as [`Protocol::read_closed`]; the default
//!   implementation closes our side too.
//! * [`Transport::close`] flushes and closes both directions; no more data is
//!   delivered after it.
//! * [`Transport::abort`] drops buffered data and ends the connection at once;
//!   the peer sees a reset where the transport can express one.
//! * [`Protocol::connection_lost`] comes exactly once, always last, after both
//!   directions are closed. No callback follows it.
//! * A write after `close_write` or `close` is a logged no-op: the bytes are
//!   dropped and a `tracing` warning is emitted. [`Transport::can_write`] tells
//!   beforehand.
//!
//! [`Lifecycle`] is that contract as a small state machine, shared by every
//! transport implementation so that none of them re-derives it.
//!
//! ## Static and dynamic stacks
//!
//! Layers are generic over the protocol above (`Tls<P>`, `Mux<F>`), which
//! gives monomorphised, inlined fast paths. `Box<dyn Protocol>` implements
//! [`Protocol`] as well, so stacks assembled at run time from a description
//! (`tcp:127.0.0.1:7000+tls:...`) work with the same layers.

#![warn(missing_docs)]

mod base;
mod channels;
mod datagram;
mod description;
mod factory;
mod flow;
mod info;
mod lifecycle;
mod protocol;
mod reason;
mod timer;
mod transport;
mod upgrade;
mod write_queue;

pub use base::BaseTransport;
pub use channels::{ChannelId, Channels, OpenError};
pub use datagram::{DatagramProtocol, DatagramTransport};
pub use description::{Description, DescriptionError, Opt, Segment};
pub use factory::Factory;
pub use flow::{FlowUpcall, WaterMarks, DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER};
pub use info::{Addr, LayerInfo, TransportInfo};
pub use lifecycle::{Lifecycle, Upcall};
pub use protocol::Protocol;
pub use reason::Reason;
pub use timer::{TimerId, Timers};
pub use transport::Transport;
pub use upgrade::{BoxProtocol, Upgradable, Upgrade, UpgradeError};
pub use write_queue::WriteQueue;

/// Re-exported so that protocols need not depend on `bytes` themselves.
pub use bytes::{Bytes, BytesMut};
