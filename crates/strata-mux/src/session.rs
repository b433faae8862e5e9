//! [`Mux`]: the layer itself — a [`Protocol`] to the transport below and,
//! for each subchannel, through a view, a [`Transport`] to the protocol
//! above.

use std::sync::Arc;
use std::time::Duration;

use strata_core::{
    BoxProtocol, Bytes, ChannelId, Factory, OpenError, Protocol, Reason, TimerId, Transport,
    TransportInfo, Upcall,
};

use crate::config::Config;
use crate::core::{Core, Role};
use crate::error::{GoAwayCode, MuxError};
use crate::frame::Header;
use crate::remote::{Remote, RemoteShared};
use crate::view::View;

/// How long the remote wake-up timer is set ahead; it is normally fired
/// early by a [`Remote`].
const REMOTE_IDLE: Duration = Duration::from_secs(3600);

/// How [`Mux::close_lower`] ends the transport below.
#[derive(Clone, Copy, Debug)]
enum Shutdown {
    Graceful,
    Close,
    Abort,
}

/// What a factory of inbound subchannels returns: a protocol, or `None` to
/// refuse the subchannel (the peer sees it reset).
pub trait Accepted {
    /// The protocol to run, if the subchannel is accepted.
    fn into_accepted(self) -> Option<BoxProtocol>;
}

impl Accepted for BoxProtocol {
    fn into_accepted(self) -> Option<BoxProtocol> {
        Some(self)
    }
}

impl Accepted for Option<BoxProtocol> {
    fn into_accepted(self) -> Option<BoxProtocol> {
        self
    }
}

/// A factory that refuses every inbound subchannel: for a client that
/// only opens.
pub fn no_inbound() -> impl FnMut(&TransportInfo) -> Option<BoxProtocol> + Send + 'static {
    |_: &TransportInfo| None
}

/// A multiplexed connection: many subchannels over one transport, speaking
/// the yamux wire format. See the [crate docs](crate).
///
/// It is a [`Protocol`]: put it on any transport (TCP, TLS, the test
/// harness, a subchannel of another mux). Each subchannel runs its own
/// [`BoxProtocol`], which sees a full [`Transport`] with the close contract.
pub struct Mux {
    /// Subchannel protocols, by stream key (apart from their state in
    /// `core`, so a view can borrow that state while a protocol runs).
    pub(crate) apps: Vec<Option<BoxProtocol>>,
    pub(crate) core: Core,
    initial: Option<BoxProtocol>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("role", &self.core.role)
            .field("streams", &self.core.streams.len())
            .field("subchannels", &self.core.live_apps)
            .field("failed", &self.core.failed)
            .finish_non_exhaustive()
    }
}

impl Mux {
    /// A mux for `role`; inbound subchannels get their protocol from
    /// `accept` (return `None`, or use [`no_inbound`], to refuse them).
    pub fn new<F>(role: Role, config: Config, mut accept: F) -> Self
    where
        F: Factory + Send + 'static,
        F::Protocol: Accepted,
    {
        let accept = Box::new(move |info: &TransportInfo| accept.build(info).into_accepted());
        Mux {
            apps: Vec::new(),
            core: Core::new(role, config, accept),
            initial: None,
        }
    }

    /// The client end (opens odd-numbered streams).
    ///
    /// ```
    /// use strata_core::{BoxProtocol, Bytes, Protocol, Transport};
    /// use strata_mux::{no_inbound, Config, Mux};
    ///
    /// struct Hello;
    /// impl Protocol for Hello {
    ///     fn connection_made(&mut self, t: &mut dyn Transport) {
    ///         t.write_slice(b"hello");
    ///         t.close_write();
    ///     }
    ///     fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
    /// }
    /// // One app on subchannel 1; the connection closes when it is done.
    /// let mux = Mux::client(Config::default().close_when_idle(true), no_inbound())
    ///     .with_initial(Box::new(Hello));
    /// ```
    pub fn client<F>(config: Config, accept: F) -> Self
    where
        F: Factory + Send + 'static,
        F::Protocol: Accepted,
    {
        Mux::new(Role::Client, config, accept)
    }

