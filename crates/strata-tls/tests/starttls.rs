//! STARTTLS: a plaintext line protocol puts TLS under itself on the live
//! connection, with no byte lost or seen twice, under every chunking the
//! harness can produce — including the ClientHello arriving in the same
//! read as the `STARTTLS` line.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{Bytes, Protocol, Reason, TimerId, Transport, Upgradable};
use strata_testing::{Chunking, Pair};
use strata_tls::{TlsClient, TlsServer};

/// What a side saw: lines, each marked with whether TLS was under it.
type Lines = Arc<Mutex<Vec<(String, bool)>>>;

fn secure(t: &dyn Transport) -> bool {
    t.info().layer("tls").is_some()
}

/// Split complete lines off `buf`.
fn lines(buf: &mut Vec<u8>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(i) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        out.push(String::from_utf8_lossy(&line[..i]).into_owned());
    }
    out
}

/// Echoes every line as `ECHO line`. On `STARTTLS`: in `ok` mode answers
/// `OK` (in plaintext) first; then puts TLS under itself, handing over
/// whatever followed the line in the same read.
struct Server {
    tls: TlsServer,
    ok: bool,
    buf: Vec<u8>,
    seen: Lines,
    lost: Arc<Mutex<Option<String>>>,
}

impl Protocol for Server {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.buf.extend_from_slice(&data);
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line[..i]).into_owned();
            self.seen.lock().unwrap().push((line.clone(), secure(t)));
            if line == "STARTTLS" {
                if self.ok {
                    t.write_slice(b"OK\n");
                }
                let rest = Bytes::from(std::mem::take(&mut self.buf));
                t.upgrade(self.tls.upgrade(rest)).unwrap();
                return; // what follows belongs to TLS
            }
            t.write(Bytes::from(format!("ECHO {line}\n")));
        }
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        t.close_write();
    }
    fn connection_lost(&mut self, reason: Reason) {
        *self.lost.lock().unwrap() = Some(reason.kind().to_string());
    }
}

/// Says HELLO in plaintext, then STARTTLS — pipelined (TLS at once) or
/// waiting for OK — then, over TLS, sends secrets and half-closes.
struct Client {
    tls: TlsClient,
    pipelined: bool,
    buf: Vec<u8>,
    seen: Lines,
    lost: Arc<Mutex<Option<String>>>,
    secrets_sent: bool,
}

const SECRETS: &[&str] = &["SECRET one", "SECRET two", "SECRET three"];

impl Client {
    fn start_tls(&mut self, t: &mut dyn Transport, rest: Bytes) {
        t.upgrade(self.tls.upgrade(rest)).unwrap();
        // Writes in this callback would still go out in plaintext: speak
        // again from the next callback, whose transport is the TLS layer.
        t.set_timer_after(Duration::ZERO);
    }
}

impl Protocol for Client {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write_slice(b"HELLO\n");
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.buf.extend_from_slice(&data);
        for line in lines(&mut self.buf) {
            self.seen.lock().unwrap().push((line.clone(), secure(t)));
            if line == "ECHO HELLO" {
                t.write_slice(b"STARTTLS\n");
                if self.pipelined {
                    self.start_tls(t, Bytes::new());
                }
            } else if line == "OK" {
                let rest = Bytes::from(std::mem::take(&mut self.buf));
                self.start_tls(t, rest);
                return;
            }
        }
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, _: TimerId) {
        assert!(secure(t), "after the upgrade the transport is TLS");
        if !self.secrets_sent {
            self.secrets_sent = true;
            for s in SECRETS {
                t.write(Bytes::from(format!("{s}\n")));
            }
            t.close_write();
        }
    }
    fn read_closed(&mut self, _t: &mut dyn Transport) {}
    fn connection_lost(&mut self, reason: Reason) {
        *self.lost.lock().unwrap() = Some(reason.kind().to_string());
    }
}

