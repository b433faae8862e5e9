//! # strata-tokio: run Strata stacks on tokio
//!
//! A Strata stack is a tower of sans-IO layers; this crate is the only place
//! where it meets real I/O.
//!
//! * **The driver** ([`spawn_stream`], [`Connection`]): one tokio task per
//!   connection owns the whole stack — the socket, the
//!   [`BaseTransport`](strata_core::BaseTransport) at the bottom, every layer
//!   and the protocol on top. Socket readable → `data_received`; writes are
//!   buffered and flushed with vectored writes; water marks →
//!   `pause_writing`/`resume_writing`; timers → `timer_fired`. Nothing is
//!   shared, so nothing is locked.
//! * **Handles** ([`Handle`]): reach a running stack from other tasks by
//!   posting commands (write, close, abort, run a closure inside the task)
//!   and await its end.
//! * **Any tokio stream is a bottom transport** ([`Io`], [`GenericIo`]):
//!   `TcpStream`, `UnixStream`, `DuplexStream`, or anything
//!   `AsyncRead + AsyncWrite`.
//! * **Any stack position is a tokio stream** ([`StreamBridge`],
//!   [`StrataStream`]): put the bridge on top of a stack and use the stream
//!   from any task with hyper, tokio-rustls, a codec, `copy_bidirectional`.
//! * **Endpoints** ([`Endpoint`], [`connect`], [`listen`], [`bind_udp`]):
//!   TCP, Unix and UDP, built from one-line descriptions such as
//!   `tcp:127.0.0.1:7000` (see [`strata_core::Description`]).
//!
//! ```no_run
//! use strata_core::{Bytes, Protocol, Transport, TransportInfo};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
//!         t.write(data)
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A server: one Echo per connection, each in its own task.
//! let server = strata_tokio::listen("tcp:127.0.0.1:0", |_: &TransportInfo| Echo).await?;
//! let port = server.port().expect("a TCP port");
//!
//! // A client, reached from this task through its handle.
//! let client = strata_tokio::connect(&format!("tcp:127.0.0.1:{port}"), Echo).await?;
//! client.write(Bytes::from_static(b"hello"))?;
//! let layers = client.call(|_, t| t.info().layer_names()).await?;
//! assert_eq!(layers, ["tcp"]);
//! client.close()?;
//! assert!(client.closed().await.is_done());
//! # Ok(())
//! # }
//! ```
//!
//! Panics are contained: a protocol that panics takes down its own
//! connection (the task ends, the socket is reset and dropped) and nothing
//! else.

#![warn(missing_docs)]

pub mod bridge;
pub mod driver;
pub mod endpoint;
pub mod handle;
pub mod io;
pub mod listener;
mod mailbox;
pub mod stream;
mod top;
pub mod udp;

#[cfg(feature = "testing")]
pub mod testing;

pub use bridge::{BridgeEnd, StrataStream, StreamBridge, OUT_MAX, RX_HIGH, RX_LOW};
pub use driver::{spawn_stream, Connection, LINGER, MAX_IOV, MAX_READ_BUF, READ_BUF};
pub use endpoint::{Endpoint, EndpointError};
pub use handle::{Gone, Handle, ProtocolPanicked, TaskGone};
pub use io::{GenericIo, Io};
pub use listener::{
    connect, connect_io, listen, Acceptor, Connected, Connector, Listener, TcpAcceptor,
    TcpConnector, UnixAcceptor, UnixConnector,
};
pub use stream::AnyStream;
pub use udp::{bind_udp, DatagramHandle};

/// A protocol that can move between threads, boxed: the protocol type of
/// stacks assembled at run time (`Handle<BoxProtocol>`, a factory returning
/// `BoxProtocol`).
pub use strata_core::BoxProtocol;
