//! Conformance-suite runners over real I/O (feature `testing`).
//!
//! Each implements [`PairRunner`]: it connects a client and a server
//! protocol over one kind of tokio stream, runs both in their own driver
//! tasks on a fresh runtime, and returns once each has seen
//! `connection_lost` — or panics after [`TIME_LIMIT`].
//!
//! | runner           | bottom transport                                         | resets visible |
//! |------------------|----------------------------------------------------------|----------------|
//! | [`TcpRunner`]    | TCP on 127.0.0.1                                          | yes            |
//! | [`UnixRunner`]   | a Unix socket in a temporary directory                    | no             |
//! | [`DuplexRunner`] | `tokio::io::duplex` as a [`GenericIo`] | no             |
//! | [`BridgeRunner`] | a [`StrataStream`] over TCP (a stack on a stack)          | yes            |
//!
//! Layer crates reuse them with `strata_testing::conformance::Layered`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strata_core::{Addr, LayerInfo, Reason, TransportInfo};
use strata_testing::conformance::{track, BoxProtocol, Caps, PairRunner};

use crate::{
    spawn_stream, Acceptor, Connected, Connector, GenericIo, Handle, ProtocolPanicked,
    StrataStream, TcpAcceptor, TcpConnector, UnixAcceptor, UnixConnector,
};

/// How long a pair may run before the runner fails the test.
pub const TIME_LIMIT: Duration = Duration::from_secs(30);

type Pair = (Handle<BoxProtocol>, Handle<BoxProtocol>);

/// Run `client` and `server`, connected by `connect`, on a fresh runtime
/// until both saw `connection_lost`.
fn run_pair<F, Fut>(
    name: &str,
    multi_thread: bool,
    client: BoxProtocol,
    server: BoxProtocol,
    connect: F,
) where
    F: FnOnce(BoxProtocol, BoxProtocol) -> Fut,
    Fut: Future<Output = Pair>,
{
    let (client, client_done) = track(client);
    let (server, server_done) = track(server);
    let rt = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("a tokio runtime");
    rt.block_on(async {
        let (c, s) = connect(client, server).await;
        let both = async { (c.closed().await, s.closed().await) };
        match tokio::time::timeout(TIME_LIMIT, both).await {
            Ok((rc, rs)) => {
                for (who, r) in [("client", rc), ("server", rs)] {
                    if let Some(p) = r.source().and_then(|e| e.downcast_ref::<ProtocolPanicked>()) {
                        panic!("[{name}] the {who} protocol panicked: {}", p.0);
                    }
                }
            }
            Err(_) => panic!(
                "[{name}] the pair did not finish within {TIME_LIMIT:?}: client lost={}, server lost={}",
                client_done.is_done(),
                server_done.is_done()
            ),
        }
    });
    assert!(
        client_done.is_done() && server_done.is_done(),
        "[{name}] a side never saw connection_lost"
    );
}

/// A connected TCP pair on 127.0.0.1: (client side, server side).
pub async fn tcp_pair() -> (Connected, Connected) {
    let mut acceptor = TcpAcceptor(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0"),
    );
    let Addr::Inet(addr) = acceptor.local_addr() else {
        unreachable!("a TCP listener has an inet address")
    };
    let connector = TcpConnector {
        host: addr.ip().to_string(),
        port: addr.port(),
    };
    let (c, s) = tokio::join!(connector.connect(), acceptor.accept());
    (c.expect("connect"), s.expect("accept"))
}

/// The conformance suite over TCP on 127.0.0.1.
#[derive(Clone, Debug, Default)]
pub struct TcpRunner;

impl PairRunner for TcpRunner {
    fn name(&self) -> String {
        "tokio/tcp".into()
    }

    fn run(&mut self, client: BoxProtocol, server: BoxProtocol) {
        run_pair(
            &self.name(),
            false,
            client,
            server,
            |client, server| async move {
                let (c, s) = tcp_pair().await;
                (
                    spawn_stream(c.io, client, c.info),
                    spawn_stream(s.io, server, s.info),
                )
            },
        )
    }
}