    /// The server end (opens even-numbered streams).
    ///
    /// ```
    /// use strata_core::{BoxProtocol, Bytes, Protocol, Transport, TransportInfo};
    /// use strata_mux::{Config, Mux};
    ///
    /// struct Echo;
    /// impl Protocol for Echo {
    ///     fn data_received(&mut self, t: &mut dyn Transport, d: Bytes) { t.write(d) }
    /// }
    /// let mux = Mux::server(Config::default(), |_: &TransportInfo| {
    ///     Box::new(Echo) as BoxProtocol
    /// });
    /// ```
    pub fn server<F>(config: Config, accept: F) -> Self
    where
        F: Factory + Send + 'static,
        F::Protocol: Accepted,
    {
        Mux::new(Role::Server, config, accept)
    }

    /// Open a subchannel running `proto` as soon as the connection is made
    /// (it gets id 1 on a client, 2 on a server).
    pub fn with_initial(mut self, proto: BoxProtocol) -> Self {
        self.initial = Some(proto);
        self
    }

    /// Open a subchannel running `proto`, from outside any callback (`lower`
    /// is the transport the mux runs on). Its `connection_made` comes at
    /// once. From inside a subchannel's callback use
    /// `t.channels().unwrap().open_channel(proto)`; from another task, a
    /// [`Remote`].
    pub fn open(
        &mut self,
        lower: &mut dyn Transport,
        proto: BoxProtocol,
    ) -> Result<ChannelId, OpenError> {
        let (key, id) = self.core.open_stream(lower)?;
        self.core.opened.push((key, proto));
        self.run(lower);
        Ok(id)
    }

    /// Graceful shutdown: send GoAway(normal); no new subchannels either
    /// way; existing ones finish; then the transport below is closed.
    pub fn go_away(&mut self, lower: &mut dyn Transport) {
        if !self.core.go_away_sent && !self.core.failed {
            self.core
                .control(lower, Header::go_away(GoAwayCode::Normal.to_u32()));
            self.core.go_away_sent = true;
        }
        self.run(lower);
    }

    /// Send a ping now to measure the round-trip time (see [`rtt`](Mux::rtt)).
    pub fn ping(&mut self, lower: &mut dyn Transport) {
        self.core.send_ping(lower);
    }

    /// A handle to open subchannels from other tasks. See [`Remote`].
    pub fn remote(&mut self) -> Remote {
        let shared = self
            .core
            .remote
            .get_or_insert_with(|| Arc::new(RemoteShared::default()))
            .clone();
        Remote { shared }
    }

    /// The last measured round-trip time.
    pub fn rtt(&self) -> Option<Duration> {
        self.core.ping.rtt
    }

    /// Subchannels whose protocol is attached (not yet `connection_lost`).
    pub fn subchannels(&self) -> usize {
        self.core.live_apps
    }

    /// Streams the mux keeps state for (subchannels, plus closed ones
    /// waiting for the peer's FIN).
    pub fn streams(&self) -> usize {
        self.core.streams.len()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.core.role
    }

    /// Whether GoAway was sent or received (no new subchannels).
    pub fn is_going_away(&self) -> bool {
        self.core.go_away_sent || self.core.peer_go_away
    }

