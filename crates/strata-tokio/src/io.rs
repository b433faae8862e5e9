//! [`Io`]: what the driver can sit on — any tokio byte stream, plus an abort hook.

use std::io;
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
/// * `poll_write_vectored` (and `poll_flush`) to hand over buffered writes;
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
}

impl Io for TcpStream {
    /// Sets `SO_LINGER` to zero, so the drop that follows sends an RST and
    /// discards unsent data instead of a FIN.
    fn abort(&mut self) {
        if let Err(e) = self.set_zero_linger() {
            tracing::debug!(error = %e, "cannot set SO_LINGER 0 before abort");
        }
    }
}

/// A Unix stream socket cannot send a reset; the peer of an abort sees an
/// end-of-stream.
impl Io for UnixStream {}

/// An in-memory pipe cannot send a reset; the peer of an abort sees an
/// end-of-stream.
impl Io for DuplexStream {}

impl Io for Box<dyn Io> {
    fn abort(&mut self) {
        (**self).abort()
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
