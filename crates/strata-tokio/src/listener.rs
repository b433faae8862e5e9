//! Connecting and listening: [`Connector`]s and [`Acceptor`]s make connected
//! streams; [`connect`] and [`listen`] put a driver on each.
//!
//! The split keeps wrapping simple: a connector or acceptor only makes
//! streams (TCP, Unix, or anything else as [`AnyStream::Boxed`]); what runs
//! on them is the protocol you pass, static (`Tls<Mux<App>>`) or assembled
//! at run time ([`BoxProtocol`](crate::BoxProtocol)).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use strata_core::{Addr, Factory, LayerInfo, Protocol, TransportInfo};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::{spawn_stream, AnyStream, Endpoint, EndpointError, Handle};

/// A connected stream and what is known about it.
#[derive(Debug)]
pub struct Connected {
    /// The stream.
    pub io: AnyStream,
    /// Addresses and the bottom layer's name (`tcp`, `unix`).
    pub info: TransportInfo,
}

/// Makes outgoing connections: the client side of an endpoint.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connect once.
    async fn connect(&self) -> io::Result<Connected>;
}

/// Accepts incoming connections: the server side of an endpoint, bound.
#[async_trait]
pub trait Acceptor: Send + 'static {
    /// Wait for the next connection.
    async fn accept(&mut self) -> io::Result<Connected>;
    /// The address it is bound to (with the real port after binding port 0).
    fn local_addr(&self) -> Addr;
}

#[async_trait]
impl Acceptor for Box<dyn Acceptor> {
    async fn accept(&mut self) -> io::Result<Connected> {
        (**self).accept().await
    }
    fn local_addr(&self) -> Addr {
        (**self).local_addr()
    }
}

/// Connects over TCP (`TCP_NODELAY` on).
#[derive(Clone, Debug)]
pub struct TcpConnector {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
}

#[async_trait]
impl Connector for TcpConnector {
    async fn connect(&self) -> io::Result<Connected> {
        let s = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp_connected(s)
    }
}

/// Accepts TCP connections (`TCP_NODELAY` on).
#[derive(Debug)]
pub struct TcpAcceptor(pub TcpListener);

#[async_trait]
impl Acceptor for TcpAcceptor {
    async fn accept(&mut self) -> io::Result<Connected> {
        let (s, _) = self.0.accept().await?;
        tcp_connected(s)
    }
    fn local_addr(&self) -> Addr {
        self.0.local_addr().map(Addr::Inet).unwrap_or(Addr::Unknown)
    }
}

fn tcp_connected(s: TcpStream) -> io::Result<Connected> {
    s.set_nodelay(true)?;
    let info = TransportInfo::new(
        Addr::Inet(s.local_addr()?),
        Addr::Inet(s.peer_addr()?),
        LayerInfo::new("tcp"),
    );
    Ok(Connected {
        io: AnyStream::Tcp(s),
        info,
    })
}

/// Connects to a Unix stream socket.
#[derive(Clone, Debug)]
pub struct UnixConnector(pub PathBuf);

#[async_trait]
impl Connector for UnixConnector {
    async fn connect(&self) -> io::Result<Connected> {
        let s = UnixStream::connect(&self.0).await?;
        Ok(unix_connected(s, None, Some(self.0.clone())))
    }
}

/// Accepts connections on a Unix stream socket; removes the socket file
/// when dropped.
#[derive(Debug)]
pub struct UnixAcceptor {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixAcceptor {
    /// Bind a new socket at `path` (which must not exist).
    pub fn bind(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let listener = UnixListener::bind(&path)?;
        Ok(UnixAcceptor { listener, path })
    }
}

impl Drop for UnixAcceptor {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[async_trait]
impl Acceptor for UnixAcceptor {
    async fn accept(&mut self) -> io::Result<Connected> {
        let (s, _) = self.listener.accept().await?;
        Ok(unix_connected(s, Some(self.path.clone()), None))
    }
    fn local_addr(&self) -> Addr {
        Addr::Unix(Some(self.path.clone()))
    }
}

fn unix_connected(s: UnixStream, local: Option<PathBuf>, peer: Option<PathBuf>) -> Connected {
    let name = |a: io::Result<tokio::net::unix::SocketAddr>| {
        a.ok().and_then(|a| a.as_pathname().map(Into::into))
    };
    let local = local.or_else(|| name(s.local_addr()));
    let peer = peer.or_else(|| name(s.peer_addr()));
    let info = TransportInfo::new(Addr::Unix(local), Addr::Unix(peer), LayerInfo::new("unix"));
    Connected {
        io: AnyStream::Unix(s),
        info,
    }
}

impl Endpoint {
    /// A connector for this endpoint (TCP needs a host; UDP is not a stream).
    pub fn connector(&self) -> Result<Box<dyn Connector>, EndpointError> {
        match self {
            Endpoint::Tcp { port, .. } => Ok(Box::new(TcpConnector {
                host: self.connect_host()?.to_string(),
                port: *port,
            })),
            Endpoint::Unix(p) => Ok(Box::new(UnixConnector(p.clone()))),
            Endpoint::Udp { .. } => Err(not_a_stream(self)),
        }
    }

