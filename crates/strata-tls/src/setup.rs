//! Validated TLS roles: what wraps protocols in [`Tls`] layers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use strata_core::{BoxProtocol, Protocol, Upgrade};

use crate::{Tls, TlsError};

/// The client role: a rustls client configuration and the server name to
/// verify (and send as SNI). Checked once when built, so wrapping a protocol
/// cannot fail.
#[derive(Clone, Debug)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    handshake_timeout: Option<Duration>,
}

impl TlsClient {
    /// A client role for `name`. Fails if rustls refuses to start a
    /// connection with `config` (a configuration error).
    pub fn new(config: Arc<ClientConfig>, name: ServerName<'static>) -> Result<Self, TlsError> {
        ClientConnection::new(config.clone(), name.clone()).map_err(TlsError::Config)?;
        Ok(TlsClient {
            config,
            name,
            handshake_timeout: Some(crate::DEFAULT_HANDSHAKE_TIMEOUT),
        })
    }

    /// How long a handshake may take before the connection ends with
    /// `connection_lost(Reason::TimedOut)`; `None` waits forever. Default:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout the layers it makes get.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The server name verified and sent as SNI.
    pub fn name(&self) -> &ServerName<'static> {
        &self.name
    }

    /// A TLS client layer under `app`, which is told `connection_made` when
    /// the handshake completes.
    pub fn wrap<P: Protocol>(&self, app: P) -> Tls<P> {
        self.build(app, false)
    }

    /// A TLS client layer under an already-connected `app` (STARTTLS): no
    /// second `connection_made`. The ClientHello goes out as soon as the
    /// layer is first called (an [`Upgradable`](strata_core::Upgradable)
    /// calls it at once with the unconsumed bytes).
    pub fn wrap_connected<P: Protocol>(&self, app: P) -> Tls<P> {
        self.build(app, true)
    }

    /// The request a protocol hands [`Transport::upgrade`](strata_core::Transport::upgrade)
    /// to put this TLS client under itself, with the bytes it received but
    /// did not consume.
    pub fn upgrade(&self, unconsumed: Bytes) -> Upgrade {
        let me = self.clone();
        Upgrade::new(
            move |app: BoxProtocol| Box::new(me.wrap_connected(app)),
            unconsumed,
        )
    }

    fn build<P: Protocol>(&self, app: P, connected: bool) -> Tls<P> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .expect("the configuration was accepted when the TlsClient was built");
        let mut t = if connected {
            Tls::connected(conn.into(), app)
        } else {
            Tls::new(conn.into(), app)
        };
        if let ServerName::DnsName(d) = &self.name {
            t.set_client_name(Some(d.as_ref().to_string()));
        }
        t.set_handshake_timeout(self.handshake_timeout);
        t
    }
}

/// The server role: a rustls server configuration, checked once when built.
#[derive(Clone, Debug)]
pub struct TlsServer {
    config: Arc<ServerConfig>,
    handshake_timeout: Option<Duration>,
}

impl TlsServer {
    /// A server role. Fails if rustls refuses to start a connection with
    /// `config` (a configuration error).
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, TlsError> {
        ServerConnection::new(config.clone()).map_err(TlsError::Config)?;
        Ok(TlsServer {
            config,
            handshake_timeout: Some(crate::DEFAULT_HANDSHAKE_TIMEOUT),
        })
    }

    /// How long a handshake may take before the connection ends with
    /// `connection_lost(Reason::TimedOut)`; `None` waits forever. Default:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout the layers it makes get.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A TLS server layer under `app`, which is told `connection_made` when
    /// the handshake completes.
    pub fn wrap<P: Protocol>(&self, app: P) -> Tls<P> {
        self.build(app, false)
    }

    /// A TLS server layer under an already-connected `app` (STARTTLS).
    pub fn wrap_connected<P: Protocol>(&self, app: P) -> Tls<P> {
        self.build(app, true)
    }

    /// The request a protocol hands [`Transport::upgrade`](strata_core::Transport::upgrade)
    /// to put this TLS server under itself, with the bytes it received but
    /// did not consume (often the start of the client's ClientHello).
    pub fn upgrade(&self, unconsumed: Bytes) -> Upgrade {
        let me = self.clone();
        Upgrade::new(
            move |app: BoxProtocol| Box::new(me.wrap_connected(app)),
            unconsumed,
        )
    }

    fn build<P: Protocol>(&self, app: P, connected: bool) -> Tls<P> {
        let conn = ServerConnection::new(self.config.clone())
            .expect("the configuration was accepted when the TlsServer was built");
        let t = if connected {
            Tls::connected(conn.into(), app)
        } else {
            Tls::new(conn.into(), app)
        };
        t.with_handshake_timeout(self.handshake_timeout)
    }
}

/// Which end of the handshake a description configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// We connect: `tls:ca=...,name=...`, `tls:pin=...`, `tls:insecure`.
    Client,
    /// We accept: `tls:cert=...,key=...`, `tls:self-signed`.
    Server,
}

/// Either role: what a `tls:...` description segment turns into.
#[derive(Clone, Debug)]
pub enum TlsLayer {
    /// The client role.
    Client(TlsClient),
    /// The server role.
    Server(TlsServer),
}

impl TlsLayer {
    /// A TLS layer of this role under `app`.
    pub fn wrap<P: Protocol>(&self, app: P) -> Tls<P> {
        match self {
            TlsLayer::Client(c) => c.wrap(app),
            TlsLayer::Server(s) => s.wrap(app),
        }
    }

    /// A TLS layer of this role under an already-connected `app` (STARTTLS).
    pub fn wrap_connected<P: Protocol>(&self, app: P) -> Tls<P> {
        match self {
            TlsLayer::Client(c) => c.wrap_connected(app),
            TlsLayer::Server(s) => s.wrap_connected(app),
        }
    }

    /// Box-to-box wrapping, for stacks assembled at run time.
    pub fn wrap_boxed(&self, app: BoxProtocol) -> BoxProtocol {
        Box::new(self.wrap(app))
    }

    /// The STARTTLS request for this role; see [`TlsClient::upgrade`].
    pub fn upgrade(&self, unconsumed: Bytes) -> Upgrade {
        match self {
            TlsLayer::Client(c) => c.upgrade(unconsumed),
            TlsLayer::Server(s) => s.upgrade(unconsumed),
        }
    }

    /// The same role with another handshake timeout; see
    /// [`TlsServer::with_handshake_timeout`].
    pub fn with_handshake_timeout(self, timeout: Option<Duration>) -> Self {
        match self {
            TlsLayer::Client(c) => TlsLayer::Client(c.with_handshake_timeout(timeout)),
            TlsLayer::Server(s) => TlsLayer::Server(s.with_handshake_timeout(timeout)),
        }
    }

    /// Which role this is.
    pub fn side(&self) -> Side {
        match self {
            TlsLayer::Client(_) => Side::Client,
            TlsLayer::Server(_) => Side::Server,
        }
    }
}