    /// Whether the connection failed (protocol error, timeout).
    pub fn is_failed(&self) -> bool {
        self.core.failed
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// Bytes received from and handed to the transport below.
    pub fn bytes(&self) -> (u64, u64) {
        (self.core.bytes_in, self.core.bytes_out)
    }

    // ----- the event loop ------------------------------------------------

    /// After every event: attach newly opened subchannels, deliver every
    /// callback that is due, emit frames, until nothing changes; then see
    /// whether the connection should close.
    pub(crate) fn run(&mut self, lower: &mut dyn Transport) {
        loop {
            self.adopt(lower);
            while let Some(key) = self.core.dirty.pop() {
                if let Some(s) = self.core.streams.get_mut(key) {
                    s.dirty = false;
                }
                self.settle(lower, key);
            }
            self.core.flush(lower);
            if self.core.dirty.is_empty() && self.core.opened.is_empty() {
                break;
            }
        }
        if self.core.remote.is_some() && self.core.remote_timer.is_none() && self.core.made {
            self.arm_remote(lower);
        }
        self.check_idle(lower);
    }

    /// Attach `app` to stream `key`.
    pub(crate) fn place(&mut self, key: usize, app: BoxProtocol) {
        if self.apps.len() <= key {
            self.apps.resize_with(key + 1, || None);
        }
        self.apps[key] = Some(app);
    }

    /// Attach the protocols of subchannels opened since the last event
    /// (from callbacks, and from remotes).
    fn adopt(&mut self, lower: &mut dyn Transport) {
        // The remote is cloned (two atomic operations) only when it has
        // something queued, not at every event.
        let queued = self
            .core
            .remote
            .as_ref()
            .filter(|r| r.pending.load(std::sync::atomic::Ordering::Acquire));
        if let Some(r) = queued.cloned() {
            for p in r.take() {
                match self.core.open_stream(lower) {
                    Ok((key, _)) => self.core.opened.push((key, p)),
                    Err(e) => {
                        tracing::warn!(error = %e, "remote open refused; protocol dropped")
                    }
                }
            }
        }
        if self.core.opened.is_empty() {
            return;
        }
        for (key, app) in std::mem::take(&mut self.core.opened) {
            self.place(key, app);
            self.core.mark_dirty(key);
        }
    }

    /// Deliver to subchannel `key` every callback that is due, in contract
    /// order, as `BaseTransport::settle` does for a bottom transport.
    pub(crate) fn settle(&mut self, lower: &mut dyn Transport, key: usize) {
        loop {
            let Mux { apps, core, .. } = self;
            let Some(app) = apps.get_mut(key).and_then(|a| a.as_mut()) else {
                return;
            };
            let Some(s) = core.streams.get_mut(key) else {
                return;
            };
            if !s.made {
                s.made = true;
                app.connection_made(&mut View::new(core, key, lower));
                continue;
            }
            if s.life.is_reading() {
                if !s.recv.paused {
                    if let Some(b) = s.recv.buf.front().cloned() {
                        s.recv.buf.advance(b.len());
                        core.credit(lower, key, b.len());
                        app.data_received(&mut View::new(core, key, lower), b);
                        continue;
                    }
                }
            } else if !s.recv.buf.is_empty() {
                core.discard_buffered(lower, key);
                continue;
            }
            if s.recv.fin
                && !s.eof_reported
                && s.recv.buf.is_empty()
                && (!s.recv.paused || !s.life.is_reading())
            {
                s.eof_reported = true;
                s.life.peer_eof();
            }
            match s.life.next_upcall() {
                Some(Upcall::ReadClosed) => {
                    app.read_closed(&mut View::new(core, key, lower));
                    continue;
                }
                Some(Upcall::WriteClosed) => {
                    app.write_closed(&mut View::new(core, key, lower));
                    continue;
                }
                Some(Upcall::Lost(reason)) => {
                    let mut app = apps[key].take().expect("checked above");
                    core.detach(Some(lower), key);
                    app.connection_lost(reason);
                    return;
                }
                None => {}
            }
            if s.life.can_write() {
                if let Some(f) = s.send.marks.check(s.send.queue.len()) {
                    let v = &mut View::new(core, key, lower);
                    match f {
                        strata_core::FlowUpcall::Pause => app.pause_writing(v),
                        strata_core::FlowUpcall::Resume => app.resume_writing(v),
                    }
                    continue;
                }
            }
            if core.lower_eof && s.send.credit == 0 && !s.send.queue.is_empty() && s.life.is_live()
            {
                // The peer ended its side below: it can grant no more
                // credit, so what is queued can never be sent.
                s.life.fail(Reason::Reset);
                s.reset = true;
                s.send.queue.clear();
                continue;
            }
            core.ready.offer_held(s, key);
            return;
        }
    }

    /// Close the transport below when the connection has nothing left to
    /// do: after our GoAway once every stream is done; with
    /// `close_when_idle` once every subchannel is; after the peer's end of
    /// stream once every subchannel is.
    fn check_idle(&mut self, lower: &mut dyn Transport) {
        let c = &mut self.core;
        if c.lower_closed || c.lower_lost || c.failed || !c.made {
            return;
        }
        let no_apps = c.live_apps == 0 && c.opened.is_empty();
        let close = if c.cfg.close_when_idle && c.ever_opened && no_apps {
            if !c.go_away_sent {
                c.control(lower, Header::go_away(GoAwayCode::Normal.to_u32()));
                c.go_away_sent = true;
            }
            true
        } else {
            (c.go_away_sent && c.streams.is_empty()) || (c.lower_eof && no_apps)
        };
        if close {
            self.close_lower(lower, Shutdown::Graceful);
        }
    }

    /// End our use of the transport below and forget every stream (no app
    /// is attached to any by now). Gracefully (`Shutdown::Graceful`) this is
    /// a half-close: our GoAway and FIN go out, and the connection ends
    /// when the peer closes its side too — closing outright could make the
    /// peer's last frames (an ACK, a window update) meet a closed socket,
    /// which TCP answers with a reset. Frames arriving meanwhile are
    /// ignored. After a protocol error it is `close`, after a timeout
    /// `abort`.
    fn close_lower(&mut self, lower: &mut dyn Transport, how: Shutdown) {
        let c = &mut self.core;
        if c.lower_closed {
            return;
        }
        c.lower_closed = true;
        for key in c.streams.keys() {
            c.free(key);
        }
        if let Some(r) = &c.remote {
            r.close();
        }
        match how {
            Shutdown::Graceful => lower.close_write(),
            Shutdown::Close => lower.close(),
            Shutdown::Abort => lower.abort(),
        }
    }

    /// End the connection for a protocol error: GoAway(protocol error) to
    /// the peer, `connection_lost(Error(err))` to every subchannel, then
    /// close the transport below.
    pub(crate) fn fail(&mut self, lower: &mut dyn Transport, err: MuxError) {
        tracing::debug!(error = %err, "mux connection failed");
        let code = err.go_away_code();
        self.fail_with(lower, Reason::error(err), Some(code));
    }

    pub(crate) fn fail_with(
        &mut self,
        lower: &mut dyn Transport,
        reason: Reason,
        go_away: Option<GoAwayCode>,
    ) {
        if self.core.failed {
            return;
        }
        if let Some(code) = go_away {
            self.core.control(lower, Header::go_away(code.to_u32()));
            self.core.go_away_sent = true;
        }
        self.core.failed = true;
        for key in self.core.streams.keys() {
            if let Some(s) = self.core.streams.get_mut(key) {
                s.life.fail(reason.clone());
                s.reset = true;
                s.send.queue.clear();
                s.recv.buf.clear();
            }
            self.core.mark_dirty(key);
        }
        self.run(lower);
        let how = if go_away.is_some() {
            Shutdown::Close
        } else {
            Shutdown::Abort
        };
        self.close_lower(lower, how);
    }

    /// The transport below is gone: every attached subchannel gets
    /// `connection_lost` with its reason (a clean end below is a reset for
    /// a subchannel that had not ended).
    fn lose_all(&mut self, reason: Reason) {
        let c = &mut self.core;
        c.lower_lost = true;
        let reason = match reason {
            Reason::Done => Reason::Reset,
            r => r,
        };
        for key in c.streams.keys() {
            let Some(mut s) = c.streams.remove(key) else {
                continue;
            };
            if s.app_live {
                c.live_apps -= 1;
            }
            let Some(mut app) = self.apps.get_mut(key).and_then(|a| a.take()) else {
                continue;
            };
            if !s.made {
                continue;
            }
            s.life.fail(reason.clone());
            if let Some(Upcall::Lost(r)) = s.life.next_upcall() {
                app.connection_lost(r);
            }
        }
        c.opened.clear();
        c.timers.clear();
        if let Some(r) = &c.remote {
            r.close();
        }
    }

    fn arm_remote(&mut self, lower: &mut dyn Transport) {
        let c = &mut self.core;
        if let Some(r) = &c.remote {
            if c.remote_timer.is_none() && !c.lower_closed && !c.lower_lost {
                let t = lower.set_timer_after(REMOTE_IDLE);
                c.remote_timer = Some(t);
                r.armed(t);
            }
        }
    }
}

impl Protocol for Mux {
    fn connection_made(&mut self, lower: &mut dyn Transport) {
        let c = &mut self.core;
        c.made = true;
        let (high, low) = c.lower_marks();
        lower.set_write_buffer_limits(high, low);
        if c.cfg.measure_rtt {
            c.send_ping(lower);
        }
        if let Some(every) = c.cfg.keepalive {
            c.ping.keepalive_timer = Some(lower.set_timer_after(every));
        }
        self.arm_remote(lower);
        if let Some(p) = self.initial.take() {
            match self.core.open_stream(lower) {
                Ok((key, _)) => self.core.opened.push((key, p)),
                Err(e) => tracing::warn!(error = %e, "initial subchannel refused"),
            }
        }
        self.run(lower);
    }

