//! Case `tls`: Strata TCP+TLS (the `strata_tls::Tls<P>` layer over the
//! strata-tokio driver) against tokio-rustls over tokio `TcpStream`s, over
//! loopback, in the same process and run.
//!
//! Both sides use the **same** rustls `ServerConfig` and `ClientConfig`
//! objects ([`Configs`]), hence the same crypto provider (rustls's `ring`),
//! restricted to TLS 1.3 and the one cipher suite
//! `TLS13_AES_128_GCM_SHA256`. The server presents a self-signed
//! certificate the client pins (the handshake signature is still verified).
//! Session resumption is on by rustls's defaults for both sides alike.
//!
//! * **throughput** with 64 KiB and 1 KiB writes: as in the `tcp` case, a
//!   sender streams a fixed number of bytes and half-closes (close_notify
//!   then FIN); the receiver counts them and, at the sender's close_notify,
//!   closes. The time runs from before `connect` (so it includes the
//!   handshake, ~1 ms) to the receiver's end-of-stream.
//! * **ping-pong** with 64-byte messages: one message, wait for all of its
//!   echo, the next; round trips per second, timed from before `connect`.
//!
//! The Strata side runs the very protocols of the `tcp` case
//! ([`crate::tcp::Sender`], [`crate::tcp::Receiver`], [`crate::tcp::Echo`], [`crate::tcp::Pinger`])
//! under `TlsClient::wrap` / `TlsServer::wrap`: the same application code,
//! with TLS put in. The tokio-rustls side is its plain idiom: `write_all` of
//! the same chunk in a loop, `read` into a 64 KiB buffer, `shutdown` to
//! half-close; `TCP_NODELAY` on both ends.
//!
//! Servers run on the server runtime and clients on the client runtime of
//! [`Runtimes`]: one thread each, the same for both sides.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_core::TransportInfo;
use strata_tls::config::{PinVerifier, SelfSigned};
use strata_tls::rustls::crypto::{ring, CryptoProvider};
use strata_tls::rustls::pki_types::ServerName;
use strata_tls::rustls::{self, ClientConfig, ServerConfig};
use strata_tls::{TlsClient, TlsServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::common::{
    corrupt, count_to_eof, interleave, join, mb_per_sec, pattern, per_sec, send_then_wait,
    size_name, Config, Report, Runtimes, Unit,
};
use crate::tcp::{
    limit, strata_err, tokio_accept, tokio_connect, tokio_listener, Echo, Pinger, Receiver, Sender,
    PING, ROUND_TRIPS,
};

/// Write sizes measured, with the bytes streamed per run at full scale.
pub const THROUGHPUT: &[(usize, u64)] = &[(64 * 1024, 256 << 20), (1024, 128 << 20)];
/// Read buffer of the tokio-rustls receivers.
const READ_BUF: usize = 64 * 1024;
/// The name the client asks for (and the certificate carries).
const NAME: &str = "localhost";

/// The one pair of rustls configurations both sides use: TLS 1.3 only,
/// `TLS13_AES_128_GCM_SHA256` only, rustls's `ring` provider; a
/// self-signed server certificate, pinned by the client.
#[derive(Clone)]
pub struct Configs {
    /// The server's configuration.
    pub server: Arc<ServerConfig>,
    /// The client's configuration.
    pub client: Arc<ClientConfig>,
}

impl Configs {
    /// Make a certificate and both configurations.
    pub fn new() -> io::Result<Self> {
        let provider = Arc::new(CryptoProvider {
            cipher_suites: vec![ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
            ..ring::default_provider()
        });
        let cert = SelfSigned::localhost().map_err(strata_err)?;
        let pin: [u8; 32] =
            strata_tls::config::parse_fingerprint(cert.fingerprint()).map_err(strata_err)?;
        let id = cert.identity();
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(strata_err)?
            .with_no_client_auth()
            .with_single_cert(id.chain, id.key)
            .map_err(strata_err)?;
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(strata_err)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier::new(pin, provider)))
            .with_no_client_auth();
        Ok(Configs {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The Strata server role over the shared server configuration.
    pub fn strata_server(&self) -> io::Result<TlsServer> {
        TlsServer::new(self.server.clone()).map_err(strata_err)
    }

    /// The Strata client role over the shared client configuration.
    pub fn strata_client(&self) -> io::Result<TlsClient> {
        TlsClient::new(self.client.clone(), server_name()).map_err(strata_err)
    }
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from(NAME).expect("a valid DNS name")
}

/// Run every measurement of the case, handing each report to `out` as it
/// is made.
pub async fn run(cfg: &Config, out: &mut dyn FnMut(Report)) -> io::Result<()> {
    let rts = &Runtimes::new(cfg.pin)?;
    let configs = &Configs::new()?;
    for &(chunk, total) in THROUGHPUT {
        let total = cfg.scaled(total, 4 * chunk as u64);
        let case = format!("tls/throughput/{}", size_name(chunk));
        if !cfg.selects(&case) {
            continue;
        }
        let verify = cfg.verify;
        let report = interleave(
            cfg,
            &case,
            Unit::MegabytesPerSec,
            || async move {
                let t = strata_throughput(rts, configs, chunk, total, verify).await?;
                Ok(mb_per_sec(total, t))
            },
            || async move {
                let t = peer_throughput(rts, configs, chunk, total, verify).await?;
                Ok(mb_per_sec(total, t))
            },
        )
        .await?;
        out(report);
    }

    let trips = cfg.scaled(ROUND_TRIPS, 10);
    let case = format!("tls/pingpong/{}", size_name(PING));
    if !cfg.selects(&case) {
        return Ok(());
    }
    let verify = cfg.verify;
    let report = interleave(
        cfg,
        &case,
        Unit::RoundTripsPerSec,
        || async move {
            let t = strata_pingpong(rts, configs, trips, verify).await?;
            Ok(per_sec(trips, t))
        },
        || async move {
            let t = peer_pingpong(rts, configs, trips, verify).await?;
            Ok(per_sec(trips, t))
        },
    )
    .await?;
    out(report);
    Ok(())
}

// ---------------------------------------------------------------------------
// Strata
// ---------------------------------------------------------------------------

/// Stream `total` bytes in `chunk`-sized writes through Strata TCP+TLS;
/// returns the time from before `connect` to the receiver's end-of-stream.
pub async fn strata_throughput(
    rts: &Runtimes,
    configs: &Configs,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<Duration> {
    let (server, client) = (configs.strata_server()?, configs.strata_client()?);
    limit("strata TLS throughput", async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let listener = join(rts.server().spawn(async move {
            strata_tokio::listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
                server.wrap(Receiver::new(chunk, total, verify, tx.clone()))
            })
            .await
            .map_err(strata_err)
        }))
        .await?;
        let desc = format!("tcp:127.0.0.1:{}", listener.port().expect("tcp has a port"));

        let (start, client) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let client = strata_tokio::connect(&desc, client.wrap(Sender::new(chunk, total)))
                .await
                .map_err(strata_err)?;
            Ok((start, client))
        }))
        .await?;
        let (count, end) = rx
            .recv()
            .await
            .ok_or_else(|| strata_err("receiver gone"))??;
        if count != total {
            return Err(corrupt(format!("{count} bytes arrived, {total} were sent")));
        }
        let reason = client.closed().await;
        if !reason.is_done() {
            return Err(strata_err(format!("sender: {reason}")));
        }
        Ok(end - start)
    })
    .await
}

