//! A TLS listener over real TCP keeps serving after bad input: one client
//! sends garbage instead of a ClientHello, one cuts its handshake halfway
//! and closes, one cuts it halfway and goes silent (the handshake timeout
//! ends it); well-behaved clients — Strata and tokio-rustls — connecting
//! while those are still open, and after them, are served correctly. Every
//! bad connection ends with a clear reason, and nothing panics.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{Protocol, TransportInfo};
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::doubles::RecordingTransport;
use strata_tls::rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(20);
/// The server's handshake timeout in this test (the silent client).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(600);

/// A real client's ClientHello, as the first flight of a Strata client.
fn client_hello() -> Vec<u8> {
    let mut client = common::client().wrap(Recorder::new(&Log::new()));
    let mut t = RecordingTransport::new();
    client.connection_made(&mut t);
    t.take_written().to_vec()
}

/// Read until end-of-stream (or an error, such as a reset); returns what
/// arrived.
async fn drain(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A well-behaved Strata client: sends `msg`, half-closes, and expects it
/// echoed back then a clean end.
async fn strata_client(port: u16, msg: &'static [u8]) {
    let log = Log::new();
    let app = Recorder::new(&log)
        .on_made(move |t| {
            t.write_slice(msg);
            t.close_write();
        })
        .on_read_closed(|_| {});
    let desc = format!("tcp:127.0.0.1:{port}");
    let h = strata_tokio::connect(&desc, common::client().wrap(app))
        .await
        .unwrap();
    let reason = tokio::time::timeout(LIMIT, h.closed()).await.unwrap();
    assert!(reason.is_done(), "{reason}");
    assert_eq!(log.received(), msg);
    assert_eq!(log.lost(), Some("done"), "{:?}", log.lost_reason());
    log.check_contract().unwrap();
}

/// A well-behaved tokio-rustls client: the same exchange.
async fn tokio_rustls_client(port: u16, msg: &'static [u8]) {
    let connector = tokio_rustls::TlsConnector::from(common::client().config().clone());
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(msg).await.unwrap();
    tls.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, tls.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_keeps_serving_after_garbage_and_cut_handshakes() {
    // One Log per accepted connection, in accept order.
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let server = common::server().with_handshake_timeout(Some(HANDSHAKE_TIMEOUT));
    let logs2 = logs.clone();
    let listener = strata_tokio::listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
        let log = Log::new();
        logs2.lock().unwrap().push(log.clone());
        // An echo server: the default read_closed closes after the echo.
        server.wrap(Recorder::new(&log).on_data(|t, d| t.write(d.clone())))
    })
    .await
    .unwrap();
    let port = listener.port().unwrap();
    let hello = client_hello();

    // 1. Garbage instead of a ClientHello: the server answers at most with
    //    an alert and closes.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // 2. Half a ClientHello, then our end-of-stream.
    let mut cut = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    cut.write_all(&hello[..hello.len() / 2]).await.unwrap();
    cut.shutdown().await.unwrap();
    // 3. Half a ClientHello, then silence: the handshake timeout ends it.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    silent.write_all(&hello[..hello.len() / 2]).await.unwrap();

    // Good clients, concurrently, while the bad connections may still be
    // open (the silent one certainly is).
    tokio::time::timeout(LIMIT, async {
        tokio::join!(
            strata_client(port, b"first good client"),
            tokio_rustls_client(port, b"second good client"),
            strata_client(port, b"third good client"),
        )
    })
    .await
    .unwrap();

    // The bad connections end: the server closes each of them.
    let got = tokio::time::timeout(LIMIT, drain(&mut garbage))
        .await
        .unwrap();
    assert!(
        got.is_empty() || got[0] == 0x15,
        "at most an alert record: {got:02x?}"
    );
    let got = tokio::time::timeout(LIMIT, drain(&mut cut)).await.unwrap();
    assert!(
        got.is_empty(),
        "no handshake answer to half a hello: {got:02x?}"
    );
    let got = tokio::time::timeout(LIMIT, drain(&mut silent))
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:02x?}");

    // And after all that, more good clients.
    tokio::time::timeout(LIMIT, async {
        tokio::join!(
            strata_client(port, b"a later client"),
            tokio_rustls_client(port, b"another later client"),
        )
    })
    .await
    .unwrap();

    // What the server side saw, connection by connection.
    let logs = logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 8, "every connection was accepted");
    tokio::time::timeout(LIMIT, async {
        while logs.iter().any(|l| l.lost().is_none()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every server-side connection ends");
    let reasons: Vec<String> = logs
        .iter()
        .map(|l| l.lost_reason().unwrap_or_default())
        .collect();
    for r in &reasons {
        assert!(!r.contains("panic"), "{reasons:?}");
    }
    let (mut good, mut garbage_seen, mut cut_seen, mut timed_out) = (0, 0, 0, 0);
    for (log, reason) in logs.iter().zip(&reasons) {
        match log.lost() {
            Some("done") => {
                log.check_contract().unwrap();
                assert!(log.received().ends_with(b"client"), "{reason}");
                good += 1;
            }
            Some("error") => {
                // No connection_made: the handshake never completed.
                assert_eq!(log.events(), vec![Event::Lost("error")], "{reason}");
                if reason.contains("before the handshake completed") {
                    cut_seen += 1;
                } else {
                    assert!(
                        reason.contains("TLS handshake failed") && reason.contains("not valid TLS"),
                        "{reason}"
                    );
                    garbage_seen += 1;
                }
            }
            Some("timed-out") => {
                assert_eq!(log.events(), vec![Event::Lost("timed-out")]);
                timed_out += 1;
            }
            other => panic!("unexpected end {other:?}: {reason}"),
        }
    }
    assert_eq!(
        (good, garbage_seen, cut_seen, timed_out),
        (5, 1, 1, 1),
        "{reasons:?}"
    );
}
