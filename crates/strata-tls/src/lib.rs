//! # strata-tls: TLS as a layer
//!
//! TLS is the textbook *layer*: a protocol to the transport below (it makes
//! sense of ciphertext) and a transport to the protocol above (it moves
//! plaintext). [`Tls<P>`] is exactly that, on rustls, with no I/O of its own:
//!
//! ```text
//!   app protocol P        data_received(plaintext)     write(plaintext)
//!        ^  |                      ^                         |
//!        |  v                      |   (view: Transport)     v
//!   Tls<P>                rustls: decrypt  <--------->  encrypt, batch records
//!        ^  |                      ^   (Protocol)            |
//!        |  v                      |                         v
//!   transport below       data_received(ciphertext)    write(ciphertext)
//!   (TCP, Unix, memory, a mux subchannel, another Tls)
//! ```
//!
//! Because it never touches a socket, the same layer runs over TCP, over the
//! in-memory test harness, inside a mux subchannel, and inside another TLS
//! layer. While calling `P`, it lends `P` a short-lived view that borrows the
//! layer's state and the transport below; nothing holds a pointer back.
//!
//! ## Half-close through TLS
//!
//! Strata's close contract holds through TLS, including half-close, which
//! neither Twisted's TLS layer nor asyncio's SSL transport can do:
//!
//! | the protocol above does / the peer does | what the layer does | what the protocol above sees |
//! |---|---|---|
//! | `close_write()` | flushes plaintext, sends **close_notify**, then `close_write()` below (TCP FIN); keeps reading | `write_closed` at once (close_notify is handed below), later `read_closed`, `connection_lost(Done)` |
//! | peer sends close_notify | — | `read_closed` after all data before it |
//! | `close()` | flushes, close_notify, `close()` below | `connection_lost(Done)` |
//! | end-of-stream below **without** close_notify | closes below | `connection_lost(Error(Truncated))`: never a clean end |
//! | `abort()` | `abort()` below (RST), buffers dropped | `connection_lost(Aborted)` |
//! | bad record, alert, failed handshake | sends the alert rustls chose, closes below | `connection_lost(Error(..))` with the rustls error as source |
//! | the transport below is lost | — | `connection_lost` with the same reason, once |
//! | the handshake does not complete in time ([handshake timeout](#handshake-timeout)) | closes below | `connection_lost(TimedOut)` |
//!
//! `write_closed` comes as soon as close_notify and the half-close have been
//! handed to the transport below — the Protocol contract's "handed to the
//! layer below" — not when the transport below reports its own
//! `write_closed`; likewise `connection_lost(Done)` comes once both
//! close_notifys are through, and the layer then closes the transport below,
//! whose own `connection_lost` it swallows. So a peer that closes its socket
//! right after its close_notify cannot turn our clean end into a reset.
//!
//! **The protocol above gets `connection_made` when the handshake
//! completes**, not when the transport below connects. A handshake that fails
//! is reported as `connection_lost(Error(..))` *without* a prior
//! `connection_made`: the only way the protocol can learn of it.
//!
//! **TLS 1.2.** RFC 5246 asks the receiver of a close_notify to answer with
//! its own and close at once; TLS 1.3 (RFC 8446 §6.1) makes close_notify
//! close one direction only. Strata behaves the same on both: the peer's
//! close_notify is `read_closed`, whose default (`close()`) is the 1.2
//! behaviour; a protocol that overrides `read_closed` and keeps writing
//! relies on the peer to keep reading after its own close_notify — rustls
//! and OpenSSL do, other TLS 1.2 stacks may not.
//!
//! ## Handshake timeout
//!
//! A handshake that has not completed
//! [`DEFAULT_HANDSHAKE_TIMEOUT`] (10 s) after the layer first ran over its
//! transport — a peer that connects and sends nothing, or stops halfway —
//! ends the connection: the protocol above gets
//! `connection_lost(Reason::TimedOut)` (its only callback, unless it was
//! already connected, as under STARTTLS) and the transport below is closed.
//! Set it with [`TlsServer::with_handshake_timeout`],
//! [`TlsClient::with_handshake_timeout`] or [`Tls::set_handshake_timeout`];
//! `None` waits forever. The timer is set through the transport below like
//! any other (so the virtual clock of the test harness drives it); the
//! layer tells its own timer from the protocol's by its id, and cancels it
//! when the handshake completes.
//!
//! ## Flow control
//!
//! Reading: `pause_reading` stops delivery to the protocol above at once —
//! plaintext already decrypted waits in the layer — and pauses the transport
//! below; `resume_reading` delivers what waited, then resumes below.
//! Writing: the protocol's writes are queued (no copy) and encrypted in one
//! batch when its callback returns, packing small writes into full records.
//! `write_buffer_len` is plaintext not yet encrypted plus what the transport
//! below holds; the water marks are those of the transport below
//! (`set_write_buffer_limits` is forwarded), whose `pause_writing` and
//! `resume_writing` reach the protocol above. Plaintext written during a
//! handshake (STARTTLS) is held, and counts toward the same marks.
//!
//! ## STARTTLS
//!
//! A protocol that has spoken plaintext puts TLS under itself on the live
//! connection with [`Transport::upgrade`](strata_core::Transport::upgrade)
//! and [`TlsServer::upgrade`] / [`TlsClient::upgrade`], handing over the
//! bytes it received but did not consume; the layer is built with
//! `wrap_connected` (no second `connection_made`). Its stack must sit in a
//! [`strata_core::Upgradable`].
//!
//! The switch happens when the callback that asked for it returns: what the
//! protocol writes in that callback still goes out in plaintext (the
//! server's `OK, go ahead`). The protocol is not told when the handshake
//! completes; to speak first over TLS it writes from its next callback — a
//! zero-length timer is the idiom — and the layer holds that plaintext until
//! the handshake is done. See `examples/starttls.rs`.
//!
//! ## Configuration
//!
//! [`config`] builds rustls configurations (always with the `ring`
//! provider), and [`from_segment`] turns a description segment such as
//! `tls:ca=ca.pem,name=localhost`, `tls:self-signed` or `tls:pin=<sha256>`
//! into a [`TlsLayer`].
//!
//! ## Facts
//!
//! After the handshake, [`Transport::info`](strata_core::Transport::info)
//! seen from above includes a `tls` layer with the facts `role`, `version`,
//! `cipher`, `alpn`, `sni`, `peer-cert-sha256` and `peer-chain-sha256`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
mod engine;
mod error;
mod facts;
mod layer;
mod setup;
mod view;

pub use config::{from_segment, Configured, SelfSigned};
pub use error::{explain, TlsError};
pub use facts::fingerprint;
pub use layer::Tls;
pub use setup::{Side, TlsClient, TlsLayer, TlsServer};

/// How long a TLS handshake may take by default before the connection ends
/// with `connection_lost(Reason::TimedOut)`; see
/// [`TlsServer::with_handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Re-exported so users need not depend on rustls directly for configs.
pub use rustls;
