//! Putting a layer under a live protocol: STARTTLS and its kind.
//!
//! A protocol that has spoken plaintext may decide, mid-connection, that
//! from now on its bytes go through TLS. It asks its transport with
//! [`Transport::upgrade`], handing over a function that wraps it in the new
//! layer and the bytes it received but did not consume (a client's TLS
//! ClientHello often arrives in the same read as the `STARTTLS` line).
//!
//! The layer that owns the protocol carries the upgrade out *after* the
//! current callback returns: it takes the protocol out, wraps it, and feeds
//! the unconsumed bytes to the new layer, so no byte is lost or seen twice.
//! [`Upgradable`] is that owner, usable anywhere in a stack: wrap a protocol
//! in it and the protocol's transport supports `upgrade`.

use std::fmt;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::{Channels, Protocol, Reason, TimerId, Transport, TransportInfo};

/// A protocol that can be moved between threads and boxed: what upgrades
/// operate on.
pub type BoxProtocol = Box<dyn Protocol + Send>;

/// A request to put a layer under the calling protocol.
pub struct Upgrade {
    /// Wraps the protocol in the new layer. The new layer must not call the
    /// protocol's `connection_made` again: it is already connected (TLS's
    /// `starttls` constructors say so).
    pub wrap: Box<dyn FnOnce(BoxProtocol) -> BoxProtocol + Send>,
    /// Bytes already received that belong to the new layer.
    pub unconsumed: Bytes,
}

impl Upgrade {
    /// An upgrade by `wrap`, handing over `unconsumed` bytes.
    pub fn new(
        wrap: impl FnOnce(BoxProtocol) -> BoxProtocol + Send + 'static,
        unconsumed: Bytes,
    ) -> Self {
        Upgrade {
            wrap: Box::new(wrap),
            unconsumed,
        }
    }
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("unconsumed", &self.unconsumed.len())
            .finish_non_exhaustive()
    }
}

/// Why an upgrade was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// This transport does not own its protocol in a way that allows
    /// wrapping it; put the protocol in an [`Upgradable`].
    #[error("this transport cannot put a layer under its protocol; wrap the protocol in strata_core::Upgradable")]
    Unsupported,
    /// An upgrade was already requested in this callback.
    #[error("an upgrade is already pending")]
    AlreadyPending,
    /// The connection is closing or closed.
    #[error("the connection is closing")]
    Closing,
}

/// Owns a protocol and lets it put layers under itself at run time.
///
/// ```
/// use strata_core::{Bytes, Protocol, Transport, Upgradable, Upgrade};
///
/// struct Plain;
/// impl Protocol for Plain {
///     fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
///         if let Some(rest) = data.strip_prefix(b"UPGRADE\n") {
///             let rest = data.slice(data.len() - rest.len()..);
///             // A real protocol would wrap itself in TLS here.
///             t.upgrade(Upgrade::new(|me| me, rest)).unwrap();
///         }
///     }
/// }
/// let _stack = Upgradable::new(Box::new(Plain));
/// ```
pub struct Upgradable {
    inner: BoxProtocol,
    pending: Option<Upgrade>,
}

impl Upgradable {
    /// Own `inner`, ready to upgrade.
    pub fn new(inner: BoxProtocol) -> Self {
        Upgradable {
            inner,
            pending: None,
        }
    }

    /// The protocol as it is now (possibly wrapped in layers).
    pub fn inner(&self) -> &BoxProtocol {
        &self.inner
    }

    fn call(
        &mut self,
        lower: &mut dyn Transport,
        f: impl FnOnce(&mut BoxProtocol, &mut dyn Transport),
    ) {
        let Upgradable { inner, pending } = self;
        f(inner, &mut UpgradableView { lower, pending });
        self.apply(lower);
    }

    fn apply(&mut self, lower: &mut dyn Transport) {
        while let Some(up) = self.pending.take() {
            let old = std::mem::replace(&mut self.inner, Box::new(Placeholder));
            self.inner = (up.wrap)(old);
            // Always called, even with no bytes: it is the new layer's
            // first chance to act (a STARTTLS client sends its ClientHello
            // now; nothing else would wake it, as the server waits for it).
            let Upgradable { inner, pending } = self;
            inner.data_received(&mut UpgradableView { lower, pending }, up.unconsumed);
        }
    }
}