/// `trips` round trips of [`PING`] bytes through Strata TCP+TLS; returns
/// the time from before `connect` to the last echo.
pub async fn strata_pingpong(
    rts: &Runtimes,
    configs: &Configs,
    trips: u64,
    verify: bool,
) -> io::Result<Duration> {
    let (server, client) = (configs.strata_server()?, configs.strata_client()?);
    limit("strata TLS ping-pong", async {
        let listener = join(rts.server().spawn(async move {
            strata_tokio::listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
                server.wrap(Echo)
            })
            .await
            .map_err(strata_err)
        }))
        .await?;
        let desc = format!("tcp:127.0.0.1:{}", listener.port().expect("tcp has a port"));
        let (done, finished) = oneshot::channel();
        let pinger = client.wrap(Pinger::new(trips, verify, done));

        let (start, client) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let client = strata_tokio::connect(&desc, pinger)
                .await
                .map_err(strata_err)?;
            Ok((start, client))
        }))
        .await?;
        let end = finished.await.map_err(|_| strata_err("pinger gone"))??;
        client.closed().await;
        Ok(end - start)
    })
    .await
}

// ---------------------------------------------------------------------------
// tokio-rustls
// ---------------------------------------------------------------------------

async fn peer_addr(rx: oneshot::Receiver<SocketAddr>) -> io::Result<SocketAddr> {
    rx.await.map_err(|_| strata_err("listener gone"))
}