fn run(chunking: Chunking, pipelined: bool) {
    let (cs, ss): (Lines, Lines) = Default::default();
    let (cl, sl) = (Arc::default(), Arc::default());
    let client = Upgradable::new(Box::new(Client {
        tls: common::client(),
        pipelined,
        buf: Vec::new(),
        seen: cs.clone(),
        lost: Arc::clone(&cl),
        secrets_sent: false,
    }));
    let server = Upgradable::new(Box::new(Server {
        tls: common::server(),
        ok: !pipelined,
        buf: Vec::new(),
        seen: ss.clone(),
        lost: Arc::clone(&sl),
    }));
    let mut pair = Pair::new(client, server).chunking(chunking);
    assert!(pair.run(), "{chunking:?}: the pair did not finish");
    let ctx = format!("{chunking:?} pipelined={pipelined}");

    let mut want_server = vec![
        ("HELLO".to_string(), false),
        ("STARTTLS".to_string(), false),
    ];
    want_server.extend(SECRETS.iter().map(|s| (s.to_string(), true)));
    assert_eq!(*ss.lock().unwrap(), want_server, "{ctx}: server saw");

    let mut want_client = vec![("ECHO HELLO".to_string(), false)];
    if !pipelined {
        want_client.push(("OK".to_string(), false));
    }
    want_client.extend(SECRETS.iter().map(|s| (format!("ECHO {s}"), true)));
    assert_eq!(*cs.lock().unwrap(), want_client, "{ctx}: client saw");
    assert_eq!(cl.lock().unwrap().as_deref(), Some("done"), "{ctx}: client");
    assert_eq!(sl.lock().unwrap().as_deref(), Some("done"), "{ctx}: server");
}

#[test]
fn starttls_whole() {
    run(Chunking::Whole, false);
    run(Chunking::Whole, true);
}

#[test]
fn starttls_every_fixed_chunk_size() {
    for n in (1..=64).chain([100, 333, 1000, 4096]) {
        run(Chunking::Fixed(n), false);
        run(Chunking::Fixed(n), true);
    }
}

#[test]
fn starttls_random_chunks() {
    for seed in 0..40 {
        let max = [3, 17, 200, 5000][seed as usize % 4];
        run(Chunking::Random { seed, max }, false);
        run(Chunking::Random { seed, max }, true);
    }
}

/// With whole chunks and a pipelined client, the ClientHello really does
/// arrive in the same read as the STARTTLS line.
#[test]
fn starttls_client_hello_in_the_same_read() {
    struct Probe(Arc<Mutex<Vec<usize>>>, Upgradable);
    impl Protocol for Probe {
        fn connection_made(&mut self, t: &mut dyn Transport) {
            self.1.connection_made(t)
        }
        fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
            if let Some(i) = data.windows(9).position(|w| w == b"STARTTLS\n") {
                self.0.lock().unwrap().push(data.len() - i - 9);
            }
            self.1.data_received(t, data)
        }
        fn read_closed(&mut self, t: &mut dyn Transport) {
            self.1.read_closed(t)
        }
        fn connection_lost(&mut self, r: Reason) {
            self.1.connection_lost(r)
        }
        fn timer_fired(&mut self, t: &mut dyn Transport, id: TimerId) {
            self.1.timer_fired(t, id)
        }
    }
    let after = Arc::new(Mutex::new(Vec::new()));
    let seen: Lines = Default::default();
    let client = Upgradable::new(Box::new(Client {
        tls: common::client(),
        pipelined: true,
        buf: Vec::new(),
        seen: Default::default(),
        lost: Arc::default(),
        secrets_sent: false,
    }));
    let server = Probe(
        after.clone(),
        Upgradable::new(Box::new(Server {
            tls: common::server(),
            ok: false,
            buf: Vec::new(),
            seen: seen.clone(),
            lost: Arc::default(),
        })),
    );
    let mut pair = Pair::new(client, server);
    assert!(pair.run());
    let after = after.lock().unwrap().clone();
    assert!(
        after.len() == 1 && after[0] > 100,
        "bytes after STARTTLS in its read: {after:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 2 + SECRETS.len());
}
