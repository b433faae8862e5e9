//! # Lesson — STARTTLS: putting TLS under a live protocol
//!
//! ```text
//! cargo run --example starttls
//! ```
//!
//! Some protocols (SMTP, IMAP, XMPP, PostgreSQL) start in plaintext and
//! switch to TLS mid-connection when both ends agree. In Strata the switch
//! is a *layer insertion*: the protocol asks its transport to put a TLS
//! layer **under itself**, on the live connection, and keeps running on top
//! of it — the same object, with the same state, now talking through TLS.
//!
//! ```text
//!   before                      after STARTTLS
//!   ──────                      ──────────────
//!   LineServer                  LineServer           (same object, no second connection_made)
//!       │                           │
//!   Upgradable                  Tls<Box<dyn Protocol>>  (inserted by the upgrade)
//!       │                       Upgradable
//!   TCP                         TCP
//! ```
//!
//! The conversation:
//!
//! ```text
//!   client                              server
//!   HELLO            ─────────────>     (plaintext)
//!                    <─────────────     OK plaintext hello
//!   STARTTLS         ─────────────>     OK go ahead, then TLS goes under the server
//!   (TLS goes under the client)
//!   ClientHello ...  <============>     ... handshake ...
//!   SECRET one       ═════════════>     (over TLS)
//!   SECRET two, then close_notify ═>
//!                    <═════════════     GOT SECRET one (TLSv1_3 ...)
//!                    <═════════════     GOT SECRET two (...), then close_notify
//! ```
//!
//! Three things to learn here:
//!
//! 1. **Nothing is lost or read twice.** The bytes of the client's
//!    ClientHello may arrive in the *same read* as the `STARTTLS` line. The
//!    server hands whatever followed the line to the upgrade
//!    (`unconsumed`), and the new TLS layer reads them first.
//! 2. **The switch happens when the callback returns.** Anything written in
//!    the callback that asks for the upgrade still goes out in plaintext —
//!    which is exactly what the server's `OK go ahead` needs. To speak over
//!    TLS at once, the client sets a zero-length timer: the timer fires on
//!    the new stack, and its writes are held until the handshake completes.
//! 3. **The same description words configure it.** The server makes a
//!    self-signed certificate from `tls:self-signed`; the client pins it with
//!    `tls:pin=<fingerprint>`, as `strata connect` would.

use std::time::Duration;

use strata::core::{Segment, Upgradable};
use strata::{Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use strata_tls::{from_segment, Side, TlsLayer};
use tokio::sync::oneshot;

/// Errors are reported, not handled, in an example: any error will do.
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The longest line either side accepts.
const MAX_LINE: usize = 1024;

/// Split complete lines off the front of `buf`. A real protocol bounds the
/// buffer: a peer that never sends a newline must not eat all memory.
fn take_lines(buf: &mut Vec<u8>) -> std::result::Result<Vec<String>, &'static str> {
    let mut lines = Vec::new();
    while let Some(i) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        lines.push(String::from_utf8_lossy(&line[..i]).trim_end().to_string());
    }
    if buf.len() > MAX_LINE {
        return Err("line too long");
    }
    Ok(lines)
}