    /// Bind this endpoint for listening.
    pub async fn bind(&self) -> Result<Box<dyn Acceptor>, EndpointError> {
        let fail = |e| EndpointError::io(format!("listening on {self}"), e);
        match self {
            Endpoint::Tcp { host, port } => {
                let l = TcpListener::bind((Endpoint::listen_host(host), *port))
                    .await
                    .map_err(fail)?;
                Ok(Box::new(TcpAcceptor(l)))
            }
            Endpoint::Unix(p) => Ok(Box::new(UnixAcceptor::bind(p).map_err(fail)?)),
            Endpoint::Udp { .. } => Err(not_a_stream(self)),
        }
    }

    /// Connect and run `proto` on the connection.
    pub async fn connect<P: Protocol + Send + 'static>(
        &self,
        proto: P,
    ) -> Result<Handle<P>, EndpointError> {
        let c = self.connector()?;
        connect_io(&*c, proto)
            .await
            .map_err(|e| EndpointError::io(format!("connecting to {self}"), e))
    }

    /// Bind and serve: one `factory`-made protocol per connection.
    pub async fn listen<F>(&self, factory: F) -> Result<Listener, EndpointError>
    where
        F: Factory + Send + 'static,
        F::Protocol: Protocol + Send + 'static,
    {
        Ok(Listener::serve(self.bind().await?, factory))
    }
}

fn not_a_stream(ep: &Endpoint) -> EndpointError {
    strata_core::DescriptionError::new(
        ep.to_string(),
        "UDP is not a stream endpoint",
        "tcp:... or unix:... here; use bind_udp for UDP",
    )
    .into()
}

/// Connect to the endpoint `desc` (`tcp:HOST:PORT` or `unix:PATH`, no
/// layers) and run `proto` on the connection.
pub async fn connect<P: Protocol + Send + 'static>(
    desc: &str,
    proto: P,
) -> Result<Handle<P>, EndpointError> {
    Endpoint::parse(desc)?.connect(proto).await
}

/// Listen on the endpoint `desc` (`tcp:HOST:PORT`, `tcp:PORT` or
/// `unix:PATH`, no layers), running one `factory`-made protocol per
/// connection.
pub async fn listen<F>(desc: &str, factory: F) -> Result<Listener, EndpointError>
where
    F: Factory + Send + 'static,
    F::Protocol: Protocol + Send + 'static,
{
    Endpoint::parse(desc)?.listen(factory).await
}

/// Connect with `connector` and run `proto` on the connection.
pub async fn connect_io<C, P>(connector: &C, proto: P) -> io::Result<Handle<P>>
where
    C: Connector + ?Sized,
    P: Protocol + Send + 'static,
{
    let Connected { io, info } = connector.connect().await?;
    Ok(spawn_stream(io, proto, info))
}

/// A running accept loop: every accepted connection gets its own driver
/// task and a protocol from the factory.
///
/// Dropping the listener (or [`close`](Listener::close)) stops accepting;
/// connections already accepted go on. A protocol (or the factory) that
/// panics takes down only its own connection.
#[derive(Debug)]
pub struct Listener {
    local: Addr,
    task: JoinHandle<()>,
}

impl Listener {
    /// Accept on `acceptor` in a background task, running a `factory`-made
    /// protocol on each connection.
    pub fn serve<A, F>(acceptor: A, factory: F) -> Listener
    where
        A: Acceptor,
        F: Factory + Send + 'static,
        F::Protocol: Protocol + Send + 'static,
    {
        Self::serve_with(acceptor, factory, |_| {})
    }

    /// Like [`serve`](Listener::serve), also handing each connection's
    /// [`Handle`] to `on_connection` (to track or broadcast to them).
    pub fn serve_with<A, F, H>(mut acceptor: A, mut factory: F, mut on_connection: H) -> Listener
    where
        A: Acceptor,
        F: Factory + Send + 'static,
        F::Protocol: Protocol + Send + 'static,
        H: FnMut(Handle<F::Protocol>) + Send + 'static,
    {
        let local = acceptor.local_addr();
        let task = tokio::spawn(async move {
            loop {
                let Connected { io, info } = match acceptor.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match catch_unwind(AssertUnwindSafe(|| factory.build(&info))) {
                    Ok(proto) => on_connection(spawn_stream(io, proto, info)),
                    Err(_) => {
                        tracing::error!(peer = %info.peer, "protocol factory panicked; connection dropped")
                    }
                }
            }
        });
        Listener { local, task }
    }

    /// The bound address (with the real port after binding port 0).
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// The bound port, for TCP.
    pub fn port(&self) -> Option<u16> {
        match self.local {
            Addr::Inet(a) => Some(a.port()),
            _ => None,
        }
    }

    /// Stop accepting. Connections already accepted go on.
    pub fn close(self) {}
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}
