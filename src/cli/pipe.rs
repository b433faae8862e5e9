//! `strata connect` and `strata listen` (without --echo): netcat over a stack.
//!
//! The stack's top is a [`StreamBridge`]: the connection becomes a tokio
//! stream, and stdin/stdout are copied to and from it. EOF on stdin is
//! `shutdown()` on the stream, which is `close_write()` on the stack — a
//! half-close that travels down through every layer — and reading goes on
//! until the peer closes its side too.

use strata::rt::Handle;
use strata::rt::{spawn_stream, Connected, StrataStream, StreamBridge};
use strata::{BoxProtocol, Bytes, Protocol, Role, Stack, Transport, TransportInfo};

/// Answers a connection it does not want with an immediate reset.
struct Refuse;
impl Protocol for Refuse {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.abort();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {}
}
use tokio::io::{AsyncWriteExt, BufWriter};

async fn wait_closed<P: 'static>(h: &Handle<P>) {
    h.closed().await;
}

/// Connect to `desc` and pipe stdin/stdout through it.
pub async fn connect(desc: &str) -> super::Result {
    let stack = Stack::parse(desc, Role::Client)?;
    let (bridge, end) = StreamBridge::new();
    let handle = stack.connect(Box::new(bridge)).await?;
    let stream = end.attach(&handle);
    pipe(stream, wait_closed(&handle)).await?;
    match handle.closed().await {
        r if r.is_done() => Ok(()),
        r => Err(r.to_string().into()),
    }
}

/// Listen on `desc`, accept one connection, and pipe stdin/stdout through it.
pub async fn listen_once(desc: &str) -> super::Result {
    let stack = Stack::parse(desc, Role::Server)?;
    let mut acceptor = stack.endpoint.bind().await?;
    eprintln!("strata: listening on {} ({stack})", acceptor.local_addr());
    for notice in stack.notices() {
        eprintln!("strata: {notice}");
    }
    let Connected { io, info } = acceptor.accept().await?;
    drop(acceptor);
    eprintln!("strata: connection from {}", info.peer);
    // The bridge is the app; above a mux it serves the first subchannel the
    // peer opens, and later ones are refused.
    let (bridge, end) = StreamBridge::new();
    let mut bridge: Option<BoxProtocol> = Some(Box::new(bridge));
    let app = stack.wrap_server(
        move |_: &TransportInfo| bridge.take().unwrap_or_else(|| Box::new(Refuse)),
        &info,
    );
    let handle = spawn_stream(io, app, info);
    let stream = end.attach(&handle);
    pipe(stream, wait_closed(&handle)).await?;
    match handle.closed().await {
        r if r.is_done() => Ok(()),
        r => Err(r.to_string().into()),
    }
}

/// Copy stdin to the stream (then half-close it) and the stream to stdout.
/// Returns once the peer's data has all reached stdout and either stdin is
/// exhausted or the connection has ended (`closed` resolved): a peer that
/// closes does not leave us waiting on a terminal forever.
async fn pipe(
    stream: StrataStream,
    closed: impl std::future::Future<Output = ()>,
) -> super::Result {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let up = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut wr).await?;
        wr.shutdown().await?; // close_write: the peer sees our end of stream
        Ok::<_, std::io::Error>(())
    });
    let mut stdout = BufWriter::new(tokio::io::stdout());
    let down = tokio::io::copy(&mut rd, &mut stdout).await;
    stdout.flush().await?;
    if let Err(e) = down {
        up.abort();
        return Err(e.into());
    }
    tokio::pin!(up);
    tokio::select! {
        r = &mut up => r??,
        () = closed => up.abort(),
    }
    Ok(())
}
