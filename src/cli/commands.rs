//! `strata serve-commands` and `strata call`: the framed command protocol
//! of `strata-frames` over any stack.
//!
//! The server is the frame layer under a `CommandServer` — the server
//! reactor carried out on the connection's task — with three built-in
//! commands. The client shows the other way to use a reactor: a tokio task
//! drives a `ClientReactor` over the stack as a stream (the bridge), reading
//! the command data from stdin as it comes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use bytes::BytesMut;
use sha2::{Digest, Sha256};
use strata::rt::StreamBridge;
use strata::{BoxProtocol, Bytes, Role, Stack, TransportInfo};
use strata_frames::{
    duplex_name, ClientAction, ClientReactor, Command, CommandServer, Decoder, Duplex, ErrorKind,
    Frame, Framed, Handler, Reply, MAX_FRAME_LIMIT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The names the built-in server answers to.
pub const COMMANDS: &str = "echo, hash, lookup";

/// The built-in commands:
///
/// * `echo` streams its data back as it arrives (without data: its
///   arguments, one `key=value` a line);
/// * `hash` answers the SHA-256 of its data, in hex, and a newline;
/// * `lookup key=NAME` answers the value of NAME in the server's table
///   (`server`, `version`, `duplex`, `peer`, and what `--set` added), or
///   fails with an application error.
pub struct Builtins {
    table: Arc<BTreeMap<String, String>>,
    peer: String,
    current: Current,
}

enum Current {
    Nothing,
    Echo,
    Hash(Box<Sha256>),
}

impl Builtins {
    /// The commands, answering lookups from `table` (plus `peer`).
    pub fn new(table: Arc<BTreeMap<String, String>>, info: &TransportInfo) -> Builtins {
        Builtins {
            table,
            peer: info.peer.to_string(),
            current: Current::Nothing,
        }
    }
}

impl Handler for Builtins {
    fn command(&mut self, cmd: &Command, reply: &mut Reply<'_>) {
        self.current = Current::Nothing;
        match &cmd.name[..] {
            b"echo" if cmd.has_data => self.current = Current::Echo,
            b"echo" => {
                let mut out = Vec::new();
                for (k, v) in &cmd.args {
                    out.extend_from_slice(k);
                    out.push(b'=');
                    out.extend_from_slice(v);
                    out.push(b'\n');
                }
                reply.finish(Bytes::from(out));
            }
            b"hash" if cmd.has_data => self.current = Current::Hash(Box::default()),
            b"hash" => reply.finish(hex_line(Sha256::digest(b"").as_slice())),
            b"lookup" => {
                let Some(key) = cmd.arg("key") else {
                    return reply.fail("lookup needs an argument key=NAME");
                };
                let key = String::from_utf8_lossy(key);
                let value = match &*key {
                    "peer" => Some(self.peer.clone()),
                    k => self.table.get(k).cloned(),
                };
                match value {
                    Some(v) => reply.finish(Bytes::from(format!("{v}\n"))),
                    None => reply.fail(&format!(
                        "no such key \"{key}\" (known: peer, {})",
                        self.table.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            other => reply.fail(&format!(
                "unknown command \"{}\" (known: {COMMANDS})",
                String::from_utf8_lossy(other)
            )),
        }
    }

    fn data(&mut self, data: Bytes, eos: bool, reply: &mut Reply<'_>) {
        match &mut self.current {
            Current::Echo if eos => reply.finish(data),
            Current::Echo => reply.send(data),
            Current::Hash(h) => {
                h.update(&data);
                if eos {
                    let digest = std::mem::take(h).finalize();
                    reply.finish(hex_line(digest.as_slice()));
                }
            }
            Current::Nothing => {}
        }
    }
}

fn hex_line(digest: &[u8]) -> Bytes {
    let mut s = String::with_capacity(digest.len() * 2 + 1);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('\n');
    Bytes::from(s)
}

/// The lookup table: built-in facts plus `KEY=VALUE` settings.
pub fn table(duplex: Duplex, settings: &[String]) -> super::Result<BTreeMap<String, String>> {
    let mut t = BTreeMap::new();
    t.insert("server".to_string(), "strata serve-commands".to_string());
    t.insert("version".to_string(), env!("CARGO_PKG_VERSION").to_string());
    t.insert("duplex".to_string(), duplex_name(duplex).to_string());
    for s in settings {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--set {s:?}: expected KEY=VALUE"))?;
        t.insert(k.to_string(), v.to_string());
    }
    Ok(t)
}

/// The protocol of one server connection (or subchannel).
pub fn server_protocol(
    duplex: Duplex,
    table: Arc<BTreeMap<String, String>>,
    info: &TransportInfo,
) -> BoxProtocol {
    Box::new(Framed::new(CommandServer::new(
        duplex,
        Builtins::new(table, info),
    )))
}

/// Serve the built-in commands on every connection to `desc` until killed.
pub async fn serve(desc: &str, half_duplex: bool, settings: &[String]) -> super::Result {
    let duplex = if half_duplex {
        Duplex::Half
    } else {
        Duplex::Full
    };
    let stack = Stack::parse(desc, Role::Server)?;
    let table = Arc::new(table(duplex, settings)?);
    let listener = stack
        .listen(move |info: &TransportInfo| server_protocol(duplex, table.clone(), info))
        .await?;
    eprintln!(
        "strata: serving commands on {} ({stack}, {}; commands: {COMMANDS})",
        listener.local_addr(),
        duplex_name(duplex)
    );
    for notice in stack.notices() {
        eprintln!("strata: {notice}");
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// `KEY=VALUE` arguments as frame arguments.
fn parse_args(args: &[String]) -> super::Result<Vec<(Bytes, Bytes)>> {
    args.iter()
        .map(|a| {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| format!("argument {a:?}: expected KEY=VALUE"))?;
            Ok((Bytes::from(k.to_string()), Bytes::from(v.to_string())))
        })
        .collect()
}

fn encode(frames: Vec<Frame>) -> BytesMut {
    let mut b = BytesMut::new();
    for f in frames {
        f.encode_into(&mut b);
    }
    b
}

/// Call `name` with `args` on the command server at `desc`, sending stdin
/// as the command data (unless `no_data`, or stdin is a terminal), and
/// write the response to stdout.
pub async fn call(desc: &str, name: &str, args: &[String], no_data: bool) -> super::Result {
    let args = parse_args(args)?;
    let with_data = !no_data && !std::io::stdin().is_terminal();
    let stack = Stack::parse(desc, Role::Client)?;
    let mut client = ClientReactor::default();
    let (frames, sender) = client.command(name.as_bytes(), &args, with_data)?;

    let (bridge, end) = StreamBridge::new();
    let handle = stack.connect(Box::new(bridge)).await?;
    let stream = end.attach(&handle);
    let (mut rd, mut wr) = tokio::io::split(stream);

    // Requests out: the command, then stdin as data frames as it comes,
    // then a half-close (a half-duplex server answers only after it).
    let writer = tokio::spawn(async move {
        wr.write_all(&encode(frames)).await?;
        if let Some(mut sender) = sender {
            let mut stdin = tokio::io::stdin();
            let mut buf = BytesMut::with_capacity(64 * 1024);
            loop {
                buf.reserve(64 * 1024);
                let n = stdin.read_buf(&mut buf).await?;
                let piece = buf.split().freeze();
                wr.write_all(&encode(sender.frames(piece, n == 0))).await?;
                if n == 0 {
                    break;
                }
            }
        }
        wr.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });

    // Responses in: frames through the reactor, data to stdout as it comes.
    let mut stdout = tokio::io::BufWriter::new(tokio::io::stdout());
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut failure: Option<String> = None;
    'read: loop {
        loop {
            match Decoder::decode(&mut buf, MAX_FRAME_LIMIT) {
                Ok(Some(frame)) => match client.on_frame(frame) {
                    ClientAction::Response { data, .. } => stdout.write_all(&data).await?,
                    ClientAction::Failed(e) => {
                        failure.get_or_insert(match e.kind {
                            ErrorKind::Application => format!("server: {}", e.message),
                            ErrorKind::Protocol => {
                                format!("server (protocol error): {}", e.message)
                            }
                        });
                    }
                    ClientAction::Error(e) => {
                        failure.get_or_insert(format!("the server broke the protocol: {e}"));
                        break 'read;
                    }
                    ClientAction::Noop => {}
                },
                Ok(None) => break,
                Err(e) => {
                    failure.get_or_insert(format!("the server sent bad frames: {e}"));
                    break 'read;
                }
            }
        }
        if rd.read_buf(&mut buf).await? == 0 {
            if !buf.is_empty() {
                failure.get_or_insert("the server's output ended inside a frame".to_string());
            } else if let Some(e) = client.on_input_eof() {
                failure.get_or_insert(e.to_string());
            }
            break;
        }
    }
    stdout.flush().await?;
    drop(rd);
    if failure.is_none() {
        writer.await??;
    } else {
        writer.abort();
    }
    let reason = handle.closed().await;
    if let Some(f) = failure {
        return Err(f.into());
    }
    if !reason.is_done() {
        return Err(reason.to_string().into());
    }
    Ok(())
}

/// The tour's step: its one-sentence introduction.
pub const TOUR_INTRO: &str = "7. Frames and commands: a frame layer (Mercurial's format) turns the TLS stream into frames, and a sans-IO reactor serves commands on it — half-duplex here, so every answer waits for the client's half-close.";

/// The tour's step: a half-duplex command server over TLS, a client making
/// two calls; prints every frame both ways and checks the answers and
/// their order.
pub async fn tour_step() -> super::Result {
    use std::time::Duration;
    use strata_frames::{human, Call, Caller, Event, HalfClose};

    let server = Stack::parse("tcp:127.0.0.1:0+tls:self-signed", Role::Server)?;
    let table = Arc::new(table(Duplex::Half, &[])?);
    let listener = server
        .listen(move |info: &TransportInfo| server_protocol(Duplex::Half, table.clone(), info))
        .await?;
    let pin = server
        .layers
        .iter()
        .find_map(|l| match l {
            strata::Layer::Tls(c) => c.fingerprint().map(str::to_string),
            _ => None,
        })
        .unwrap_or_default();
    let desc = format!(
        "tcp:127.0.0.1:{}+tls:pin={pin}",
        listener.port().unwrap_or(0)
    );
    println!("   server: tcp:127.0.0.1:0+tls:self-signed, frames, command server (half-duplex)");
    println!("   client: {desc}, frames, two calls");

    let data: &[u8] = b"hello, frames\n";
    let calls = vec![
        Call::new("lookup").arg("key", "duplex"),
        Call::new("hash").data(Bytes::from_static(data)),
    ];
    let (tx, rx) = tokio::sync::oneshot::channel();
    let caller = Caller::new(calls, HalfClose::AfterSending)
        .recording()
        .on_done(move |o| {
            let _ = tx.send(o);
        });
    let stack = Stack::parse(&desc, Role::Client)?;
    let handle = stack.connect(Box::new(Framed::new(caller))).await?;
    let out = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .map_err(|_| "the exchange did not finish within 20 s")?
        .map_err(|_| "the client vanished")?;
    let reason = handle.closed().await;

    println!("   the frames, as `strata frames decode` prints them:");
    for e in &out.log {
        let line = match e {
            Event::Sent(f) => format!("client → {}", human::format(f)),
            Event::Received(f) => format!("server → {}", human::format(f)),
            Event::HalfClosed => "client half-closes (the server may answer now)".to_string(),
            Event::ReadClosed => "server closes".to_string(),
        };
        println!("     {line}");
    }
    if !reason.is_done() {
        return Err(format!("the connection ended with: {reason}").into());
    }
    if let Some(e) = &out.error {
        return Err(e.clone().into());
    }
    let closed = out.log.iter().position(|e| *e == Event::HalfClosed);
    let first = out.log.iter().position(|e| matches!(e, Event::Received(_)));
    if closed.is_none() || first < closed {
        return Err("an answer arrived before the client's half-close".into());
    }
    let want = [
        "half-duplex\n".to_string(),
        String::from_utf8_lossy(&hex_line(Sha256::digest(data).as_slice())).into_owned(),
    ];
    let got: Vec<String> = out
        .answers
        .iter()
        .map(|a| match a {
            Ok(b) => String::from_utf8_lossy(b).into_owned(),
            Err(e) => e.to_string(),
        })
        .collect();
    if got != want {
        return Err(format!("expected answers {want:?}, got {got:?}").into());
    }
    println!(
        "   answers: lookup key=duplex -> {}, hash -> the SHA-256 of {:?}",
        got[0].trim(),
        String::from_utf8_lossy(data)
    );
    Ok(())
}
