//! # Lesson 2 — a line protocol: framing a byte stream yourself
//!
//! ```text
//! cargo run --example line_protocol
//! ```
//!
//! TCP delivers a stream of bytes, not messages. One `data_received` may
//! carry half a line, or five lines and the start of a sixth; the same bytes
//! sent again may be cut differently. A protocol that speaks in lines must
//! therefore *buffer*: keep the unfinished tail of one call and complete it
//! with the next. And because a peer controls how long a line gets, it must
//! also *bound* that buffer, or one endless line eats the server's memory.
//!
//! This lesson builds:
//!
//! * [`LineBuffer`] — the framing, written once and used by both ends: bytes
//!   in, complete lines out, with a maximum line length;
//! * [`KvServer`] — a tiny key-value server speaking in lines:
//!
//!   | request           | reply                        |
//!   |-------------------|------------------------------|
//!   | `SET key value`   | `OK`                         |
//!   | `GET key`         | `VALUE value` or `NOT_FOUND` |
//!   | `DEL key`         | `DELETED` or `NOT_FOUND`     |
//!   | `QUIT`            | `BYE`, then the server closes |
//!   | anything else     | `ERR ...` (the connection stays up) |
//!   | a line longer than [`MAX_LINE`] | `ERR line too long ...`, then the server closes |
//!
//! * [`KvClient`] — sends a script of requests, deliberately cut at awkward
//!   places (several requests in one write, one request split across two
//!   writes 20 ms apart, using a **timer**), then one over-long line, and
//!   collects the replies until the server closes.
//!
//! Both run in one process on an OS-chosen port; the program checks every
//! reply and exits non-zero on a mismatch.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use strata::core::BytesMut;
use strata::{Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use tokio::sync::oneshot;

/// Errors are reported, not handled, in an example: any error will do.
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The longest line the server accepts, without its line ending.
pub const MAX_LINE: usize = 1024;

// ---------------------------------------------------------------------------
// Framing: bytes in, lines out
// ---------------------------------------------------------------------------

/// A line was longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit that was exceeded.
    pub max: usize,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line too long (the limit is {} bytes)", self.max)
    }
}

impl std::error::Error for LineTooLong {}

/// Splits a byte stream into `\n`-terminated lines (a `\r` before the `\n`
/// is dropped too), holding at most `max` bytes of an unfinished line.
///
/// Push whatever `data_received` got, then take lines until there are none:
///
/// ```text
/// self.lines.push(&data);
/// while let Some(line) = self.lines.next_line()? { /* ... */ }
/// ```
#[derive(Debug)]
pub struct LineBuffer {
    buf: BytesMut,
    /// How far `buf` has been searched for `\n` already, so a long line
    /// arriving a byte at a time is not rescanned from its start each time.
    scanned: usize,
    max: usize,
}

impl LineBuffer {
    /// A buffer for lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineBuffer {
            buf: BytesMut::new(),
            scanned: 0,
            max,
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, without its line ending; `Ok(None)` if only
    /// part of a line is buffered. A line (finished or not) longer than the
    /// limit is an error: the stream cannot be resynchronised after it, so
    /// the caller should report it and close.
    pub fn next_line(&mut self) -> Result<Option<Bytes>, LineTooLong> {
        let too_long = LineTooLong { max: self.max };
        // Only look as far as a line may go: `max` bytes plus "\r\n".
        let window = self.buf.len().min(self.max + 2);
        let found = self.buf[self.scanned.min(window)..window]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + self.scanned.min(window));
        let Some(newline) = found else {
            if self.buf.len() > self.max + 1 {
                return Err(too_long);
            }
            self.scanned = self.buf.len();
            return Ok(None);
        };
        self.scanned = 0;
        // Take the line and its "\n" off the front; `split_to` hands out the
        // front of the buffer without copying.
        let mut line = self.buf.split_to(newline + 1);
        line.truncate(newline);
        if line.last() == Some(&b'\r') {
            line.truncate(newline - 1);
        }
        if line.len() > self.max {
            return Err(too_long);
        }
        Ok(Some(line.freeze()))
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// The key-value server. One per connection, with its own store: state that
/// should be shared between connections would be created once and handed to
/// each protocol by the factory (an `Arc<Mutex<..>>`, say).
pub struct KvServer {
    lines: LineBuffer,
    store: HashMap<String, String>,
}

impl KvServer {
    /// A server with an empty store.
    pub fn new() -> Self {
        KvServer {
            lines: LineBuffer::new(MAX_LINE),
            store: HashMap::new(),
        }
    }

