use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Reason, TimerId};

/// The receiving side of a datagram socket (UDP, or the harness's lossy
/// datagram link). Unlike a stream, each datagram arrives whole or not at
/// all, possibly duplicated, reordered or lost.
pub trait DatagramProtocol {
    /// The socket is bound and ready.
    fn started(&mut self, t: &mut dyn DatagramTransport) {
        let _ = t;
    }

    /// One datagram arrived from `from`.
    fn datagram_received(&mut self, t: &mut dyn DatagramTransport, data: Bytes, from: SocketAddr);

    /// A send or receive failed without ending the socket (ICMP port
    /// unreachable, say). Default: ignore.
    fn error_received(&mut self, t: &mut dyn DatagramTransport, error: std::io::Error) {
        let _ = (t, error);
    }

    /// A timer set through [`DatagramTransport::set_timer`] expired.
    fn timer_fired(&mut self, t: &mut dyn DatagramTransport, timer: TimerId) {
        let _ = (t, timer);
    }

    /// The socket is closed. Called exactly once, last.
    fn stopped(&mut self, reason: Reason) {
        let _ = reason;
    }
}

/// The sending side of a datagram socket.
pub trait DatagramTransport {
    /// Queue one datagram for `to`. Never blocks; if the socket's queue is
    /// full the datagram is dropped, as the network might have done anyway.
    fn send_to(&mut self, data: Bytes, to: SocketAddr);

    /// Our bound address.
    fn local_addr(&self) -> SocketAddr;

    /// The largest datagram payload this transport will carry.
    fn max_datagram_size(&self) -> usize {
        1200
    }

    /// Stop the socket after the current callback;
    /// [`DatagramProtocol::stopped`] follows.
    fn close(&mut self);

    /// The current time on this socket's clock (real or virtual).
    fn now(&self) -> Instant;

    /// Ask for [`DatagramProtocol::timer_fired`] at `deadline`.
    fn set_timer(&mut self, deadline: Instant) -> TimerId;

    /// Cancel a timer; unknown ids are ignored.
    fn cancel_timer(&mut self, timer: TimerId);

    /// Convenience: set a timer `after` from now.
    fn set_timer_after(&mut self, after: Duration) -> TimerId {
        let deadline = self.now() + after;
        self.set_timer(deadline)
    }
}
