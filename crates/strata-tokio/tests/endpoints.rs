//! Endpoints from descriptions: Unix sockets, IPv6, and the errors.

mod common;

use common::{within, Collect, Echo};
use strata_core::{Addr, TransportInfo};
use strata_tokio::{connect, listen, Endpoint, EndpointError};

#[tokio::test]
async fn description_errors_quote_the_bad_part() {
    let err = connect("tcp:127.0.0.1:notaport", Echo).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"in "tcp:127.0.0.1:notaport": port "notaport" is not a number (expected tcp:HOST:PORT or tcp:PORT)"#
    );
    let err = connect("tcp:7000", Echo).await.unwrap_err().to_string();
    assert!(
        err.contains(r#"in "tcp:7000": connecting needs a host"#),
        "{err}"
    );
    let err = listen("carrier-pigeon:1", |_: &TransportInfo| Echo)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"endpoint kind "carrier-pigeon" is unknown"#),
        "{err}"
    );
    let err = listen("tcp:0+tls:name=x", |_: &TransportInfo| Echo)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"layer "tls" cannot be built by strata-tokio"#),
        "{err}"
    );
    let err = listen("udp:0", |_: &TransportInfo| Echo)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("UDP is not a stream endpoint"), "{err}");
    let err = connect("tcp:bad host:1", Echo)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"host "bad host" is not a host name or an IP address"#),
        "{err}"
    );
}

#[tokio::test]
async fn system_errors_say_what_was_attempted() {
    // Bind a port, close it, and connect to it: refused.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let err = connect(&format!("tcp:127.0.0.1:{port}"), Echo)
        .await
        .unwrap_err();
    assert!(matches!(err, EndpointError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("connecting to tcp:127.0.0.1:{port}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn listen_on_all_interfaces_with_tcp_port() {
    let l = listen("tcp:0", |_: &TransportInfo| Echo).await.unwrap();
    let Addr::Inet(a) = l.local_addr() else {
        panic!()
    };
    assert!(a.ip().is_unspecified());
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write_slice(b"any");
        t.close_write();
    });
    let h = connect(&format!("tcp:localhost:{}", a.port()), c)
        .await
        .unwrap();
    assert!(within("closed", h.closed()).await.is_done());
    assert_eq!(seen.lock().unwrap().data, b"any");
}

#[tokio::test]
async fn ipv6_loopback_when_available() {
    let Ok(l) = listen("tcp:[::1]:0", |_: &TransportInfo| Echo).await else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write_slice(b"six");
        t.close_write();
    });
    let h = connect(&format!("tcp:[::1]:{}", l.port().unwrap()), c)
        .await
        .unwrap();
    assert!(within("closed", h.closed()).await.is_done());
    assert_eq!(seen.lock().unwrap().data, b"six");
}

#[tokio::test]
async fn unix_socket_echo_and_info() {
    let dir = std::env::temp_dir().join(format!("strata-tokio-ep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let desc = format!("unix:{}", path.display());
    let l = listen(&desc, |_: &TransportInfo| Echo).await.unwrap();
    assert_eq!(l.local_addr(), &Addr::Unix(Some(path.clone())));
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write_slice(b"over unix");
        t.close_write();
    });
    let h = connect(&desc, c).await.unwrap();
    let info = h.call(|_, t| t.info()).await;
    assert!(within("closed", h.closed()).await.is_done());
    assert_eq!(seen.lock().unwrap().data, b"over unix");
    if let Ok(info) = info {
        assert_eq!(info.layer_names(), ["unix"]);
        assert_eq!(info.peer, Addr::Unix(Some(path.clone())));
    }
    drop(l);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!path.exists(), "the listener removes its socket file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn endpoint_round_trips() {
    let (ep, layers) = Endpoint::parse_with_layers("unix:/run/a.sock+tls:name=x").unwrap();
    assert_eq!(ep.to_string(), "unix:/run/a.sock");
    assert_eq!(layers[0].get("name"), Some("x"));
}
