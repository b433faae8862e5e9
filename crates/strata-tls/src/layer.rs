//! [`Tls`]: the layer itself — a [`Protocol`] to the transport below and,
//! through [`View`], a [`Transport`] to the protocol above.

use bytes::Bytes;
use rustls::Connection;
use strata_core::{Protocol, Reason, TimerId, Transport, Upcall};

use crate::engine::Engine;
use crate::facts::Facts;
use crate::view::View;
use crate::TlsError;

/// TLS as a layer: ciphertext below, plaintext above, no I/O.
///
/// `P` is the protocol above; it may be a concrete type (`Tls<Http>`, the
/// monomorphised fast path) or a `Box<dyn Protocol + Send>` (stacks built at
/// run time, STARTTLS). See the [crate docs](crate) for the close contract
/// through TLS.
///
/// Build one from a validated role — [`TlsClient::wrap`](crate::TlsClient::wrap),
/// [`TlsServer::wrap`](crate::TlsServer::wrap), or their `wrap_connected`
/// for STARTTLS — or from a rustls [`Connection`] you configured yourself
/// with [`Tls::new`] / [`Tls::connected`].
pub struct Tls<P> {
    app: P,
    eng: Engine,
}

impl<P: Protocol> Tls<P> {
    /// A layer over a fresh rustls connection. The protocol above gets
    /// `connection_made` once the handshake completes.
    pub fn new(conn: Connection, app: P) -> Self {
        Tls {
            app,
            eng: Engine::new(conn, false),
        }
    }

    /// A layer under a protocol that is **already connected** (STARTTLS):
    /// the protocol above gets no second `connection_made`; it may write at
    /// once (the plaintext is held until the handshake completes).
    pub fn connected(conn: Connection, app: P) -> Self {
        Tls {
            app,
            eng: Engine::new(conn, true),
        }
    }

    /// A client layer for `name` (checked against the server's certificate
    /// and sent as SNI unless it is an IP address).
    pub fn client(
        config: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
        app: P,
    ) -> Result<Self, TlsError> {
        let sni = server_name_text(&name);
        let conn = rustls::ClientConnection::new(config, name).map_err(TlsError::Config)?;
        let mut t = Tls::new(conn.into(), app);
        t.eng.client_name = sni;
        Ok(t)
    }

    /// A server layer.
    pub fn server(config: std::sync::Arc<rustls::ServerConfig>, app: P) -> Result<Self, TlsError> {
        let conn = rustls::ServerConnection::new(config).map_err(TlsError::Config)?;
        Ok(Tls::new(conn.into(), app))
    }

    /// STARTTLS, client side: TLS under an already-connected protocol.
    /// Shorthand for [`TlsClient::wrap_connected`](crate::TlsClient::wrap_connected).
    pub fn starttls_client(client: &crate::TlsClient, app: P) -> Self {
        client.wrap_connected(app)
    }

    /// STARTTLS, server side: TLS under an already-connected protocol.
    /// Shorthand for [`TlsServer::wrap_connected`](crate::TlsServer::wrap_connected).
    pub fn starttls_server(server: &crate::TlsServer, app: P) -> Self {
        server.wrap_connected(app)
    }

    pub(crate) fn set_client_name(&mut self, name: Option<String>) {
        self.eng.client_name = name;
    }