/// Stream `total` bytes in `chunk`-sized `write_all`s over tokio-rustls;
/// returns the time from before `connect` to the receiver's end-of-stream.
pub async fn peer_throughput(
    rts: &Runtimes,
    configs: &Configs,
    chunk: usize,
    total: u64,
    verify: bool,
) -> io::Result<Duration> {
    let acceptor = TlsAcceptor::from(configs.server.clone());
    let connector = TlsConnector::from(configs.client.clone());
    limit("tokio-rustls throughput", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let receiver = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let tcp = tokio_accept(&listener).await?;
            let mut s = acceptor.accept(tcp).await?;
            // (tokio-rustls: end of stream only after the peer's close_notify.)
            let (count, end) = count_to_eof(&mut s, READ_BUF, chunk, total, verify).await?;
            s.shutdown().await?;
            Ok((count, end))
        });
        let addr = peer_addr(addr_rx).await?;

        let sender = rts.client().spawn(async move {
            let start = Instant::now();
            let tcp = tokio_connect(addr).await?;
            let mut s = connector.connect(server_name(), tcp).await?;
            send_then_wait(&mut s, chunk, total).await?;
            Ok(start)
        });

        let (count, end) = join(receiver).await?;
        let start = join(sender).await?;
        if count != total {
            return Err(corrupt(format!("{count} bytes arrived, {total} were sent")));
        }
        Ok(end - start)
    })
    .await
}

/// `trips` round trips of [`PING`] bytes over tokio-rustls; returns the
/// time from before `connect` to the last echo.
pub async fn peer_pingpong(
    rts: &Runtimes,
    configs: &Configs,
    trips: u64,
    verify: bool,
) -> io::Result<Duration> {
    let acceptor = TlsAcceptor::from(configs.server.clone());
    let connector = TlsConnector::from(configs.client.clone());
    limit("tokio-rustls ping-pong", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let tcp = tokio_accept(&listener).await?;
            let mut s = acceptor.accept(tcp).await?;
            let mut buf = vec![0u8; READ_BUF];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await?;
            }
            s.shutdown().await?;
            Ok(())
        });
        let addr = peer_addr(addr_rx).await?;

        let client = rts.client().spawn(async move {
            let start = Instant::now();
            let tcp = tokio_connect(addr).await?;
            let mut s = connector.connect(server_name(), tcp).await?;
            let msg = pattern(PING);
            let mut echo = [0u8; PING];
            for _ in 0..trips {
                s.write_all(&msg).await?;
                s.read_exact(&mut echo).await?;
                if verify && echo[..] != msg[..] {
                    return Err(corrupt("an echo differs from the message"));
                }
            }
            let elapsed = start.elapsed();
            s.shutdown().await?;
            // Wait for the server's close_notify, so no run overlaps the next.
            let mut rest = [0u8; 16];
            while s.read(&mut rest).await? > 0 {}
            Ok(elapsed)
        });

        let elapsed = join(client).await?;
        join(server).await?;
        Ok(elapsed)
    })
    .await
}