/// A short description of the TLS under `t`, or `plaintext`.
fn security(t: &dyn Transport) -> String {
    match t.info().layer("tls") {
        Some(tls) => format!(
            "{} {}",
            tls.fact("version").unwrap_or("?"),
            tls.fact("cipher").unwrap_or("?")
        ),
        None => "plaintext".to_string(),
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// Answers lines; on `STARTTLS` says `OK go ahead` and puts TLS under itself.
pub struct LineServer {
    tls: TlsLayer,
    buf: Vec<u8>,
}

impl Protocol for LineServer {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.buf.extend_from_slice(&data);
        let lines = match take_lines_until_starttls(&mut self.buf) {
            Ok(l) => l,
            Err(e) => {
                t.write(Bytes::from(format!("ERR {e}\n")));
                return t.close();
            }
        };
        for line in lines {
            match line.as_str() {
                "HELLO" => t.write_slice(b"OK plaintext hello\n"),
                "STARTTLS" => {
                    // Still plaintext: the switch happens after we return.
                    t.write_slice(b"OK go ahead\n");
                    // Whatever followed STARTTLS in this read is the start
                    // of the client's ClientHello: hand it to TLS, unread.
                    let unconsumed = Bytes::from(std::mem::take(&mut self.buf));
                    if let Err(e) = t.upgrade(self.tls.upgrade(unconsumed)) {
                        eprintln!("server: cannot start TLS: {e}");
                        t.close();
                    }
                    return;
                }
                secret => {
                    let reply = format!("GOT {secret} ({})\n", security(t));
                    t.write(Bytes::from(reply));
                }
            }
        }
    }

    /// The client's close_notify: we answered everything, so end our side
    /// too — with our own close_notify (half-close through TLS).
    fn read_closed(&mut self, t: &mut dyn Transport) {
        t.close_write();
    }

    fn connection_lost(&mut self, reason: Reason) {
        println!("server: connection over ({reason})");
    }
}

/// Like [`take_lines`], but stops right after a `STARTTLS` line: the bytes
/// after it are not plaintext lines and must stay in the buffer.
fn take_lines_until_starttls(buf: &mut Vec<u8>) -> std::result::Result<Vec<String>, &'static str> {
    let mut lines = Vec::new();
    while let Some(i) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        let line = String::from_utf8_lossy(&line[..i]).trim_end().to_string();
        let stop = line == "STARTTLS";
        lines.push(line);
        if stop {
            return Ok(lines);
        }
    }
    if buf.len() > MAX_LINE {
        return Err("line too long");
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// What the client saw: each reply with the security it arrived under.
pub type Transcript = Vec<(String, String)>;

/// Says HELLO, asks for STARTTLS, then sends its secrets over TLS.
pub struct LineClient {
    tls: TlsLayer,
    secrets: Vec<String>,
    buf: Vec<u8>,
    seen: Transcript,
    done: Option<oneshot::Sender<(Transcript, Reason)>>,
}

impl Protocol for LineClient {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write_slice(b"HELLO\nSTARTTLS\n");
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.buf.extend_from_slice(&data);
        let Ok(lines) = take_lines(&mut self.buf) else {
            return t.abort();
        };
        for line in lines {
            self.seen.push((line.clone(), security(t)));
            if line == "OK go ahead" {
                // Bytes after the OK line (none in this protocol, since the
                // server waits for our ClientHello) would belong to TLS.
                let unconsumed = Bytes::from(std::mem::take(&mut self.buf));
                if let Err(e) = t.upgrade(self.tls.upgrade(unconsumed)) {
                    eprintln!("client: cannot start TLS: {e}");
                    return t.close();
                }
                // Writes now would still be plaintext: speak again from the
                // next callback, which runs on top of TLS.
                t.set_timer_after(Duration::ZERO);
                return;
            }
        }
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, _timer: TimerId) {
        // Now on top of TLS (the handshake may still be running: these
        // writes wait in the TLS layer until it completes).
        for s in &self.secrets {
            t.write(Bytes::from(format!("SECRET {s}\n")));
        }
        // close_notify: we are done sending; replies keep coming.
        t.close_write();
    }

    /// The server's close_notify: a clean end of its replies.
    fn read_closed(&mut self, _t: &mut dyn Transport) {}

    fn connection_lost(&mut self, reason: Reason) {
        if let Some(done) = self.done.take() {
            let _ = done.send((std::mem::take(&mut self.seen), reason));
        }
    }
}

// ---------------------------------------------------------------------------
// Putting it together over real TCP
// ---------------------------------------------------------------------------

/// Run a server and a client on 127.0.0.1 and check the conversation.
pub async fn run() -> Result<()> {
    // The server's TLS: a certificate made now, printed as a fingerprint.
    let server_tls = from_segment(&Segment::parse("tls:self-signed")?, Side::Server, None)?;
    let fingerprint = server_tls
        .fingerprint()
        .ok_or("self-signed makes a certificate")?
        .to_string();
    println!("server: self-signed certificate, sha256 {fingerprint}");

    // Each connection gets a LineServer inside an Upgradable, the owner
    // that can slide a layer under it later.
    let tls = server_tls.layer.clone();
    let listener = strata::rt::listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
        Upgradable::new(Box::new(LineServer {
            tls: tls.clone(),
            buf: Vec::new(),
        }))
    })
    .await?;
    let port = listener.port().ok_or("a TCP listener has a port")?;

    // The client pins the server's certificate: `tls:pin=...`.
    let pin = Segment::parse(&format!("tls:pin={fingerprint}"))?;
    let client_tls = from_segment(&pin, Side::Client, None)?.layer;
    let (tx, rx) = oneshot::channel();
    let client = LineClient {
        tls: client_tls,
        secrets: vec!["one".into(), "two".into()],
        buf: Vec::new(),
        seen: Vec::new(),
        done: Some(tx),
    };
    strata::rt::connect(
        &format!("tcp:127.0.0.1:{port}"),
        Upgradable::new(Box::new(client)),
    )
    .await?;

    let (seen, reason) = rx.await?;
    for (line, security) in &seen {
        println!("client: {line:<45} [{security}]");
    }
    println!("client: connection over ({reason})");
    if !reason.is_done() {
        return Err(format!("the connection did not end cleanly: {reason}").into());
    }
    let want = [
        "OK plaintext hello",
        "OK go ahead",
        "GOT SECRET one",
        "GOT SECRET two",
    ];
    let got: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    if got.len() != want.len() || !got.iter().zip(want).all(|(g, w)| g.starts_with(w)) {
        return Err(format!("unexpected replies: {got:?}").into());
    }
    if seen[0].1 != "plaintext" || !seen[2].1.starts_with("TLSv1_3") {
        return Err(format!("wrong security: {seen:?}").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    run().await
}
