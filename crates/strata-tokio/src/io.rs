//! [`Io`]: what the driver can sit on — any tokio byte stream, plus an abort hook.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A byte stream the driver can run a stack on: any `AsyncRead + AsyncWrite`,
/// plus a hook for [`Transport::abort`](strata_core::Transport::abort).
///
/// The driver uses the stream the tokio way:
///
/// * `poll_read` until it returns `Ok(0)`, which is the peer's end-of-stream;
/// * [`poll_write_bufs`](Io::poll_write_bufs) (by default `poll_write` or
///   `poll_write_vectored`) and `poll_flush` to hand over buffered writes;
/// * `poll_shutdown` for [`close_write`](strata_core::Transport::close_write),
///   so it must close *only the write side* (as `TcpStream`, `UnixStream` and
///   `DuplexStream` do);
/// * [`abort`](Io::abort) right before dropping the stream when the protocol
///   aborted, so the peer can be told about it (TCP: an RST).
///
/// Any other `AsyncRead + AsyncWrite` becomes an `Io` through [`GenericIo`].
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The protocol aborted: prepare the stream so that dropping it, which
    /// follows at once, resets the peer where the stream can express that.
    /// The default does nothing: the peer sees an ordinary close.
    fn abort(&mut self) {}

    /// Write once from `bufs` (`bufs[0]` alone when there is one), with
    /// `poll_write_vectored`'s contract: `Pending` has registered the
    /// task's wake-up. The default calls `poll_write` or
    /// `poll_write_vectored`.
    ///
    /// A socket overrides it to try a small write first (tokio's
    /// `try_write`) and poll only when the socket is full: the usual write
    /// of a request/response protocol then skips the cooperative budget and
    /// the wake-up bookkeeping of tokio's `poll_write` (~100 instructions a
    /// round trip on `frames/roundtrip`). The driver bounds its own work
    /// per poll, so the budget is not needed for fairness.
    #[inline]
    fn poll_write_bufs(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match bufs {
            [one] => Pin::new(self).poll_write(cx, one),
            _ => Pin::new(self).poll_write_vectored(cx, bufs),
        }
    }
}

impl Io for TcpStream {
    /// Sets `SO_LINGER` to zero, so the drop that follows sends an RST and
    /// discards unsent data instead of a FIN.
    fn abort(&mut self) {
        if let Err(e) = self.set_zero_linger() {
            tracing::debug!(error = %e, "cannot set SO_LINGER 0 before abort");
        }
    }

    #[inline]
    fn poll_write_bufs(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        try_then_poll(self, cx, bufs, TcpStream::try_write)
    }
}

/// The largest write a socket tries before polling (see
/// [`Io::poll_write_bufs`]).
const TRY_WRITE_MAX: usize = 16 * 1024;

/// A socket's [`Io::poll_write_bufs`]: a small write is tried; one that
/// finds the socket full falls back to polling, which registers the
/// wake-up. Larger writes poll at once: tokio's `poll_write` notes a short
/// write as "the socket is full" without another system call, which a bulk
/// sender's next write would otherwise spend to learn it.
#[inline]
fn try_then_poll<S: AsyncWrite + Unpin>(
    s: &mut S,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
    try_write: impl FnOnce(&S, &[u8]) -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    match bufs {
        [one] if one.len() <= TRY_WRITE_MAX => match try_write(s, one) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Pin::new(s).poll_write(cx, one),
            res => Poll::Ready(res),
        },
        [one] => Pin::new(s).poll_write(cx, one),
        _ => Pin::new(s).poll_write_vectored(cx, bufs),
    }
}

/// A Unix stream socket cannot send a reset; the peer of an abort sees an
/// end-of-stream.
impl Io for UnixStream {
    #[inline]
    fn poll_write_bufs(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        try_then_poll(self, cx, bufs, UnixStream::try_write)
    }
}

/// An in-memory pipe cannot send a reset; the peer of an abort sees an
/// end-of-stream.
impl Io for DuplexStream {}

impl Io for Box<dyn Io> {
    fn abort(&mut self) {
        (**self).abort()
    }
    fn poll_write_bufs(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        (**self).poll_write_bufs(cx, bufs)
    }
}

/// Makes any `AsyncRead + AsyncWrite` an [`Io`] whose abort is a plain drop:
/// this is how a tokio-world stream (a `tokio-rustls` stream, a pipe, a
/// serial port) becomes the bottom of a Strata stack.
#[derive(Debug)]
pub struct GenericIo<T>(pub T);

impl<T> Io for GenericIo<T> where T: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + Unpin> AsyncRead for GenericIo<T> {
    #[inline]
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GenericIo<T> {
    #[inline]
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    #[inline]
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// `poll_write_bufs` with small writes (the tried path) until the
    /// socket is full: it then returns `Pending` with the wake-up
    /// registered, the peer receives every byte written, and once it has
    /// read them the writer is woken and its next write goes through.
    async fn small_writes_fill_block_and_wake<S: Io, R: AsyncRead + Unpin>(mut s: S, mut peer: R) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let chunk = [7u8; 4096];
        assert!(
            chunk.len() <= TRY_WRITE_MAX,
            "the test must take the tried path"
        );
        let mut written = 0;
        loop {
            match s.poll_write_bufs(&mut cx, &[IoSlice::new(&chunk)]) {
                Poll::Ready(Ok(n)) => {
                    assert!(n > 0 && n <= chunk.len());
                    written += n;
                }
                Poll::Ready(Err(e)) => panic!("write failed: {e}"),
                Poll::Pending => break,
            }
            assert!(written < 256 << 20, "the socket never filled");
        }
        assert!(written > 0);
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "woken while still full");

        let mut buf = vec![0u8; 1 << 16];
        let mut read = 0;
        while read < written {
            let n = peer.read(&mut buf).await.unwrap();
            assert!(n > 0, "the peer saw an end of stream");
            assert!(buf[..n].iter().all(|&b| b == 7), "bytes changed on the way");
            read += n;
        }
        assert_eq!(read, written);
        // The runtime delivers the socket's "writable again" event: bounded
        // wait, no timing asserted.
        tokio::time::timeout(Duration::from_secs(10), async {
            while count.0.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the blocked writer was never woken");
        match s.poll_write_bufs(&mut cx, &[IoSlice::new(b"after")]) {
            Poll::Ready(Ok(n)) => assert_eq!(n, 5),
            other => panic!("the write after the wake-up did not go through: {other:?}"),
        }
        let mut tail = [0u8; 5];
        peer.read_exact(&mut tail).await.unwrap();
        assert_eq!(&tail, b"after");
    }

    #[tokio::test]
    async fn tcp_small_writes_block_when_full_and_wake_when_drained() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        small_writes_fill_block_and_wake(a, b).await;
    }

    #[tokio::test]
    async fn unix_small_writes_block_when_full_and_wake_when_drained() {
        let (a, b) = UnixStream::pair().unwrap();
        small_writes_fill_block_and_wake(a, b).await;
    }

    #[tokio::test]
    async fn the_default_polls_and_writes_vectored() {
        // A stream without a tried path (an in-memory pipe): the default
        // hands every buffer to the stream, in order.
        let (mut a, mut b) = tokio::io::duplex(64);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count);
        let mut cx = Context::from_waker(&waker);
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
        let n = match a.poll_write_bufs(&mut cx, &bufs) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("{other:?}"),
        };
        assert!(n > 0);
        let mut got = vec![0u8; n];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..], &b"abcd"[..n]);
    }
}
