//! The stream driver over TCP, against plain tokio peers and against itself.

mod common;

use std::time::{Duration, Instant};

use common::{pattern, within, Collect, Echo};
use strata_core::{Bytes, Protocol, Reason, TimerId, Transport, TransportInfo};
use strata_tokio::{connect, listen, spawn_stream, BoxProtocol, Gone, Handle, Listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo_server() -> (Listener, String) {
    let l = listen("tcp:127.0.0.1:0", |_: &TransportInfo| Echo)
        .await
        .unwrap();
    let addr = format!("127.0.0.1:{}", l.port().unwrap());
    (l, addr)
}

#[tokio::test]
async fn echo_against_a_plain_tokio_client() {
    let (_l, addr) = echo_server().await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let data = pattern(1 << 20);
    let (mut r, mut w) = s.split();
    let d = data.clone();
    let (got, _) = within("echo", async {
        tokio::join!(
            async {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            },
            async {
                w.write_all(&d).await.unwrap();
                w.shutdown().await.unwrap();
            }
        )
    })
    .await;
    assert_eq!(got, data);
}

#[tokio::test]
async fn echo_strata_to_strata_and_info() {
    let (_l, addr) = echo_server().await;
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write_slice(b"hello");
        t.close_write();
    });
    let h = connect(&format!("tcp:{addr}"), c).await.unwrap();
    let info = h.call(|_, t| t.info()).await.unwrap();
    assert_eq!(info.layer_names(), ["tcp"]);
    assert_eq!(info.peer.to_string(), addr);
    assert!(within("closed", h.closed()).await.is_done());
    let s = seen.lock().unwrap();
    assert_eq!(s.data, b"hello");
    assert_eq!(
        s.events,
        ["made", "write_closed", "read_closed", "lost:done"]
    );
}

/// Our half-close: the plain peer reads our data and EOF, then answers; we
/// get the answer and its EOF.
#[tokio::test]
async fn half_close_ours_then_peer_answers() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(b"answer to ").await.unwrap();
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write_slice(b"question");
        t.close_write();
    });
    let h = connect(&format!("tcp:{addr}"), c).await.unwrap();
    assert!(within("closed", h.closed()).await.is_done());
    peer.await.unwrap();
    let s = seen.lock().unwrap();
    assert_eq!(s.data, b"answer to question");
    assert_eq!(
        s.events,
        ["made", "write_closed", "read_closed", "lost:done"]
    );
}