    /// Answer one request. Returns `false` when the connection should close.
    fn handle(&mut self, t: &mut dyn Transport, line: &[u8]) -> bool {
        let line = String::from_utf8_lossy(line);
        let mut words = line.splitn(3, ' ');
        let reply = match (words.next(), words.next(), words.next()) {
            (Some("SET"), Some(k), Some(v)) => {
                self.store.insert(k.to_string(), v.to_string());
                "OK".to_string()
            }
            (Some("GET"), Some(k), None) => match self.store.get(k) {
                Some(v) => format!("VALUE {v}"),
                None => "NOT_FOUND".to_string(),
            },
            (Some("DEL"), Some(k), None) => match self.store.remove(k) {
                Some(_) => "DELETED".to_string(),
                None => "NOT_FOUND".to_string(),
            },
            (Some("QUIT"), None, None) => {
                t.write_slice(b"BYE\n");
                return false;
            }
            (Some(cmd @ ("SET" | "GET" | "DEL")), ..) => {
                format!("ERR wrong number of arguments for {cmd}")
            }
            (Some(cmd), ..) => format!("ERR unknown command {cmd:?}"),
            (None, ..) => unreachable!("splitn yields at least one item"),
        };
        t.write(Bytes::from(reply + "\n"));
        true
    }
}

impl Default for KvServer {
    fn default() -> Self {
        Self::new()
    }
}

impl Protocol for KvServer {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.lines.push(&data);
        // Handle *every* complete line this call brought, not just the first:
        // no further call is coming for bytes that already arrived.
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    if !self.handle(t, &line) {
                        t.close();
                        return;
                    }
                }
                // The rest is an unfinished line: keep it for the next call.
                Ok(None) => return,
                Err(e) => {
                    // Say why, then close. `close` flushes what we wrote
                    // first, so the peer does get the error line.
                    t.write(Bytes::from(format!("ERR {e}\n")));
                    t.close();
                    // We must stop here ourselves: `close` takes effect after
                    // this callback, and bytes already buffered are ours to
                    // ignore. (The transport then discards anything that
                    // still arrives; no `data_received` follows a `close`.)
                    return;
                }
            }
        }
    }

    // `read_closed`: the default `close()` is right. A client that is done
    // sends its FIN; we have already answered everything it sent.
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// Requests sent at once, in a single write, and the replies they expect.
pub const SCRIPT: &[(&str, &str)] = &[
    ("SET greeting hello", "OK"),
    ("SET answer 42", "OK"),
    ("GET answer", "VALUE 42"),
    ("DEL answer", "DELETED"),
    ("GET answer", "NOT_FOUND"),
    ("DEL answer", "NOT_FOUND"),
    ("FLY me to the moon", "ERR unknown command \"FLY\""),
    ("GET", "ERR wrong number of arguments for GET"),
];

/// A request sent in two pieces, 20 ms apart, and its reply.
pub const SPLIT: (&str, &str, &str) = ("GET gree", "ting", "VALUE hello");

/// The reply to the over-long line, after which the server closes.
pub fn too_long_reply() -> String {
    format!("ERR {}", LineTooLong { max: MAX_LINE })
}

/// Every reply the client should get, in order.
pub fn expected_replies() -> Vec<String> {
    let mut v: Vec<String> = SCRIPT.iter().map(|(_, r)| r.to_string()).collect();
    v.push(SPLIT.2.to_string());
    v.push(too_long_reply());
    v
}

