//! hyper (HTTP/1) serving and requesting over mux subchannels, each
//! subchannel a tokio stream through strata-tokio's bridge, many at once
//! over one TCP connection.
//!
//! * Server: the mux's inbound factory gives each subchannel a
//!   `StreamBridge` and spawns a task serving its `StrataStream` with
//!   hyper's `http1::Builder::serve_connection`.
//! * Client: subchannels opened from other tasks
//!   (`StrataStream::open(&handle, |p| remote.open(p))`) or as the mux's
//!   initial subchannel (`Mux::with_initial`), each carrying a hyper
//!   client connection (`http1::handshake`).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use strata_core::{BoxProtocol, TimerId, TransportInfo};
use strata_mux::{no_inbound, Config, Mux, Role};
use strata_tokio::testing::tcp_pair;
use strata_tokio::{Connection, Handle, StrataStream, StreamBridge};
use support::{attach_late, pattern, spawn_mux, within};
use tokio::io::AsyncReadExt;

/// What the server knows of a subchannel: its stream id, from the mux's
/// layer facts.
fn stream_id(info: &TransportInfo) -> String {
    info.layers
        .iter()
        .rev()
        .find(|l| l.name == "mux")
        .and_then(|l| l.facts.iter().find(|(k, _)| *k == "stream"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// `GET /hello/NAME` → `hello NAME`; `POST /echo` → the body; every answer
/// carries the subchannel's stream id in `x-stream`.
async fn handle(
    sid: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let body = if let Some(name) = path.strip_prefix("/hello/") {
        Bytes::from(format!("hello {name}"))
    } else if path == "/echo" {
        req.into_body().collect().await?.to_bytes()
    } else {
        Bytes::from_static(b"?")
    };
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut()
        .insert("x-stream", sid.parse().expect("a header value"));
    Ok(resp)
}

type Fire = Arc<OnceLock<Box<dyn Fn(TimerId) + Send + Sync>>>;

/// A mux server whose every subchannel is served by hyper in a task of its
/// own; returns the handle and a count of subchannels served to the end.
fn hyper_server(
    io: strata_tokio::AnyStream,
    info: TransportInfo,
) -> (Handle<Mux>, Arc<AtomicUsize>) {
    let fire: Fire = Arc::new(OnceLock::new());
    let served = Arc::new(AtomicUsize::new(0));
    let (f, done) = (fire.clone(), served.clone());
    let factory = move |info: &TransportInfo| {
        let sid = stream_id(info);
        let (bridge, end) = StreamBridge::new();
        // The stream wakes the connection task through its handle, known
        // once the connection is built: attached now, fired through `f`.
        let stream = attach_late(end, &f);
        let done = done.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(sid.clone(), req));
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
                .expect("hyper serves the subchannel");
            done.fetch_add(1, Ordering::SeqCst);
        });
        Some(Box::new(bridge) as BoxProtocol)
    };
    let mux = Mux::server(Config::default(), factory);
    let (conn, handle) = Connection::new(io, mux, info);
    let h = handle.clone();
    let _ = fire.set(Box::new(move |t| {
        let _ = h.fire_timer(t);
    }));
    tokio::spawn(conn);
    (handle, served)
}

/// A hyper client connection on `stream`; its connection task runs in the
/// background.
async fn hyper_client(
    stream: StrataStream,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        conn.await.expect("the client connection ends cleanly");
    });
    sender
}

async fn get(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: &str,
) -> (String, Bytes) {
    send(sender, Request::get(path).body(Full::default()).unwrap()).await
}