/// A fresh, empty temporary directory.
fn temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "strata-tokio-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// The conformance suite over a Unix stream socket in a temporary
/// directory. A Unix socket cannot send a reset.
#[derive(Clone, Debug, Default)]
pub struct UnixRunner;

impl PairRunner for UnixRunner {
    fn name(&self) -> String {
        "tokio/unix".into()
    }

    fn caps(&self) -> Caps {
        Caps {
            resets_visible: false,
        }
    }

    fn run(&mut self, client: BoxProtocol, server: BoxProtocol) {
        let dir = temp_dir();
        let path = dir.join("pair.sock");
        run_pair(
            &self.name(),
            false,
            client,
            server,
            |client, server| async move {
                let mut acceptor = UnixAcceptor::bind(&path).expect("bind a Unix socket");
                let connector = UnixConnector(path.clone());
                let (c, s) = tokio::join!(connector.connect(), acceptor.accept());
                let (c, s) = (c.expect("connect"), s.expect("accept"));
                (
                    spawn_stream(c.io, client, c.info),
                    spawn_stream(s.io, server, s.info),
                )
            },
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The conformance suite over `tokio::io::duplex`, wrapped as a
/// [`GenericIo`]: any `AsyncRead + AsyncWrite` as a bottom transport. An
/// in-memory pipe cannot send a reset.
#[derive(Clone, Debug)]
pub struct DuplexRunner {
    /// The pipe's buffer size in bytes.
    pub buffer: usize,
}

impl Default for DuplexRunner {
    fn default() -> Self {
        DuplexRunner { buffer: 64 * 1024 }
    }
}

impl PairRunner for DuplexRunner {
    fn name(&self) -> String {
        format!("tokio/duplex/{}", self.buffer)
    }

    fn caps(&self) -> Caps {
        Caps {
            resets_visible: false,
        }
    }

    fn run(&mut self, client: BoxProtocol, server: BoxProtocol) {
        let buffer = self.buffer;
        run_pair(
            &self.name(),
            false,
            client,
            server,
            |client, server| async move {
                let (a, b) = tokio::io::duplex(buffer);
                let info = |n| {
                    TransportInfo::new(
                        Addr::Memory(n),
                        Addr::Memory(1 - n),
                        LayerInfo::new("stream"),
                    )
                };
                (
                    spawn_stream(GenericIo(a), client, info(0)),
                    spawn_stream(GenericIo(b), server, info(1)),
                )
            },
        )
    }
}

/// The conformance suite over the tokio bridge: on each side a
/// [`StreamBridge`](crate::StreamBridge) stack over TCP yields a
/// [`StrataStream`], which is the bottom of a second driver running the
/// protocol under test. Both directions of the bridge in one runner.
#[derive(Clone, Debug, Default)]
pub struct BridgeRunner;

impl PairRunner for BridgeRunner {
    fn name(&self) -> String {
        "tokio/bridge-over-tcp".into()
    }

    fn run(&mut self, client: BoxProtocol, server: BoxProtocol) {
        run_pair(
            &self.name(),
            true,
            client,
            server,
            |client, server| async move {
                let (c, s) = tcp_pair().await;
                let outer = |info: &TransportInfo| {
                    TransportInfo::new(
                        info.local.clone(),
                        info.peer.clone(),
                        LayerInfo::new("stream"),
                    )
                };
                let (ci, si) = (outer(&c.info), outer(&s.info));
                let (cs, _) = StrataStream::spawn(c.io, c.info, |b| b);
                let (ss, _) = StrataStream::spawn(s.io, s.info, |b| b);
                (spawn_stream(cs, client, ci), spawn_stream(ss, server, si))
            },
        )
    }
}

/// Whether `r` is the reason of a panicking protocol.
pub fn is_panic(r: &Reason) -> bool {
    r.source().is_some_and(|e| e.is::<ProtocolPanicked>())
}
