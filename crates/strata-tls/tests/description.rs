//! TLS from one word of a description: `tls:ca=...`, `tls:cert=...,key=...`,
//! `tls:self-signed`, `tls:pin=...`, `tls:insecure`, ALPN, mutual TLS — and
//! errors that quote the bad part and say what was expected.

mod common;

use std::path::Path;

use strata_core::{Description, Segment};
use strata_testing::conformance::{Log, Recorder};
use strata_testing::Pair;
use strata_tls::{from_segment, Configured, Side, TlsLayer};

fn seg(s: &str) -> Segment {
    Segment::parse(s).unwrap()
}

fn client(s: &str) -> TlsLayer {
    from_segment(&seg(s), Side::Client, None).unwrap().layer
}

fn server(s: &str) -> Configured {
    from_segment(&seg(s), Side::Server, None).unwrap()
}

fn err(s: &str, side: Side) -> String {
    from_segment(&seg(s), side, None).unwrap_err().to_string()
}

/// Talk through the two layers; returns the client's view of the facts.
fn talk(c: &TlsLayer, s: &TlsLayer) -> strata_core::TransportInfo {
    let (cl, sl) = (Log::new(), Log::new());
    let info = std::sync::Arc::new(std::sync::Mutex::new(None));
    let i2 = info.clone();
    let cp = Recorder::new(&cl).on_made(move |t| {
        *i2.lock().unwrap() = Some(t.info());
        t.write_slice(b"hello");
        t.close_write();
    });
    let mut pair = Pair::new(c.wrap(cp), s.wrap(Recorder::new(&sl)));
    assert!(pair.run());
    assert_eq!(sl.received(), b"hello", "server: {:?}", sl.lost_reason());
    assert_eq!(cl.lost(), Some("done"), "client: {:?}", cl.lost_reason());
    let info = info.lock().unwrap().take().unwrap();
    info
}

fn write_pems(dir: &Path) {
    let pki = common::pki();
    let leaf = common::localhost_leaf();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &leaf.key_pem).unwrap();
}

#[test]
fn ca_and_cert_files() {
    let dir = common::scratch("files");
    write_pems(&dir);
    let d = dir.display();
    let c = client(&format!(
        "tls:ca={d}/ca.pem,name=localhost,alpn=h2;http/1.1"
    ));
    let s = server(&format!(
        "tls:cert={d}/cert.pem,key={d}/key.pem,alpn=http/1.1"
    ));
    assert!(s.fingerprint().is_none());
    let info = talk(&c, &s.layer);
    assert_eq!(info.fact("alpn"), Some("http/1.1"));
    assert_eq!(info.fact("sni"), Some("localhost"));
}

#[test]
fn the_endpoint_host_is_the_default_name() {
    let dir = common::scratch("default-name");
    write_pems(&dir);
    let desc = Description::parse(&format!(
        "tcp:localhost:7000+tls:ca={}/ca.pem",
        dir.display()
    ))
    .unwrap();
    let c = from_segment(&desc.layers[0], Side::Client, Some("localhost")).unwrap();
    let s = server(&format!(
        "tls:cert={0}/cert.pem,key={0}/key.pem",
        dir.display()
    ));
    talk(&c.layer, &s.layer);
    // Without any name, a CA-verifying client cannot be built.
    let e = from_segment(&desc.layers[0], Side::Client, None).unwrap_err();
    assert!(e.to_string().contains("\"name\" is missing"), "{e}");
}

#[test]
fn self_signed_and_pin() {
    let s = server("tls:self-signed");
    let fp = s.fingerprint().unwrap().to_string();
    assert_eq!(fp.len(), 64);
    let info = talk(&client(&format!("tls:pin={fp}")), &s.layer);
    assert_eq!(info.fact("peer-cert-sha256"), Some(fp.as_str()));
    // Upper case with colons, as openssl prints it, works too.
    let colons: Vec<String> = fp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    talk(&client(&format!("tls:pin={}", colons.join(":"))), &s.layer);
    // A self-signed certificate for chosen names.
    let s2 = server("tls:self-signed=example.test;10.1.2.3");
    assert_ne!(s2.fingerprint(), Some(fp.as_str()));
    talk(&client("tls:insecure"), &s2.layer);
}

#[test]
fn mutual_tls_from_descriptions() {
    let dir = common::scratch("mtls");
    write_pems(&dir);
    let client_pki = common::Pki::new("Client CA");
    let leaf = client_pki.leaf(&["client.test"]);
    std::fs::write(dir.join("client-ca.pem"), &client_pki.ca_pem).unwrap();
    std::fs::write(dir.join("client.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.join("client.key"), &leaf.key_pem).unwrap();
    let d = dir.display();
    let s = server(&format!(
        "tls:cert={d}/cert.pem,key={d}/key.pem,client-ca={d}/client-ca.pem"
    ));
    let c = client(&format!(
        "tls:ca={d}/ca.pem,name=localhost,cert={d}/client.pem,key={d}/client.key"
    ));
    talk(&c, &s.layer);
}

#[test]
fn errors_quote_the_bad_part_and_say_what_was_expected() {
    use Side::*;
    let cases: &[(&str, Side, &str)] = &[
        (
            "tls:bogus=1,insecure",
            Client,
            r#"in "tls:bogus=1,insecure": unknown option "bogus" (expected for a client: ca=FILE"#,
        ),
        (
            "tls:self-signed",
            Client,
            r#"option "self-signed" is only for a server"#,
        ),
        (
            "tls:pin=abc",
            Server,
            r#"option "pin" is only for a client"#,
        ),
        (
            "tls:pin=abc",
            Client,
            r#""abc" is not a SHA-256 fingerprint"#,
        ),
        ("tls", Client, "no way to verify the server is given"),
        ("tls:insecure,pin=00", Client, "exclude each other"),
        (
            "tls:ca=/nonexistent/ca.pem,name=x",
            Client,
            r#"cannot read "/nonexistent/ca.pem""#,
        ),
        (
            "tls:insecure,name=bad name!",
            Client,
            r#""bad name!" is not a valid server name"#,
        ),
        ("tls:insecure,name=a,sni=b", Client, "disagree"),
        (
            "tls:insecure,cert=x.pem",
            Client,
            "cert= is given without key=",
        ),
        (
            "tls:insecure,alpn=;",
            Client,
            "is not a list of protocol names",
        ),
        ("tls", Server, "the server has no certificate"),
        ("tls:self-signed,cert=a,key=b", Server, "exclude each other"),
        ("tls:self-signed=", Server, "self-signed"),
        ("tcp:1", Client, "is not a TLS layer"),
    ];
    for (text, side, want) in cases {
        let got = err(text, *side);
        assert!(got.contains(want), "{text}: {got:?} lacks {want:?}");
        assert!(got.contains("expected"), "{text}: {got:?}");
    }
}

#[test]
fn a_file_that_is_not_pem() {
    let dir = common::scratch("not-pem");
    std::fs::write(dir.join("junk.pem"), "hello").unwrap();
    let e = err(
        &format!("tls:ca={}/junk.pem,name=x", dir.display()),
        Side::Client,
    );
    assert!(e.contains("no PEM CERTIFICATE block"), "{e}");
    let e = err(
        &format!("tls:cert={0}/junk.pem,key={0}/junk.pem", dir.display()),
        Side::Server,
    );
    assert!(e.contains("no PEM CERTIFICATE block"), "{e}");
}