/// How the client's connection went.
#[derive(Debug)]
pub struct KvOutcome {
    /// The reply lines, in order.
    pub replies: Vec<String>,
    /// Why the connection ended.
    pub reason: Reason,
}

/// Sends the script and collects the replies until the server closes.
pub struct KvClient {
    lines: LineBuffer,
    replies: Vec<String>,
    timer: Option<TimerId>,
    report: Option<oneshot::Sender<KvOutcome>>,
}

impl KvClient {
    /// A client that reports through `report`.
    pub fn new(report: oneshot::Sender<KvOutcome>) -> Self {
        KvClient {
            // Replies are short; the client bounds its buffer all the same.
            lines: LineBuffer::new(MAX_LINE),
            replies: Vec::new(),
            timer: None,
            report: Some(report),
        }
    }
}

impl Protocol for KvClient {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        // The whole script, plus the start of one more request, in one write:
        // the server gets several lines and a partial one in one call.
        let mut batch = String::new();
        for (request, _) in SCRIPT {
            println!("> {request}");
            batch.push_str(request);
            batch.push('\n');
        }
        batch.push_str(SPLIT.0);
        t.write(Bytes::from(batch));
        // The rest of that request goes later. Timers are set through the
        // transport and come back as `timer_fired` — through every layer of
        // a stack, on tokio time here and on a virtual clock under test.
        self.timer = Some(t.set_timer_after(Duration::from_millis(20)));
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if Some(timer) != self.timer {
            return; // not ours (a layer below could share the id space)
        }
        println!("> {}{}  (sent in two pieces)", SPLIT.0, SPLIT.1);
        t.write(Bytes::from(format!("{}\n", SPLIT.1)));
        // Now a line the server must refuse, and one more request it must
        // never answer, because it closes after the refusal.
        println!("> SET big xxx...  ({} bytes)", MAX_LINE + 100);
        let big = format!("SET big {}\n", "x".repeat(MAX_LINE + 92));
        t.write(Bytes::from(big));
        t.write_slice(b"GET greeting\n");
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.lines.push(&data);
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    let reply = String::from_utf8_lossy(&line).into_owned();
                    println!("< {reply}");
                    self.replies.push(reply);
                }
                Ok(None) => return,
                Err(e) => {
                    eprintln!("client: the server sent a {e}");
                    t.abort();
                    return;
                }
            }
        }
    }

    // `read_closed`: the server closed after refusing the long line; the
    // default closes our side too, and `connection_lost(Done)` follows.

    fn connection_lost(&mut self, reason: Reason) {
        if let Some(report) = self.report.take() {
            let replies = std::mem::take(&mut self.replies);
            let _ = report.send(KvOutcome { replies, reason });
        }
    }
}

// ---------------------------------------------------------------------------
// Putting them on sockets
// ---------------------------------------------------------------------------

/// Run the server and the client, and check every reply.
pub async fn run() -> Result<()> {
    let listener =
        strata::rt::listen("tcp:127.0.0.1:0", |_: &TransportInfo| KvServer::new()).await?;
    let port = listener.port().ok_or("a TCP listener has a port")?;

    let (report, outcome) = oneshot::channel();
    strata::rt::connect(&format!("tcp:127.0.0.1:{port}"), KvClient::new(report)).await?;
    let KvOutcome { replies, reason } = outcome
        .await
        .map_err(|_| "the client ended without reporting")?;
    println!("client: connection ended: {reason}");

    let expected = expected_replies();
    if replies != expected {
        return Err(format!(
            "the replies differ:\n  expected {expected:?}\n  got      {replies:?}"
        )
        .into());
    }
    if !reason.is_done() {
        return Err(format!("the connection did not end cleanly: {reason}").into());
    }
    println!("ok: {} replies as expected", replies.len());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .map_err(|_| "the example did not finish within 10 s")?
}
