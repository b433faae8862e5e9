//! `strata tour`: build a stack step by step on loopback and show what each
//! layer does. Every step checks its own result; any failure makes the tour
//! exit non-zero.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use strata::trace::Trace;
use strata::{BoxProtocol, Bytes, Protocol, Role, Stack, Transport, TransportInfo};

use super::echo::Echo;

/// How many trace lines a step prints before summarising the rest.
const TRACE_LINES: usize = 14;

pub async fn run(verbose: bool) -> super::Result {
    println!("Strata tour: a stack built step by step, on 127.0.0.1.\n");
    let steps: [(&str, &str, Box<dyn Fn(String) -> Step>); 2] = [
        (
            "1. A transport moves bytes; a protocol makes sense of them. Here: plain TCP, an echo.",
            "tcp:127.0.0.1:0",
            Box::new(|d| Step::Echo(d, b"hello, layers".to_vec())),
        ),
        (
            "2. Half-close: the client sends 1 MiB and closes its sending side but keeps reading; the server answers with the byte count and SHA-256.",
            "tcp:127.0.0.1:0",
            Box::new(|d| Step::HalfClose(d, 1 << 20)),
        ),
    ];
    let mut failures = 0;
    for (intro, server_desc, make) in steps {
        println!("{intro}");
        match make(server_desc.to_string()).run(verbose).await {
            Ok(()) => println!("   ok\n"),
            Err(e) => {
                failures += 1;
                println!("   FAILED: {e}\n");
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} step(s) of the tour failed").into());
    }
    println!("Every step checked out.");
    Ok(())
}

enum Step {
    Echo(String, Vec<u8>),
    HalfClose(String, usize),
}

/// What the client saw, filled in by its protocol.
#[derive(Default)]
struct Seen {
    got: Vec<u8>,
    info: Option<TransportInfo>,
}

impl Step {
    async fn run(self, verbose: bool) -> super::Result {
        let (server_desc, expect, client): (
            String,
            Vec<u8>,
            Box<dyn FnOnce(Arc<Mutex<Seen>>) -> BoxProtocol>,
        ) = match self {
            Step::Echo(d, msg) => {
                let m = msg.clone();
                (
                    d,
                    msg,
                    Box::new(move |seen| {
                        Box::new(Sender {
                            data: Bytes::from(m),
                            seen,
                        })
                    }),
                )
            }
            Step::HalfClose(d, n) => {
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
                let reply = format!("{} {:x}\n", data.len(), Sha256::digest(&data)).into_bytes();
                (
                    d,
                    reply,
                    Box::new(move |seen| {
                        Box::new(Sender {
                            data: Bytes::from(data),
                            seen,
                        })
                    }),
                )
            }
        };
        let hashing = expect.ends_with(b"\n");
        let server = Stack::parse(&server_desc, Role::Server)?;
        let listener = server
            .listen(move |_: &TransportInfo| -> BoxProtocol {
                if hashing {
                    Box::new(HashReply::default())
                } else {
                    Box::new(Echo)
                }
            })
            .await?;
        let client_desc = server_desc.replace(":0", &format!(":{}", listener.port().unwrap_or(0)));
        let stack = Stack::parse(&client_desc, Role::Client)?;
        println!("   stack: {client_desc}");
        let trace = Trace::new();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let handle = stack
            .connect(stack.wrap_traced(client(seen.clone()), &trace))
            .await?;
        let reason = handle
            .closed_within(Duration::from_secs(10))
            .await
            .ok_or("the exchange did not finish within 10 s")?;
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        if let Some(info) = &seen.info {
            println!("   layers, top to bottom, as the app saw them at the end:");
            for line in info.to_string().lines().skip(1) {
                println!("   {line}");
            }
        }
        let lines = trace.take();
        println!("   callbacks crossing each layer on the client (↑ up, ↓ down):");
        let shown = if verbose {
            lines.len()
        } else {
            TRACE_LINES.min(lines.len())
        };
        for l in &lines[..shown] {
            println!("     {l}");
        }
        if lines.len() > shown {
            println!("     ... {} more (--trace shows all)", lines.len() - shown);
        }
        if !reason.is_done() {
            return Err(format!("the connection ended with: {reason}").into());
        }
        if seen.got != expect {
            return Err(format!(
                "expected {:?}, got {:?}",
                String::from_utf8_lossy(&expect[..expect.len().min(80)]),
                String::from_utf8_lossy(&seen.got[..seen.got.len().min(80)])
            )
            .into());
        }
        println!(
            "   the client got back: {}",
            String::from_utf8_lossy(&seen.got).trim_end()
        );
        Ok(())
    }
}

/// Sends its data (respecting flow control), half-closes, and collects the
/// answer until the peer closes.
struct Sender {
    data: Bytes,
    seen: Arc<Mutex<Seen>>,
}

impl Sender {
    fn pump(&mut self, t: &mut dyn Transport) {
        // Write in 64 KiB pieces until the transport says it has enough.
        while !self.data.is_empty() && t.write_buffer_len() < 256 * 1024 {
            let n = self.data.len().min(64 * 1024);
            t.write(self.data.split_to(n));
        }
        if self.data.is_empty() && t.can_write() {
            t.close_write();
        }
    }
}

impl Protocol for Sender {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.pump(t);
    }
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.seen.lock().unwrap().got.extend_from_slice(&data);
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.pump(t);
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.seen.lock().unwrap().info = Some(t.info());
        t.close();
    }
}

/// Counts and hashes everything until the peer half-closes, then answers
/// `"<count> <sha256 hex>\n"` and closes.
#[derive(Default)]
struct HashReply {
    count: usize,
    hash: Sha256,
}

impl Protocol for HashReply {
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.count += data.len();
        self.hash.update(&data);
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        let digest = std::mem::take(&mut self.hash).finalize();
        t.write(Bytes::from(format!("{} {:x}\n", self.count, digest)));
        t.close();
    }
}
