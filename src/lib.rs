//! # Strata: network stacks built out of layers
//!
//! A **transport** moves bytes; a **protocol** makes sense of them; every
//! layer in between — TLS, a multiplexed connection, a framing layer — is
//! *both*: a protocol to the layer below, a transport to the layer above.
//! Strata brings that model (Twisted's) to Rust with sans-IO layers, one
//! close contract kept by every layer (half-close included), and a tokio
//! driver as the only place that does I/O.
//!
//! This facade re-exports the crates a user needs and assembles stacks from
//! one-line descriptions:
//!
//! ```no_run
//! use strata::{Bytes, Protocol, Role, Stack, Transport};
//!
//! struct Hello;
//! impl Protocol for Hello {
//!     fn connection_made(&mut self, t: &mut dyn Transport) {
//!         t.write_slice(b"hello\n");
//!         t.close_write(); // half-close: we still read the answer
//!     }
//!     fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
//!         print!("{}", String::from_utf8_lossy(&data));
//!     }
//! }
//!
//! # async fn demo() -> Result<(), strata::StackError> {
//! let stack = Stack::parse("tcp:127.0.0.1:7000", Role::Client)?;
//! let handle = stack.connect(Box::new(Hello)).await?;
//! handle.closed().await;
//! # Ok(()) }
//! ```
//!
//! * [`core`] — the contracts: [`Protocol`], [`Transport`], the close
//!   contract ([`Lifecycle`](strata_core::Lifecycle)), timers, `TransportInfo`.
//! * [`tls`] — TLS as a layer (rustls), with half-close and STARTTLS.
//! * [`mux`] — many subchannels over one connection (yamux wire format),
//!   each a full transport.
//! * [`rt`] — the tokio driver, endpoints, handles and the bridge to tokio
//!   streams.
//! * [`stack`] — descriptions (`tcp:HOST:PORT+layer:options+...`) to stacks.
//! * [`trace`] — a pass-through layer that records callbacks crossing it,
//!   for learning and debugging.

#![warn(missing_docs)]

pub mod stack;
pub mod trace;

pub use stack::{Layer, Role, Stack, StackError};
pub use strata_core as core;
pub use strata_core::{
    BoxProtocol, Bytes, DatagramProtocol, DatagramTransport, Description, Factory, Protocol,
    Reason, TimerId, Transport, TransportInfo,
};
pub use strata_mux as mux;
pub use strata_tls as tls;
pub use strata_tokio as rt;
