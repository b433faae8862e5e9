//! The bridge to tokio streams: a stack as `AsyncRead + AsyncWrite`.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::{pattern, within};
use strata_core::Bytes;
use strata_tokio::{Connected, Connector, StrataStream, TcpConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A StrataStream (bridge over a TCP driver) to a plain tokio peer.
async fn bridged() -> (StrataStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let c = TcpConnector {
        host: "127.0.0.1".into(),
        port: addr.port(),
    };
    let (c, s) = tokio::join!(c.connect(), l.accept());
    let Connected { io, info } = c.unwrap();
    let (stream, _handle) = StrataStream::spawn(io, info, |b| b);
    (stream, s.unwrap().0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_round_trip_from_another_task() {
    let (stream, mut peer) = bridged().await;
    let data = pattern(3 << 20);
    let d = data.clone();
    let user = tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(stream);
        let writer = async {
            w.write_all(&d).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let reader = async {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        };
        tokio::join!(writer, reader).1
    });
    // The peer echoes until our half-close, then half-closes.
    let (mut pr, mut pw) = peer.split();
    within("peer", tokio::io::copy(&mut pr, &mut pw))
        .await
        .unwrap();
    pw.shutdown().await.unwrap();
    let got = within("user", user).await.unwrap();
    assert!(got == data, "echo differs ({} bytes)", got.len());
}

/// Read EOF is the peer's half-close; we can still write afterwards.
#[tokio::test]
async fn peer_half_close_is_eof_and_we_keep_writing() {
    let (mut stream, mut peer) = bridged().await;
    peer.write_all(b"hello").await.unwrap();
    peer.shutdown().await.unwrap();
    let mut got = Vec::new();
    within("eof", stream.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"hello");
    stream.write_all(b"still here").await.unwrap();
    within("shutdown", stream.shutdown()).await.unwrap();
    let mut back = Vec::new();
    within("peer eof", peer.read_to_end(&mut back))
        .await
        .unwrap();
    assert_eq!(back, b"still here");
}

/// A slow reader pauses the stack's reading: the peer's writes stall
/// instead of piling up in memory; nothing is lost.
#[tokio::test]
async fn slow_reader_backpressures_the_peer() {
    let (mut stream, peer) = bridged().await;
    let data = pattern(64 << 20);
    let (_pr, mut pw) = peer.into_split();
    let d = data.clone();
    let writer = tokio::spawn(async move {
        pw.write_all(&d).await.unwrap();
        pw.shutdown().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !writer.is_finished(),
        "64 MiB went into a stream nobody reads"
    );
    let mut got = Vec::new();
    within("read", stream.read_to_end(&mut got)).await.unwrap();
    assert!(got == data);
    writer.await.unwrap();
}

/// A peer that does not read stalls our writes (poll_write is Pending
/// above the water mark) instead of buffering without bound.
#[tokio::test]
async fn unread_peer_backpressures_writes() {
    let (mut stream, mut peer) = bridged().await;
    let data = pattern(64 << 20);
    let r = tokio::time::timeout(Duration::from_millis(300), stream.write_all(&data)).await;
    assert!(r.is_err(), "64 MiB written to a peer that does not read");
    // Drain the peer: what was accepted arrives, in order.
    drop(stream);
    let mut got = Vec::new();
    within("peer eof", peer.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(got.len() < data.len() && got[..] == data[..got.len()]);
}

/// A reset connection surfaces as an io error.
#[tokio::test]
async fn reset_is_an_io_error() {
    let (mut stream, peer) = bridged().await;
    peer.set_zero_linger().unwrap();
    drop(peer);
    let mut buf = [0u8; 8];
    let err = within("read", stream.read(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let err = stream.write_all(b"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

/// Dropping the stream closes the connection after flushing.
#[tokio::test]
async fn drop_is_close() {
    let (mut stream, mut peer) = bridged().await;
    stream.write_all(b"last words").await.unwrap();
    drop(stream);
    let mut got = Vec::new();
    within("peer eof", peer.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"last words");
}

/// A pass-through layer with its own view, as real layers have: the bridge
/// works on top of it (its wake-up timer travels through the layer).
mod layered {
    use super::*;
    use std::time::Instant;
    use strata_core::{LayerInfo, Protocol, Reason, TimerId, Transport, TransportInfo};

    pub struct Wrap<P>(pub P);

    struct View<'a>(&'a mut dyn Transport);

    impl Transport for View<'_> {
        fn write(&mut self, data: Bytes) {
            self.0.write(data)
        }
        fn close_write(&mut self) {
            self.0.close_write()
        }
        fn close(&mut self) {
            self.0.close()
        }
        fn abort(&mut self) {
            self.0.abort()
        }
        fn pause_reading(&mut self) {
            self.0.pause_reading()
        }
        fn resume_reading(&mut self) {
            self.0.resume_reading()
        }
        fn write_buffer_len(&self) -> usize {
            self.0.write_buffer_len()
        }
        fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
            self.0.set_write_buffer_limits(high, low)
        }
        fn can_write(&self) -> bool {
            self.0.can_write()
        }
        fn info(&self) -> TransportInfo {
            let mut i = self.0.info();
            i.push(LayerInfo::new("wrap"));
            i
        }
        fn now(&self) -> Instant {
            self.0.now()
        }
        fn set_timer(&mut self, deadline: Instant) -> TimerId {
            self.0.set_timer(deadline)
        }
        fn cancel_timer(&mut self, timer: TimerId) {
            self.0.cancel_timer(timer)
        }
    }

    impl<P: Protocol> Protocol for Wrap<P> {
        fn connection_made(&mut self, t: &mut dyn Transport) {
            self.0.connection_made(&mut View(t))
        }
        fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
            self.0.data_received(&mut View(t), data)
        }
        fn read_closed(&mut self, t: &mut dyn Transport) {
            self.0.read_closed(&mut View(t))
        }
        fn write_closed(&mut self, t: &mut dyn Transport) {
            self.0.write_closed(&mut View(t))
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.0.connection_lost(reason)
        }
        fn pause_writing(&mut self, t: &mut dyn Transport) {
            self.0.pause_writing(&mut View(t))
        }
        fn resume_writing(&mut self, t: &mut dyn Transport) {
            self.0.resume_writing(&mut View(t))
        }
        fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
            self.0.timer_fired(&mut View(t), timer)
        }
    }
}

#[tokio::test]
async fn bridge_on_top_of_a_layer() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpConnector {
        host: "127.0.0.1".into(),
        port: l.local_addr().unwrap().port(),
    };
    let (c, s) = tokio::join!(c.connect(), l.accept());
    let Connected { io, info } = c.unwrap();
    let (mut stream, handle) = StrataStream::spawn(io, info, layered::Wrap);
    let mut peer = s.unwrap().0;
    let data = pattern(1 << 20);
    let d = data.clone();
    let echo = tokio::spawn(async move {
        let (mut r, mut w) = peer.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let (mut r, mut w) = tokio::io::split(&mut stream);
    let (_, got) = within("echo through a layer", async {
        tokio::join!(
            async {
                w.write_all(&d).await.unwrap();
                w.shutdown().await.unwrap();
            },
            async {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            }
        )
    })
    .await;
    assert!(got == data);
    echo.await.unwrap();
    drop(stream);
    assert!(within("closed", handle.closed()).await.is_done());
}
