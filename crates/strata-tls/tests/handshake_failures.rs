//! Handshakes that must fail, fail with a clear message on both sides, and
//! the ones that must succeed (pinning, insecure, mutual TLS) do.

mod common;

use std::sync::Arc;

use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::Pair;
use strata_tls::config::{client_config, server_config, Trust};
use strata_tls::rustls::pki_types::ServerName;
use strata_tls::{SelfSigned, TlsClient, TlsServer};

use common::{pki, Leaf, Pki};

fn server_with(leaf: &Leaf) -> TlsServer {
    let cfg = server_config(leaf.identity(), None, vec![]).unwrap();
    TlsServer::new(Arc::new(cfg)).unwrap()
}

fn client_with(trust: Trust, name: &str) -> TlsClient {
    let cfg = client_config(trust, None, vec![]).unwrap();
    TlsClient::new(
        Arc::new(cfg),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap()
}

/// Run a client and a server (both Recorders that write a line and close)
/// and return their logs.
fn handshake(client: &TlsClient, server: &TlsServer) -> (Log, Log) {
    let (c, s) = (Log::new(), Log::new());
    let cp = Recorder::new(&c).on_made(|t| {
        t.write_slice(b"ping");
        t.close_write();
    });
    let sp = Recorder::new(&s).on_data(|t, _| t.close());
    let mut pair = Pair::new(client.wrap(cp), server.wrap(sp));
    assert!(pair.run(), "the pair did not finish");
    (c, s)
}

fn assert_failed(log: &Log, who: &str, needle: &str) {
    let ev = log.events();
    assert!(
        !ev.contains(&Event::Made),
        "{who} must not be connected: {ev:?}"
    );
    assert_eq!(log.lost(), Some("error"), "{who}: {ev:?}");
    let reason = log.lost_reason().unwrap();
    assert!(
        reason.contains(needle),
        "{who}: {reason:?} lacks {needle:?}"
    );
    assert_eq!(ev, vec![Event::Lost("error")], "{who}");
}

#[test]
fn good_handshake_for_reference() {
    let (c, s) = handshake(&common::client(), &common::server());
    assert_eq!(s.received(), b"ping");
    assert_eq!(c.lost(), Some("done"));
    assert_eq!(s.lost(), Some("done"));
}

#[test]
fn wrong_name() {
    let (c, s) = handshake(&common::client_for("example.com"), &common::server());
    assert_failed(&c, "client", "not valid for the name");
    assert_failed(&s, "server", "BadCertificate");
}

#[test]
fn unknown_ca() {
    let other = Pki::new("Some Other CA");
    let leaf = other.leaf(&["localhost"]);
    let (c, s) = handshake(&common::client(), &server_with(&leaf));
    assert_failed(&c, "client", "unknown certificate authority");
    assert_failed(&s, "server", "alert");
}

#[test]
fn expired_certificate() {
    let leaf = pki().leaf_dated(&["localhost"], 2000, 2001);
    let (c, _) = handshake(&common::client(), &server_with(&leaf));
    assert_failed(&c, "client", "expired");
}

#[test]
fn not_yet_valid_certificate() {
    let leaf = pki().leaf_dated(&["localhost"], 2200, 2201);
    let (c, _) = handshake(&common::client(), &server_with(&leaf));
    assert_failed(&c, "client", "not valid yet");
}

#[test]
fn pin_match_and_mismatch() {
    let ss = SelfSigned::localhost().unwrap();
    let server = {
        let cfg = server_config(ss.identity(), None, vec![]).unwrap();
        TlsServer::new(Arc::new(cfg)).unwrap()
    };
    let pin = strata_tls::config::parse_fingerprint(ss.fingerprint()).unwrap();
    // The name is irrelevant to a pin.
    let (c, s) = handshake(&client_with(Trust::Pin(pin), "anything.invalid"), &server);
    assert_eq!(c.lost(), Some("done"), "{:?}", c.lost_reason());
    assert_eq!(s.received(), b"ping");

    let mut wrong = pin;
    wrong[0] ^= 1;
    let (c, _) = handshake(&client_with(Trust::Pin(wrong), "localhost"), &server);
    assert_failed(&c, "client", "does not match the pinned");
    // A CA-signed certificate is refused by a pin, too.
    let (c, _) = handshake(
        &client_with(Trust::Pin(pin), "localhost"),
        &common::server(),
    );
    assert_failed(&c, "client", "does not match the pinned");
}

#[test]
fn insecure_accepts_anything() {
    let other = Pki::new("Untrusted CA");
    let leaf = other.leaf_dated(&["elsewhere"], 2000, 2001);
    let (c, s) = handshake(
        &client_with(Trust::Insecure, "localhost"),
        &server_with(&leaf),
    );
    assert_eq!(c.lost(), Some("done"), "{:?}", c.lost_reason());
    assert_eq!(s.received(), b"ping");
}

#[test]
fn mutual_tls() {
    let client_pki = Pki::new("Client CA");
    let client_leaf = client_pki.leaf(&["client.local"]);
    let server = {
        let cfg = server_config(
            common::localhost_leaf().identity(),
            Some(client_pki.roots()),
            vec![],
        )
        .unwrap();
        TlsServer::new(Arc::new(cfg)).unwrap()
    };
    // With a certificate from the right CA: accepted, and the server sees it.
    let with_cert = {
        let cfg = client_config(
            Trust::Roots(pki().roots()),
            Some(client_leaf.identity()),
            vec![],
        )
        .unwrap();
        TlsClient::new(Arc::new(cfg), ServerName::try_from("localhost").unwrap()).unwrap()
    };
    let (c, s) = (Log::new(), Log::new());
    let fp = Arc::new(std::sync::Mutex::new(None));
    let fp2 = fp.clone();
    let cp = Recorder::new(&c).on_made(|t| {
        t.write_slice(b"ping");
        t.close_write();
    });
    let sp = Recorder::new(&s).on_data(move |t, _| {
        *fp2.lock().unwrap() = t.info().fact("peer-cert-sha256").map(str::to_string);
        t.close();
    });
    let mut pair = Pair::new(with_cert.wrap(cp), server.wrap(sp));
    assert!(pair.run());
    assert_eq!(s.received(), b"ping");
    assert_eq!(
        fp.lock().unwrap().as_deref(),
        Some(strata_tls::fingerprint(&client_leaf.cert).as_str())
    );

    // Without one: refused with a clear message on the server.
    let (_, s) = handshake(&common::client(), &server);
    assert_failed(&s, "server", "no certificate");
}

#[test]
fn alpn_is_negotiated_and_published() {
    let server = {
        let cfg = server_config(
            common::localhost_leaf().identity(),
            None,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        )
        .unwrap();
        TlsServer::new(Arc::new(cfg)).unwrap()
    };
    let client = {
        let cfg = client_config(
            Trust::Roots(pki().roots()),
            None,
            vec![b"http/1.1".to_vec()],
        )
        .unwrap();
        TlsClient::new(Arc::new(cfg), ServerName::try_from("localhost").unwrap()).unwrap()
    };
    let info = Arc::new(std::sync::Mutex::new(None));
    let i2 = info.clone();
    let (c, s) = (Log::new(), Log::new());
    let cp = Recorder::new(&c).on_made(move |t| {
        *i2.lock().unwrap() = Some(t.info());
        t.close();
    });
    let mut pair = Pair::new(client.wrap(cp), server.wrap(Recorder::new(&s)));
    assert!(pair.run());
    let info = info.lock().unwrap().clone().unwrap();
    assert_eq!(info.layer_names(), ["memory", "tls"]);
    let tls = info.layer("tls").unwrap();
    assert_eq!(tls.fact("alpn"), Some("http/1.1"));
    assert_eq!(tls.fact("version"), Some("TLSv1_3"));
    assert_eq!(tls.fact("role"), Some("client"));
    assert_eq!(tls.fact("sni"), Some("localhost"));
    assert!(tls.fact("cipher").unwrap().starts_with("TLS13_"));
    assert_eq!(
        tls.fact("peer-cert-sha256"),
        Some(strata_tls::fingerprint(&common::localhost_leaf().cert).as_str())
    );
}
