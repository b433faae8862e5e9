//! # Lesson 1 — echo: a transport, a protocol, and the callbacks between them
//!
//! ```text
//! cargo run --example echo
//! ```
//!
//! Strata splits every network program in two:
//!
//! * a **transport** moves bytes (here: a TCP socket driven by
//!   `strata-tokio`); you never own one — it is *lent* to you, as
//!   `&mut dyn Transport`, for the length of each callback;
//! * a **protocol** makes sense of bytes: a plain struct implementing
//!   [`Protocol`], whose methods the transport calls when something happens.
//!
//! This program runs both ends of an echo service in one process: a server
//! that writes back whatever it receives, and a client that sends a few lines,
//! checks that exactly those bytes come back, and closes. The port is chosen
//! by the OS (`tcp:127.0.0.1:0`), so nothing on the machine can get in the
//! way. It exits non-zero if the echo is wrong.
//!
//! What to look for:
//!
//! * the server implements **one** method, `data_received`, and lives on the
//!   defaults for everything else — in particular the default `read_closed`,
//!   which closes our side when the peer has closed its own;
//! * the client reports its result from `connection_lost`, the one callback
//!   that is guaranteed to come, exactly once and last, however the
//!   connection ends;
//! * no callback blocks, and none calls back into the protocol: `t.write`
//!   only queues bytes, and `t.close` only *asks* for a close, which the
//!   transport carries out after the callback returns.

use std::time::Duration;

use strata::{Bytes, Protocol, Reason, Transport, TransportInfo};
use tokio::sync::oneshot;

/// Errors are reported, not handled, in an example: any error will do.
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The lines the client sends. Chunk boundaries mean nothing on a stream, so
/// the client checks the bytes that come back, not how they were cut.
pub const LINES: &[&str] = &[
    "hello, strata\n",
    "a transport moves bytes\n",
    "a protocol makes sense of them\n",
];

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// The echo server: one of these is made per accepted connection.
pub struct Echo;

impl Protocol for Echo {
    /// Optional (the default does nothing): the connection is up. The
    /// transport is already usable here — we could greet the peer with
    /// `t.write(..)` — and `t.info()` says who the peer is.
    fn connection_made(&mut self, t: &mut dyn Transport) {
        println!("server: connection from {}", t.info().peer);
    }

    /// The only required method. `data` is a `Bytes`: a cheap, reference
    /// counted slice of the driver's read buffer, so writing it straight
    /// back copies nothing.
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        t.write(data);
    }

    // `read_closed` is *not* implemented: the default calls `t.close()`.
    // When the client closes its sending side, we close ours too — after
    // the echo of everything received so far has been flushed, because
    // `close` always flushes first. A protocol that wants to keep talking
    // after the peer's end-of-stream overrides `read_closed` (lesson 3,
    // `half_close.rs`).
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// How the client's connection went, sent to `run` from `connection_lost`.
#[derive(Debug)]
pub struct EchoOutcome {
    /// Everything the server sent back.
    pub echoed: Vec<u8>,
    /// Why the connection ended; `Reason::Done` is a clean close.
    pub reason: Reason,
}

/// Sends [`LINES`], collects the echo, and closes once all of it is back.
pub struct EchoClient {
    expected: usize,
    echoed: Vec<u8>,
    /// Protocols are synchronous; this is how one hands a result to async
    /// code. It is an `Option` because `connection_lost` sends it once.
    report: Option<oneshot::Sender<EchoOutcome>>,
}

impl EchoClient {
    /// A client that reports through `report`.
    pub fn new(report: oneshot::Sender<EchoOutcome>) -> Self {
        EchoClient {
            expected: LINES.iter().map(|l| l.len()).sum(),
            echoed: Vec::new(),
            report: Some(report),
        }
    }
}

impl Protocol for EchoClient {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        // Three writes; they are queued and flushed together after this
        // callback returns (one vectored write), so the server may well
        // receive them as one chunk. Nothing on a stream keeps them apart.
        for line in LINES {
            t.write(Bytes::from_static(line.as_bytes()));
        }
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.echoed.extend_from_slice(&data);
        if self.echoed.len() >= self.expected {
            // Everything is back: close both directions. The server sees our
            // FIN as `read_closed`, whose default closes its side too.
            // Nothing happens inside this call: the close is carried out
            // after we return, and `connection_lost(Done)` follows.
            t.close();
        }
    }

    // No `read_closed` here either: if the server closed first (it should
    // not), the default would close our side and `connection_lost` would
    // report what we had, which `run` would find short.

    fn connection_lost(&mut self, reason: Reason) {
        // No transport here: the connection is over. Always exactly once.
        if let Some(report) = self.report.take() {
            let echoed = std::mem::take(&mut self.echoed);
            let _ = report.send(EchoOutcome { echoed, reason });
        }
    }
}

// ---------------------------------------------------------------------------
// Putting them on sockets
// ---------------------------------------------------------------------------

/// Run the server and the client, and check the echo.
pub async fn run() -> Result<()> {
    // Listen on an OS-chosen port. The closure is the *factory*: it makes one
    // protocol per accepted connection (it may look at the connection's
    // `TransportInfo` to decide). Each connection runs in its own tokio task
    // that owns the socket and the protocol; nothing is shared or locked.
    // Keep `listener` alive: dropping it stops the accepting (connections
    // already accepted go on).
    let listener = strata::rt::listen("tcp:127.0.0.1:0", |_: &TransportInfo| Echo).await?;
    let port = listener.port().ok_or("a TCP listener has a port")?;
    println!("server: listening on 127.0.0.1:{port}");

    // Connect a client protocol. `connect` returns a `Handle` (to post
    // writes or closes from other tasks, or await the end); this client
    // needs none of that, so it reports through its channel instead.
    let (report, outcome) = oneshot::channel();
    strata::rt::connect(&format!("tcp:127.0.0.1:{port}"), EchoClient::new(report)).await?;

    let EchoOutcome { echoed, reason } = outcome
        .await
        .map_err(|_| "the client ended without reporting")?;
    let sent: Vec<u8> = LINES.concat().into_bytes();
    print!("client: got back\n{}", String::from_utf8_lossy(&echoed));
    println!("client: connection ended: {reason}");
    if !reason.is_done() {
        return Err(format!("the connection did not end cleanly: {reason}").into());
    }
    if echoed != sent {
        return Err(format!(
            "the echo differs: sent {} bytes, got back {}",
            sent.len(),
            echoed.len()
        )
        .into());
    }
    println!("ok: {} bytes echoed intact", sent.len());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    // Every example bounds its own run time, so a bug shows up as an error,
    // not as a hang.
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .map_err(|_| "the example did not finish within 10 s")?
}