    fn data_received(&mut self, lower: &mut dyn Transport, data: Bytes) {
        self.core.bytes_in += data.len() as u64;
        self.on_input(lower, data);
        self.run(lower);
    }

    fn read_closed(&mut self, lower: &mut dyn Transport) {
        self.core.lower_eof = true;
        if !self.core.decoder.is_idle() && !self.core.failed && !self.core.lower_closed {
            self.fail(lower, MuxError::Truncated);
            return;
        }
        // Subchannels the peer had not finished are cut short.
        for key in self.core.streams.keys() {
            if let Some(s) = self.core.streams.get_mut(key) {
                if !s.recv.fin && !s.reset {
                    s.life.fail(Reason::Reset);
                    s.reset = true;
                    s.send.queue.clear();
                    s.recv.buf.clear();
                }
            }
            self.core.mark_dirty(key);
        }
        self.run(lower);
    }

    fn write_closed(&mut self, lower: &mut dyn Transport) {
        self.run(lower);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.lose_all(reason);
    }

    fn pause_writing(&mut self, _lower: &mut dyn Transport) {
        self.core.lower_paused = true;
    }

    fn resume_writing(&mut self, lower: &mut dyn Transport) {
        self.core.lower_paused = false;
        self.run(lower);
    }

    fn timer_fired(&mut self, lower: &mut dyn Transport, timer: TimerId) {
        let c = &mut self.core;
        if c.ping.keepalive_timer == Some(timer) {
            c.ping.keepalive_timer = None;
            if let Some(every) = c.cfg.keepalive {
                if !c.lower_closed && !c.lower_lost {
                    c.ping.keepalive_timer = Some(lower.set_timer_after(every));
                    c.send_ping(lower);
                    if c.ping.timeout_timer.is_none() {
                        c.ping.timeout_timer = Some(lower.set_timer_after(c.cfg.keepalive_timeout));
                    }
                }
            }
        } else if c.ping.timeout_timer == Some(timer) {
            c.ping.timeout_timer = None;
            if c.ping.outstanding.is_some() {
                tracing::debug!("mux keepalive: ping unanswered; connection timed out");
                self.fail_with(lower, Reason::TimedOut, None);
                return;
            }
        } else if c.remote_timer == Some(timer) {
            c.remote_timer = None;
            if let Some(r) = &c.remote {
                r.pending.store(true, std::sync::atomic::Ordering::Release);
            }
            self.arm_remote(lower);
        } else if let Some((key, sid)) = c.timers.remove(&timer) {
            match c.streams.get_mut(key) {
                Some(s) if s.id == sid && s.app_live => {
                    s.timers = s.timers.saturating_sub(1);
                    let Mux { apps, core, .. } = self;
                    if let Some(app) = apps.get_mut(key).and_then(|a| a.as_mut()) {
                        if core.streams.get(key).is_some_and(|s| s.life.is_live()) {
                            app.timer_fired(&mut View::new(core, key, lower), timer);
                        }
                    }
                    self.settle(lower, key);
                }
                _ => {}
            }
        }
        self.run(lower);
    }
}