/// Stands in for the protocol for the instant it is being wrapped.
struct Placeholder;
impl Protocol for Placeholder {
    fn data_received(&mut self, _t: &mut dyn Transport, _data: Bytes) {}
}

struct UpgradableView<'a> {
    lower: &'a mut dyn Transport,
    pending: &'a mut Option<Upgrade>,
}

impl Transport for UpgradableView<'_> {
    fn write(&mut self, data: Bytes) {
        self.lower.write(data)
    }
    fn write_slice(&mut self, data: &[u8]) {
        self.lower.write_slice(data)
    }
    fn write_buf(&mut self, buf: &mut BytesMut) {
        self.lower.write_buf(buf)
    }
    fn close_write(&mut self) {
        self.lower.close_write()
    }
    fn close(&mut self) {
        self.lower.close()
    }
    fn abort(&mut self) {
        self.lower.abort()
    }
    fn pause_reading(&mut self) {
        self.lower.pause_reading()
    }
    fn resume_reading(&mut self) {
        self.lower.resume_reading()
    }
    fn write_buffer_len(&self) -> usize {
        self.lower.write_buffer_len()
    }
    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.lower.set_write_buffer_limits(high, low)
    }
    fn can_write(&self) -> bool {
        self.lower.can_write()
    }
    fn info(&self) -> TransportInfo {
        self.lower.info()
    }
    fn now(&self) -> Instant {
        self.lower.now()
    }
    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        self.lower.set_timer(deadline)
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        self.lower.cancel_timer(timer)
    }
    fn upgrade(&mut self, upgrade: Upgrade) -> Result<(), UpgradeError> {
        if self.pending.is_some() {
            return Err(UpgradeError::AlreadyPending);
        }
        if !self.lower.can_write() {
            return Err(UpgradeError::Closing);
        }
        *self.pending = Some(upgrade);
        Ok(())
    }
    fn channels(&mut self) -> Option<&mut dyn Channels> {
        self.lower.channels()
    }
}

impl Protocol for Upgradable {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.call(t, |p, v| p.connection_made(v))
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.call(t, |p, v| p.data_received(v, data))
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.call(t, |p, v| p.read_closed(v))
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.call(t, |p, v| p.write_closed(v))
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.pending = None;
        self.inner.connection_lost(reason)
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.call(t, |p, v| p.pause_writing(v))
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.call(t, |p, v| p.resume_writing(v))
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.call(t, |p, v| p.timer_fired(v, timer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Addr, ChannelId, LayerInfo, OpenError};

    /// A transport below that can open sibling channels (as a mux
    /// subchannel can), counting the opens.
    #[derive(Default)]
    struct Below {
        opened: ChannelId,
    }
    impl Channels for Below {
        fn open_channel(&mut self, _proto: BoxProtocol) -> Result<ChannelId, OpenError> {
            self.opened += 1;
            Ok(self.opened)
        }
    }
    impl Transport for Below {
        fn write(&mut self, _data: Bytes) {}
        fn close_write(&mut self) {}
        fn close(&mut self) {}
        fn abort(&mut self) {}
        fn pause_reading(&mut self) {}
        fn resume_reading(&mut self) {}
        fn write_buffer_len(&self) -> usize {
            0
        }
        fn set_write_buffer_limits(&mut self, _high: usize, _low: usize) {}
        fn can_write(&self) -> bool {
            true
        }
        fn info(&self) -> TransportInfo {
            TransportInfo::new(Addr::Unknown, Addr::Unknown, LayerInfo::new("below"))
        }
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn set_timer(&mut self, _deadline: Instant) -> TimerId {
            TimerId(0)
        }
        fn cancel_timer(&mut self, _timer: TimerId) {}
        fn channels(&mut self) -> Option<&mut dyn Channels> {
            Some(self)
        }
    }

    /// Opens a sibling channel when data arrives.
    struct Opener;
    impl Protocol for Opener {
        fn data_received(&mut self, t: &mut dyn Transport, _data: Bytes) {
            let ch = t.channels().expect("the channels of the transport below");
            ch.open_channel(Box::new(Placeholder)).unwrap();
        }
    }

    /// Putting a protocol in an `Upgradable` does not hide the channels of
    /// the transport below it.
    #[test]
    fn the_view_forwards_channels() {
        let mut below = Below::default();
        let mut up = Upgradable::new(Box::new(Opener));
        up.data_received(&mut below, Bytes::from_static(b"x"));
        assert_eq!(below.opened, 1);
    }
}
