//! `strata tour`: build a stack step by step on loopback and show what each
//! layer does. Every step checks its own result; any failure makes the tour
//! exit non-zero.
//!
//! Each step runs a server stack and a client stack described by one line
//! each. The server's app is a tiny dispatcher: the first line a client
//! sends names a service (`echo` or `hash`), and the rest is that service's
//! business. The client's apps send a request, half-close, and check the
//! answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use strata::trace::Trace;
use strata::{BoxProtocol, Bytes, Protocol, Reason, Role, Stack, Transport, TransportInfo};

use super::echo::Echo;

/// How many trace lines a step prints before summarising the rest.
const TRACE_LINES: usize = 16;

pub async fn run(verbose: bool) -> super::Result {
    println!("Strata tour: a stack built step by step, on 127.0.0.1.\n");
    let hello = || vec![Request::echo(b"hello, layers")];
    let mib = || vec![Request::hash(1 << 20)];
    let steps = [
        Step {
            intro: "1. A transport moves bytes; a protocol makes sense of them. Here: plain TCP, an echo.",
            server: "tcp:127.0.0.1:0",
            client: "tcp:127.0.0.1:PORT",
            requests: hello(),
        },
        Step {
            intro: "2. Half-close: the client sends 1 MiB and closes its sending side but keeps reading; the server answers with the byte count and SHA-256.",
            server: "tcp:127.0.0.1:0",
            client: "tcp:127.0.0.1:PORT",
            requests: mib(),
        },
        Step {
            intro: "3. TLS added by one word: the server makes a certificate on the spot, the client pins its fingerprint. The apps are unchanged.",
            server: "tcp:127.0.0.1:0+tls:self-signed",
            client: "tcp:127.0.0.1:PORT+tls:pin=PIN",
            requests: hello(),
        },
        Step {
            intro: "4. Half-close through TLS: close_write sends close_notify and the client keeps reading the answer (Twisted and asyncio cannot do this).",
            server: "tcp:127.0.0.1:0+tls:self-signed",
            client: "tcp:127.0.0.1:PORT+tls:pin=PIN",
            requests: mib(),
        },
        Step {
            intro: "5. A mux over TLS: one connection, several subchannels in parallel, each a full transport with its own flow control and its own half-close.",
            server: "tcp:127.0.0.1:0+tls:self-signed+mux",
            client: "tcp:127.0.0.1:PORT+tls:pin=PIN+mux",
            requests: vec![
                Request::echo(b"echo on subchannel 1"),
                Request::hash(3 << 20),
                Request::echo(b"echo on subchannel 5"),
                Request::hash(100_000),
            ],
        },
        Step {
            intro: "6. TLS taken out by deleting one word: the same apps, the same subchannels, over plain TCP.",
            server: "tcp:127.0.0.1:0+mux",
            client: "tcp:127.0.0.1:PORT+mux",
            requests: vec![Request::echo(b"no TLS this time"), Request::hash(1 << 20)],
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
    // A framed command exchange over TLS (strata-frames), frame by frame.
    println!("{}", super::commands::TOUR_INTRO);
    match super::commands::tour_step().await {
        Ok(()) => println!("   ok\n"),
        Err(e) => {
            failures += 1;
            println!("   FAILED: {e}\n");
        }
    }
    // Files over the mux (strata-transfer): one subchannel per file.
    println!("{}", super::transfer::TOUR_INTRO);
    match super::transfer::tour_step().await {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            println!("   ok\n");
        }
        Err(e) => {
            failures += 1;
            println!("   FAILED: {e}\n");
        }
    }
    if failures > 0 {
        return Err(format!("{failures} step(s) of the tour failed").into());
    }
    println!("Every step checked out.");
    Ok(())
}

/// One step: a server stack, a client stack (`PORT` and `PIN` filled in
/// from the running server) and the requests the client makes — the first
/// on the connection (or first subchannel), the others on subchannels it
/// opens from inside its own callback.
struct Step {
    intro: &'static str,
    server: &'static str,
    client: &'static str,
    requests: Vec<Request>,
}

/// A request: the service line and payload to send, and the answer expected.
#[derive(Clone)]
struct Request {
    send: Bytes,
    expect: Vec<u8>,
}

impl Request {
    fn echo(msg: &[u8]) -> Request {
        let mut send = b"echo\n".to_vec();
        send.extend_from_slice(msg);
        Request {
            send: Bytes::from(send),
            expect: msg.to_vec(),
        }
    }

    fn hash(n: usize) -> Request {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
        let expect = format!("{} {:x}\n", data.len(), Sha256::digest(&data)).into_bytes();
        let mut send = b"hash\n".to_vec();
        send.extend_from_slice(&data);
        Request {
            send: Bytes::from(send),
            expect,
        }
    }
}

/// What one client app saw.
#[derive(Default)]
struct Seen {
    got: Vec<u8>,
    info: Option<TransportInfo>,
    lost: Option<Reason>,
}

type Shared = Arc<Mutex<Seen>>;

impl Step {
    async fn run(self, verbose: bool) -> super::Result {
        let server = Stack::parse(self.server, Role::Server)?;
        let listener = server
            .listen(|_: &TransportInfo| -> BoxProtocol { Box::new(Dispatch::default()) })
            .await?;
        let pin = server
            .layers
            .iter()
            .find_map(|l| match l {
                strata::Layer::Tls(c) => c.fingerprint().map(str::to_string),
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
        let seens: Vec<Shared> = self.requests.iter().map(|_| Shared::default()).collect();
        // The first request's app opens the others as sibling subchannels.
        let siblings: Vec<BoxProtocol> = self.requests[1..]
            .iter()
            .zip(&seens[1..])
            .map(|(r, s)| Box::new(Sender::new(r, s.clone(), Vec::new())) as BoxProtocol)
            .collect();
        let first = Box::new(Sender::new(&self.requests[0], seens[0].clone(), siblings));
        let handle = stack.connect_traced(first, &trace).await?;
        let bottom = handle
            .closed_within(Duration::from_secs(20))
            .await
            .ok_or("the exchange did not finish within 20 s")?;

        let first_seen = std::mem::take(&mut *seens[0].lock().unwrap());
        if let Some(info) = &first_seen.info {
            println!(
                "   the stack under the first app, top to bottom (bytes in/out, buffered, facts):"
            );
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
        if !bottom.is_done() {
            return Err(format!("the connection ended with: {bottom}").into());
        }
        *seens[0].lock().unwrap() = first_seen;
        for (i, (req, seen)) in self.requests.iter().zip(&seens).enumerate() {
            let seen = seen.lock().unwrap();
            let what = if seens.len() > 1 {
                format!("subchannel {}", 2 * i + 1)
            } else {
                "the client".to_string()
            };
            match &seen.lost {
                Some(r) if r.is_done() => {}
                Some(r) => return Err(format!("{what} ended with: {r}").into()),
                None => return Err(format!("{what} never finished").into()),
            }
            if seen.got != req.expect {
                return Err(format!(
                    "{what}: expected {:?}, got {:?}",
                    String::from_utf8_lossy(&req.expect[..req.expect.len().min(80)]),
                    String::from_utf8_lossy(&seen.got[..seen.got.len().min(80)])
                )
                .into());
            }
            println!(
                "   {what} got back: {}",
                String::from_utf8_lossy(&seen.got).trim_end()
            );
        }
        Ok(())
    }
}

/// Sends its request (respecting flow control), half-closes, and collects
/// the answer until the peer closes. The first one also opens its siblings
/// on new subchannels, through the transport's `channels()` capability.
struct Sender {
    data: Bytes,
    seen: Shared,
    siblings: Vec<BoxProtocol>,
}

impl Sender {
    fn new(req: &Request, seen: Shared, siblings: Vec<BoxProtocol>) -> Sender {
        Sender {
            data: req.send.clone(),
            seen,
            siblings,
        }
    }

    fn pump(&mut self, t: &mut dyn Transport) {
        // Write in 64 KiB pieces while the transport's buffer is short; the
        // rest waits for resume_writing.
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
        if !self.siblings.is_empty() {
            let Some(channels) = t.channels() else {
                self.seen.lock().unwrap().lost = Some(Reason::error(std::io::Error::other(
                    "no mux to open subchannels on",
                )));
                return t.abort();
            };
            for (i, p) in self.siblings.drain(..).enumerate() {
                if let Err(e) = channels.open_channel(p) {
                    tracing::error!(sibling = i, error = %e, "cannot open a subchannel");
                }
            }
        }
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
    fn connection_lost(&mut self, reason: Reason) {
        self.seen.lock().unwrap().lost = Some(reason);
    }
}

/// The server's app: the first line names the service, which then takes
/// over the connection (or subchannel) — a protocol choosing its successor,
/// the way STARTTLS does with a layer.
#[derive(Default)]
struct Dispatch {
    line: Vec<u8>,
    service: Option<Box<dyn Protocol + Send>>,
}

impl Protocol for Dispatch {
    fn data_received(&mut self, t: &mut dyn Transport, mut data: Bytes) {
        if self.service.is_none() {
            let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(&data);
                if self.line.len() > 64 {
                    t.abort(); // nobody names a service that long
                }
                return;
            };
            self.line.extend_from_slice(&data[..nl]);
            data = data.slice(nl + 1..);
            self.service = Some(match &self.line[..] {
                b"echo" => Box::new(Echo),
                b"hash" => Box::new(HashReply::default()),
                _ => return t.abort(),
            });
        }
        if let Some(s) = &mut self.service {
            if !data.is_empty() {
                s.data_received(t, data);
            }
        }
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        match &mut self.service {
            Some(s) => s.read_closed(t),
            None => t.close(),
        }
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        if let Some(s) = &mut self.service {
            s.pause_writing(t);
        }
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        if let Some(s) = &mut self.service {
            s.resume_writing(t);
        }
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