    /// How long the handshake may take, from the moment the layer first
    /// runs over a transport (its `connection_made`, or for STARTTLS its
    /// first call), before the connection ends with
    /// `connection_lost(Reason::TimedOut)` and the transport below is
    /// closed. `None` waits forever. Default:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT).
    /// Takes effect only if set before the layer first runs.
    pub fn set_handshake_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.eng.handshake_timeout = timeout;
    }

    /// Builder-style [`set_handshake_timeout`](Tls::set_handshake_timeout).
    pub fn with_handshake_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.set_handshake_timeout(timeout);
        self
    }

    /// The protocol above.
    pub fn app(&self) -> &P {
        &self.app
    }

    /// The protocol above, mutably.
    pub fn app_mut(&mut self) -> &mut P {
        &mut self.app
    }

    /// The rustls connection (for facts this layer does not publish).
    pub fn connection(&self) -> &Connection {
        &self.eng.conn
    }

    /// Whether the handshake has completed.
    pub fn is_handshake_done(&self) -> bool {
        self.eng.handshake_done
    }

    /// Deliver every callback that is due to the protocol above, and move
    /// every byte that can move, until nothing changes. Runs after every
    /// event from below.
    fn settle(&mut self, lower: &mut dyn Transport) {
        let Tls { app, eng } = self;
        loop {
            if eng.life.is_lost() {
                return;
            }
            if !eng.handshake_done && !eng.failed && !eng.conn.is_handshaking() {
                eng.handshake_done = true;
                eng.flight_pending = true;
                eng.facts = Some(Facts::capture(&eng.conn, eng.client_name.as_deref()));
            }
            eng.tend_handshake_timer(lower);
            eng.pump_out(lower);
            if eng.flight_pending && lower.write_buffer_len() == 0 {
                eng.flight_pending = false;
            }

            // The handshake is complete: now the protocol above is connected.
            if eng.handshake_done && !eng.app_made && eng.life.is_live() {
                eng.app_made = true;
                app.connection_made(&mut View { eng, lower });
                continue;
            }

            // After `close()` nothing more is delivered: drop what waits.
            if eng.close_requested_by_app() {
                eng.inbox.clear();
            }

            // Plaintext the protocol may read now.
            let reading = eng.app_made && eng.life.is_reading() && !eng.read_paused;
            if reading && !eng.inbox.is_empty() {
                // One decrypted batch at a time, as it came (no copy).
                let n = eng.inbox.front().map_or(0, |b| b.len());
                let data = eng.inbox.take(n);
                app.data_received(&mut View { eng, lower }, data);
                continue;
            }

            // The peer's close_notify, once everything before it is read.
            if eng.close_notify_seen
                && !eng.eof_reported
                && eng.inbox.is_empty()
                && (reading || !eng.life.is_reading())
            {
                eng.eof_reported = true;
                eng.life.peer_eof();
            }

            // The close contract's callbacks.
            if let Some(u) = eng.life.next_upcall() {
                match u {
                    Upcall::ReadClosed => app.read_closed(&mut View { eng, lower }),
                    Upcall::WriteClosed => app.write_closed(&mut View { eng, lower }),
                    Upcall::Lost(reason) => {
                        eng.finish_lower(lower, &reason);
                        app.connection_lost(reason);
                        return;
                    }
                }
                continue;
            }

            // Flow control: the protocol's marks, on all it has written
            // and is not yet sent (plaintext here, ciphertext below).
            if eng.app_made && eng.life.can_write() {
                eng.marks.check(eng.plain.len() + lower.write_buffer_len());
                let want = eng.marks.is_paused();
                if want != eng.app_paused {
                    eng.app_paused = want;
                    let v = &mut View { eng, lower };
                    if want {
                        app.pause_writing(v)
                    } else {
                        app.resume_writing(v)
                    }
                    continue;
                }
            }
            if !eng.lower_lost && !eng.lower_closed {
                eng.tend_lower_marks(lower);
            }
            return;
        }
    }
}

fn server_name_text(name: &rustls::pki_types::ServerName<'_>) -> Option<String> {
    match name {
        rustls::pki_types::ServerName::DnsName(d) => Some(d.as_ref().to_string()),
        _ => None,
    }
}

impl<P: Protocol> Protocol for Tls<P> {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        // A client's ClientHello is ready to go; a server waits for one.
        self.settle(t);
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.eng.receive(&data);
        self.settle(t);
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        let eng = &mut self.eng;
        if !eng.close_notify_seen && eng.life.is_live() && !eng.failed {
            // End-of-stream below without close_notify: the peer (or
            // someone in the middle) cut the stream short.
            let err = if eng.handshake_done {
                TlsError::Truncated
            } else {
                TlsError::HandshakeEof
            };
            eng.fail(Reason::error(err));
        }
        self.settle(t);
    }

    fn write_closed(&mut self, t: &mut dyn Transport) {
        // The protocol above was told `write_closed` when our close_notify
        // went below; the lower's own report changes nothing.
        self.settle(t);
    }

    fn connection_lost(&mut self, reason: Reason) {
        let eng = &mut self.eng;
        eng.lower_lost = true;
        if eng.life.is_lost() {
            return;
        }
        let reason = match reason {
            // Below ended cleanly while TLS had not: that is truncation.
            Reason::Done if !eng.close_notify_seen => Reason::error(if eng.handshake_done {
                TlsError::Truncated
            } else {
                TlsError::HandshakeEof
            }),
            r => r,
        };
        eng.fail(reason);
        if let Some(Upcall::Lost(r)) = eng.life.next_upcall() {
            self.app.connection_lost(r);
        }
    }

    // The layer below pauses us while more than our mark waits there
    // (`engine::CIPHER_HIGH`): we stop encrypting then, and go on when it
    // resumes us. The protocol above is paused by its own marks, on all it
    // has written (see `settle`), not by these calls.
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.settle(t);
    }

    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.settle(t);
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        // The handshake timer is ours; every other timer was set by a
        // protocol above: pass it through.
        if self.eng.handshake_timer_fired(timer) {
            // Handled (maybe the handshake timed out): settle reports it.
        } else if self.eng.app_made && self.eng.life.is_live() {
            let Tls { app, eng } = self;
            app.timer_fired(&mut View { eng, lower: t }, timer);
        }
        self.settle(t);
    }
}