/// The peer's half-close: we see read_closed, keep writing, then half-close
/// ourselves; the plain peer reads all of it.
#[tokio::test]
async fn half_close_peers_then_we_answer() {
    let (c, seen) = Collect::new();
    let server = c.on_read_closed(|t| {
        t.write_slice(b"late reply");
        t.close_write();
    });
    let mut server = Some(server);
    let l = listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
        server.take().unwrap()
    })
    .await
    .unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", l.port().unwrap()))
        .await
        .unwrap();
    s.write_all(b"request").await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    within("read", s.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"late reply");
    within("server lost", async {
        while seen.lock().unwrap().lost.is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let s = seen.lock().unwrap();
    assert_eq!(s.data, b"request");
    assert_eq!(
        s.events,
        ["made", "read_closed", "write_closed", "lost:done"]
    );
}

#[tokio::test]
async fn abort_resets_the_peer() {
    // Strata peer: sees Reason::Reset.
    let (c, seen) = Collect::new();
    let mut c = Some(c);
    let l = listen("tcp:127.0.0.1:0", move |_: &TransportInfo| {
        c.take().unwrap()
    })
    .await
    .unwrap();
    let h = connect(&format!("tcp:127.0.0.1:{}", l.port().unwrap()), Echo)
        .await
        .unwrap();
    h.write(Bytes::from_static(b"some bytes")).unwrap();
    within("data", async {
        while seen.lock().unwrap().data.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    h.abort().unwrap();
    assert_eq!(within("closed", h.closed()).await.kind(), "aborted");
    within("peer lost", async {
        while seen.lock().unwrap().lost.is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(seen.lock().unwrap().lost.as_deref(), Some("reset"));

    // Plain peer: its read fails with ECONNRESET.
    let pl = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = pl.local_addr().unwrap();
    let h = connect(&format!("tcp:{addr}"), Echo).await.unwrap();
    let (mut s, _) = pl.accept().await.unwrap();
    h.abort().unwrap();
    let mut buf = [0u8; 16];
    let err = within("read", s.read(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

/// A protocol that pauses reading in connection_made: the peer's writes
/// stall (flow control reaches it), nothing is delivered until resume,
/// then everything is.
#[tokio::test]
async fn pause_reading_stops_reading() {
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| t.pause_reading());
    let pl = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = pl.local_addr().unwrap();
    let h = connect(&format!("tcp:{addr}"), c).await.unwrap();
    let (mut s, _) = pl.accept().await.unwrap();
    let data = pattern(64 << 20);
    let mut written = 0;
    // Write until the kernel buffers on both sides are full.
    loop {
        match tokio::time::timeout(Duration::from_millis(300), s.write(&data[written..])).await {
            Ok(Ok(n)) => written += n,
            Ok(Err(e)) => panic!("write: {e}"),
            Err(_) => break,
        }
        assert!(written < data.len(), "64 MiB went through a paused reader");
    }
    assert!(
        seen.lock().unwrap().data.is_empty(),
        "data delivered while paused"
    );
    h.call(|_, t| t.resume_reading()).await.unwrap();
    let (r, mut w) = s.into_split();
    let rest = data[written..].to_vec();
    let writer = tokio::spawn(async move {
        w.write_all(&rest).await.unwrap();
        w.shutdown().await.unwrap();
    });
    within("closed", h.closed()).await;
    drop(r);
    writer.await.unwrap();
    assert_eq!(seen.lock().unwrap().data.len(), data.len());
    assert!(seen.lock().unwrap().data == data);
}

struct Ticker {
    started: Instant,
    fired: Vec<(TimerId, Duration)>,
    report: tokio::sync::mpsc::UnboundedSender<Vec<(TimerId, Duration)>>,
}

impl Protocol for Ticker {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.set_timer_after(Duration::from_millis(60));
        let c = t.set_timer_after(Duration::from_millis(30));
        t.set_timer_after(Duration::from_millis(20));
        t.cancel_timer(c);
    }
    fn data_received(&mut self, _: &mut dyn Transport, _: Bytes) {}
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.fired.push((timer, self.started.elapsed()));
        if self.fired.len() == 2 {
            let _ = self.report.send(self.fired.clone());
            t.close();
        }
    }
}

#[tokio::test]
async fn timers_fire_on_time() {
    let (_l, addr) = echo_server().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let p = Ticker {
        started: Instant::now(),
        fired: vec![],
        report: tx,
    };
    let h = connect(&format!("tcp:{addr}"), p).await.unwrap();
    let fired = within("timers", rx.recv()).await.unwrap();
    assert_eq!(fired[0].0, TimerId(3));
    assert_eq!(fired[1].0, TimerId(1));
    assert!(fired[0].1 >= Duration::from_millis(20), "{fired:?}");
    assert!(fired[1].1 >= Duration::from_millis(60), "{fired:?}");
    assert!(fired[1].1 < Duration::from_secs(5), "{fired:?}");
    assert!(within("closed", h.closed()).await.is_done());
}

struct Counter(usize);

impl Protocol for Counter {
    fn data_received(&mut self, _: &mut dyn Transport, data: Bytes) {
        self.0 += data.len();
    }
}

#[tokio::test]
async fn handle_call_write_and_gone() {
    let (_l, addr) = echo_server().await;
    let h: Handle<Counter> = connect(&format!("tcp:{addr}"), Counter(0)).await.unwrap();
    let h2 = h.clone();
    h2.write(Bytes::from_static(b"12345")).unwrap();
    let wrote = h
        .call(|_, t| {
            t.write_slice(b"678");
            t.can_write()
        })
        .await
        .unwrap();
    assert!(wrote);
    within("echo", async {
        while h.call(|p, _| p.0).await.unwrap() < 8 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    h.close().unwrap();
    assert!(within("closed", h.closed()).await.is_done());
    assert!(h.is_closed());
    assert_eq!(h.call(|p, _| p.0).await, Err(Gone));
    assert!(h.write(Bytes::new()).is_err());
}

struct Bomb;

impl Protocol for Bomb {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        if &data[..] == b"boom" {
            panic!("boom requested");
        }
        t.write(data);
    }
}

#[tokio::test]
async fn a_panicking_protocol_takes_down_only_its_connection() {
    let l = listen("tcp:127.0.0.1:0", |_: &TransportInfo| Bomb)
        .await
        .unwrap();
    let port = l.port().unwrap();
    let mut victim = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    victim.write_all(b"boom").await.unwrap();
    let mut buf = [0u8; 8];
    // The panicking connection is reset.
    let r = within("victim", victim.read(&mut buf)).await;
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    // The listener still serves.
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        within("echo", s.read_exact(&mut buf[..4])).await.unwrap();
        assert_eq!(&buf[..4], b"ping");
    }

    // Through a handle, the reason says what happened.
    let pl = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = connect(&format!("tcp:{}", pl.local_addr().unwrap()), Bomb)
        .await
        .unwrap();
    let (mut s, _) = pl.accept().await.unwrap();
    s.write_all(b"boom").await.unwrap();
    let reason = within("closed", h.closed()).await;
    assert!(reason.to_string().contains("boom requested"), "{reason}");
    assert!(strata_tokio::testing::is_panic(&reason));
}

#[tokio::test]
async fn run_time_stacks_with_boxed_protocols() {
    let l = listen("tcp:127.0.0.1:0", |_: &TransportInfo| -> BoxProtocol {
        Box::new(Echo)
    })
    .await
    .unwrap();
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write_slice(b"dyn");
        t.close_write();
    });
    let boxed: BoxProtocol = Box::new(c);
    let h: Handle<BoxProtocol> = connect(&format!("tcp:127.0.0.1:{}", l.port().unwrap()), boxed)
        .await
        .unwrap();
    assert!(within("closed", h.closed()).await.is_done());
    assert_eq!(seen.lock().unwrap().data, b"dyn");
}

#[tokio::test]
async fn spawn_stream_on_any_tcp_stream() {
    let (_l, addr) = echo_server().await;
    let s = TcpStream::connect(&addr).await.unwrap();
    let info = TransportInfo::new(
        strata_core::Addr::Unknown,
        strata_core::Addr::Unknown,
        strata_core::LayerInfo::new("tcp"),
    );
    let (c, seen) = Collect::new();
    let c = c.on_made(|t| {
        t.write(Bytes::from(pattern(300_000)));
        t.close_write();
    });
    let h = spawn_stream(s, c, info);
    let r: Reason = within("closed", h.closed()).await;
    assert!(r.is_done(), "{r}");
    assert!(seen.lock().unwrap().data == pattern(300_000));
}

/// Commands posted from many tasks at once all run, each sender's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_commands_from_many_tasks() {
    let (_l, addr) = echo_server().await;
    let h: Handle<Counter> = connect(&format!("tcp:{addr}"), Counter(0)).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move {
                for _ in 0..500 {
                    h.write(Bytes::from_static(b"x")).unwrap();
                }
                h.call(|_, _| ()).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    within("all echoed", async {
        while h.call(|p, _| p.0).await.unwrap() < 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(h.call(|p, _| p.0).await.unwrap(), 2000);
}