async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (String, Bytes) {
    sender
        .ready()
        .await
        .expect("the connection takes a request");
    let resp = sender.send_request(req).await.expect("a response");
    assert!(resp.status().is_success(), "{}", resp.status());
    let sid = resp.headers()["x-stream"].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (sid, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hyper_connections_on_subchannels_of_one_tcp_connection() {
    const CHANNELS: usize = 8;
    const REQUESTS: usize = 4;
    let (c, s) = tcp_pair().await;
    let (server, served) = hyper_server(s.io, s.info);
    let client = spawn_mux(c.io, c.info, Role::Client, Config::default());

    let mut tasks = Vec::new();
    for ch in 0..CHANNELS {
        let opener = client.opener();
        tasks.push(tokio::spawn(async move {
            // From this task: a new subchannel, as a tokio stream.
            let (stream, _events) = opener.open();
            let mut sender = hyper_client(stream).await;
            let mut sids = Vec::new();
            for r in 0..REQUESTS {
                let (sid, body) = get(&mut sender, &format!("/hello/{ch}-{r}")).await;
                assert_eq!(&body[..], format!("hello {ch}-{r}").as_bytes());
                sids.push(sid);
            }
            // A body spanning several windows, through hyper both ways.
            let big = Bytes::from(pattern(ch as u8, 600_000 + ch));
            let req = Request::post("/echo").body(Full::new(big.clone())).unwrap();
            let (sid, body) = send(&mut sender, req).await;
            assert!(body == big, "echo on channel {ch} differs");
            sids.push(sid);
            // Keep-alive: every request of a connection on one subchannel.
            sids.dedup();
            assert_eq!(sids.len(), 1, "{sids:?}");
            sids.pop().unwrap()
        }));
    }
    let mut sids = Vec::new();
    for t in tasks {
        sids.push(within("a client task", t).await.unwrap());
    }
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), CHANNELS, "one subchannel per hyper connection");
    // Each client connection ended (its sender dropped): hyper closed the
    // stream, and the server's hyper saw the end and finished.
    within("servers finish", async {
        while served.load(Ordering::SeqCst) < CHANNELS {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    // And the client's mux forgets them once the server's FINs are in.
    within("client streams end", async {
        while client
            .handle
            .call(|m: &mut Mux, _| m.streams())
            .await
            .unwrap()
            > 0
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(!server.is_closed(), "the connection stays up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_on_the_initial_subchannel_and_the_connection_closes_when_idle() {
    let (c, s) = tcp_pair().await;
    let (server, served) = hyper_server(s.io, s.info);
    // One app on subchannel 1; the mux ends the connection when it is done.
    let (bridge, end) = StreamBridge::new();
    let mux = Mux::client(Config::default().close_when_idle(true), no_inbound())
        .with_initial(Box::new(bridge));
    let client = strata_tokio::spawn_stream(c.io, mux, c.info);
    let stream = end.attach(&client);
    let mut sender = hyper_client(stream).await;
    let (sid, body) = get(&mut sender, "/hello/initial").await;
    assert_eq!((sid.as_str(), &body[..]), ("1", &b"hello initial"[..]));
    drop(sender);
    let reason = within("client connection end", client.closed()).await;
    assert!(reason.is_done(), "{reason}");
    let reason = within("server connection end", server.closed()).await;
    assert!(reason.is_done(), "{reason}");
    within("the server's hyper finishes", async {
        while served.load(Ordering::SeqCst) < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_open_fails_the_stream_instead_of_hanging() {
    let (c, s) = tcp_pair().await;
    let (_server, _) = hyper_server(s.io, s.info);
    let client = spawn_mux(c.io, c.info, Role::Client, Config::default().max_streams(1));
    let (first, _ev) = client.open();
    let mut sender = hyper_client(first).await;
    get(&mut sender, "/hello/one").await;
    // The mux allows one stream: it drops the second open's protocol
    // (with a warning), and the stream meant for it fails.
    let second = StrataStream::open(&client.handle, |p| client.remote.open(p)).unwrap();
    let r = within("read on a refused stream", async {
        let mut second = second;
        second.read(&mut [0u8; 1]).await
    })
    .await;
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::ConnectionAborted);
    // The first goes on.
    get(&mut sender, "/hello/two").await;
}
