//! Interop over real loopback TCP with an independent peer, tokio-rustls,
//! using the same rustls configuration and crypto provider (ring):
//! half-close by close_notify in both directions, and truncation.

mod common;

use std::time::Duration;

use strata_testing::conformance::{Event, Log, Recorder};
use strata_tls::rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const LIMIT: Duration = Duration::from_secs(20);

fn acceptor() -> TlsAcceptor {
    TlsAcceptor::from(common::server().config().clone())
}

fn connector() -> TlsConnector {
    TlsConnector::from(common::client().config().clone())
}

async fn bound() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desc = format!("tcp:127.0.0.1:{}", l.local_addr().unwrap().port());
    (l, desc)
}

async fn wait_lost(log: &Log) {
    tokio::time::timeout(LIMIT, async {
        while log.lost().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the Strata side did not finish");
}

/// Strata client half-closes after its request; the tokio-rustls server
/// reads to the end (close_notify), answers, and shuts down (its own
/// close_notify); Strata sees the answer, then `read_closed`, then Done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_client_tokio_rustls_server_half_close_both_ways() {
    let (listener, desc) = bound().await;
    let request = vec![b'q'; 300_000];
    let answer = vec![b'a'; 500_000];
    let (req2, ans2) = (request.clone(), answer.clone());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor().accept(tcp).await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap(); // Ok only after close_notify
        assert_eq!(got, req2);
        tls.write_all(&ans2).await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let log = Log::new();
    let app = Recorder::new(&log)
        .on_made(move |t| {
            t.write(request.clone().into());
            t.close_write();
        })
        .on_read_closed(|_| {});
    let _h = strata_tokio::connect(&desc, common::client().wrap(app))
        .await
        .unwrap();
    wait_lost(&log).await;
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(log.received(), answer);
    assert_eq!(log.lost(), Some("done"), "{:?}", log.lost_reason());
    let ev = log.events();
    let wc = ev.iter().position(|e| *e == Event::WriteClosed).unwrap();
    let rc = ev.iter().position(|e| *e == Event::ReadClosed).unwrap();
    assert!(wc < rc, "{ev:?}");
}

/// The tokio-rustls client half-closes (shutdown = close_notify + FIN); the
/// Strata server sees `read_closed`, then answers and half-closes; the
/// client's `read_to_end` succeeds only because Strata sent close_notify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_rustls_client_strata_server_half_close_both_ways() {
    let log = Log::new();
    let l2 = log.clone();
    let server = common::server();
    let listener =
        strata_tokio::listen("tcp:127.0.0.1:0", move |_: &strata_core::TransportInfo| {
            let app = Recorder::new(&l2).on_read_closed(|t| {
                // Answer after the client's end-of-stream, then half-close.
                t.write_slice(b"the answer, after your close_notify");
                t.close_write();
            });
            server.wrap(app)
        })
        .await
        .unwrap();
    let port = listener.port().unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = connector()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let request = vec![b'r'; 200_000];
    tls.write_all(&request).await.unwrap();
    tls.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, tls.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"the answer, after your close_notify");
    wait_lost(&log).await;
    assert_eq!(log.received(), request);
    assert_eq!(log.lost(), Some("done"), "{:?}", log.lost_reason());
}

/// A tokio-rustls server that drops TCP without close_notify: the Strata
/// client sees a truncation error, never a clean end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_rustls_server_truncates_strata_client_notices() {
    let (listener, desc) = bound().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor().accept(tcp).await.unwrap();
        tls.write_all(b"partial answer").await.unwrap();
        tls.flush().await.unwrap();
        let (mut tcp, _) = tls.into_inner();
        tcp.shutdown().await.unwrap(); // FIN, no close_notify
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    let log = Log::new();
    let _h = strata_tokio::connect(&desc, common::client().wrap(Recorder::new(&log)))
        .await
        .unwrap();
    wait_lost(&log).await;
    server.await.unwrap();
    assert_eq!(log.received(), b"partial answer");
    assert_eq!(log.lost(), Some("error"));
    assert!(
        log.lost_reason().unwrap().contains("truncated"),
        "{:?}",
        log.lost_reason()
    );
    assert!(!log.has(&Event::ReadClosed));
}

/// A tokio-rustls client that drops TCP without close_notify: the Strata
/// server's protocol sees a truncation error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_rustls_client_truncates_strata_server_notices() {
    let log = Log::new();
    let l2 = log.clone();
    let server = common::server();
    let listener =
        strata_tokio::listen("tcp:127.0.0.1:0", move |_: &strata_core::TransportInfo| {
            server.wrap(Recorder::new(&l2))
        })
        .await
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", listener.port().unwrap()))
        .await
        .unwrap();
    let mut tls = connector()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"half a request").await.unwrap();
    tls.flush().await.unwrap();
    let (mut tcp, _) = tls.into_inner();
    tcp.shutdown().await.unwrap();
    wait_lost(&log).await;
    assert_eq!(log.received(), b"half a request");
    assert_eq!(log.lost(), Some("error"));
    assert!(
        log.lost_reason().unwrap().contains("truncated"),
        "{:?}",
        log.lost_reason()
    );
}

/// Both directions at once, bulk, through a Strata echo server: every byte
/// comes back, and both ends close cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_rustls_client_bulk_echo_through_strata() {
    let server = common::server();
    let listener =
        strata_tokio::listen("tcp:127.0.0.1:0", move |_: &strata_core::TransportInfo| {
            server.wrap(Echo)
        })
        .await
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", listener.port().unwrap()))
        .await
        .unwrap();
    let tls = connector()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let d2 = data.clone();
    let writer = tokio::spawn(async move {
        for chunk in d2.chunks(64 * 1024) {
            wr.write_all(chunk).await.unwrap();
        }
        wr.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, rd.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert!(got == data, "echoed {} of {} bytes", got.len(), data.len());
}

/// Echoes, and half-closes when the peer does.
struct Echo;
impl strata_core::Protocol for Echo {
    fn data_received(&mut self, t: &mut dyn strata_core::Transport, data: strata_core::Bytes) {
        t.write(data);
    }
    fn read_closed(&mut self, t: &mut dyn strata_core::Transport) {
        t.close_write();
    }
}
