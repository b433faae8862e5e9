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
    let hello = || Exchange::Echo(b"hello, layers".to_vec());
    let mib = || Exchange::HalfClose(1 << 20);
    let steps = [
        Step {
            intro: "1. A transport moves bytes; a protocol makes sense of them. Here: plain TCP, an echo.",
            server: "tcp:127.0.0.1:0",
            client: "tcp:127.0.0.1:PORT",
            exchange: hello(),
        },
        Step {
            intro: "2. Half-close: the client sends 1 MiB and closes its sending side but keeps reading; the server answers with the byte count and SHA-256.",
            server: "tcp:127.0.0.1:0",
            client: "tcp:127.0.0.1:PORT",
            exchange: mib(),
        },
        Step {
            intro: "3. TLS added by one word: the server makes a certificate on the spot, the client pins its fingerprint. The echo protocol is unchanged.",
            server: "tcp:127.0.0.1:0+tls:self-signed",
            client: "tcp:127.0.0.1:PORT+tls:pin=PIN",
            exchange: hello(),
        },
        Step {
            intro: "4. Half-close through TLS: close_write sends close_notify and the client keeps reading the answer (Twisted and asyncio cannot do this).",
            server: "tcp:127.0.0.1:0+tls:self-signed",
            client: "tcp:127.0.0.1:PORT+tls:pin=PIN",
            exchange: mib(),
        },
        Step {
            intro: "5. TLS taken out again by deleting one word: the same app protocol, the same bytes, over plain TCP.",
            server: "tcp:127.0.0.1:0",
            client: "tcp:127.0.0.1:PORT",
            exchange: mib(),
        },
    ];
    let mut failures = 0;
    for step in steps {
        println!("{}", step.intro);
        match step.run(verbose).await {
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

/// One step: a server stack, a client stack (`PORT` and `PIN` filled in
/// from the running server) and what the two say to each other.
struct Step {
    intro: &'static str,
    server: &'static str,
    client: &'static str,
    exchange: Exchange,
}

enum Exchange {
    /// The server echoes; the client sends this and expects it back.
    Echo(Vec<u8>),
    /// The client sends this many bytes and half-closes; the server answers
    /// with the count and SHA-256.
    HalfClose(usize),
}

/// What the client saw, filled in by its protocol.
#[derive(Default)]
struct Seen {
    got: Vec<u8>,
    info: Option<TransportInfo>,
    lost: Option<strata::Reason>,
}

impl Step {
    async fn run(self, verbose: bool) -> super::Result {
        let (send, expect, hashing) = match self.exchange {
            Exchange::Echo(msg) => (msg.clone(), msg, false),
            Exchange::HalfClose(n) => {
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
                let reply = format!("{} {:x}\n", data.len(), Sha256::digest(&data)).into_bytes();
                (data, reply, true)
            }
        };
        let server = Stack::parse(self.server, Role::Server)?;
        let listener = server
            .listen(move |_: &TransportInfo| -> BoxProtocol {
                if hashing {
                    Box::new(HashReply::default())
                } else {
                    Box::new(Echo)
                }
            })
            .await?;
        let pin = server
            .layers
            .iter()
            .find_map(|l| match l {
                strata::Layer::Tls(c) => c.fingerprint().map(str::to_string),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .unwrap_or_default();
        let client_desc = self
            .client
            .replace("PORT", &listener.port().unwrap_or(0).to_string())
            .replace("PIN", &pin);
        let stack = Stack::parse(&client_desc, Role::Client)?;
        println!("   server: {}", self.server);
        println!("   client: {client_desc}");
        let trace = Trace::new();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = Box::new(Sender {
            data: Bytes::from(send),
            seen: seen.clone(),
        });
        let handle = stack.connect_traced(app, &trace).await?;
        let reason = handle
            .closed_within(Duration::from_secs(10))
            .await
            .ok_or("the exchange did not finish within 10 s")?;
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        if let Some(info) = &seen.info {
            println!("   the stack under the app, top to bottom (bytes in/out, buffered, facts):");
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
        let reason = seen.lost.clone().unwrap_or(reason);
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
    fn connection_lost(&mut self, reason: strata::Reason) {
        self.seen.lock().unwrap().lost = Some(reason);
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
