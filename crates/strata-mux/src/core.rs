//! The mux's own state — everything but the app protocols — and the
//! operations on it that call no app: emitting frames, crediting received
//! data, opening and freeing streams.
//!
//! Keeping this apart from the protocols is what lets a subchannel's view
//! borrow it mutably while that subchannel's protocol is being called.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::BufMut;

use strata_core::{BoxProtocol, LayerInfo, OpenError, TimerId, Transport, TransportInfo};

use crate::config::Config;
use crate::flood::ResetGuard;
use crate::frame::{Decoder, Flags, Header, HeaderArena, HEADER_LEN, SMALL_FRAME};
use crate::ping::PingState;
use crate::remote::RemoteShared;
use crate::schedule::Schedule;
use crate::share::Shares;
use crate::stream::{Stream, StreamTable};

/// Makes the protocol of an inbound subchannel, or refuses it (`None`).
pub(crate) type Acceptor = Box<dyn FnMut(&TransportInfo) -> Option<BoxProtocol> + Send>;

/// Which end of the connection this mux is: it decides stream-id parity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opens odd-numbered streams.
    Client,
    /// Opens even-numbered streams.
    Server,
}

/// What the payload of the data frame being decoded is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Current {
    /// Between frames.
    None,
    /// A live stream, by id and key (checked at each piece: the app may
    /// reset it between pieces, and its key may then be reused); its flags
    /// take effect at the end of the payload.
    Stream(u32, usize, Flags),
    /// A stream that is gone: the payload is dropped.
    Discard,
}

pub(crate) struct Core {
    pub cfg: Config,
    pub role: Role,
    pub streams: StreamTable,
    pub ready: Schedule,
    /// Streams whose callbacks may be due.
    pub dirty: Vec<usize>,
    /// Opened during a callback; their protocols join `Mux::apps` after it.
    pub opened: Vec<(usize, BoxProtocol)>,
    pub arena: HeaderArena,
    pub decoder: Decoder,
    pub current: Current,
    /// The next id we open (0: exhausted).
    pub next_id: u32,
    /// The highest id the peer opened.
    pub last_peer_id: u32,
    pub accept: Acceptor,
    /// Timers set by apps: which stream (key, id) owns each.
    pub timers: HashMap<TimerId, (usize, u32)>,
    /// Streams we reset, with the bytes the peer may still have in flight.
    pub tombstones: VecDeque<(u32, u32)>,
    pub lower_paused: bool,
    /// The marks below are halved: one stream has data to send, alone
    /// (see [`Config::lower_high_water`]).
    pub alone: bool,
    pub lower_eof: bool,
    pub lower_lost: bool,
    /// We closed or aborted the transport below.
    pub lower_closed: bool,
    pub go_away_sent: bool,
    pub peer_go_away: bool,
    pub failed: bool,
    pub made: bool,
    pub ever_opened: bool,
    /// Streams whose app is attached (made or about to be).
    pub live_apps: usize,
    /// Our SYNs not yet acknowledged.
    pub pending_opens: usize,
    /// Receive-window growth granted beyond the initial windows.
    pub granted: u64,
    /// Streams busy receiving, among which the receive budget is shared.
    pub shares: Shares,
    pub ping: PingState,
    pub resets: ResetGuard,
    pub remote: Option<Arc<RemoteShared>>,
    pub remote_timer: Option<TimerId>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Core {
    pub fn new(role: Role, cfg: Config, accept: Acceptor) -> Self {
        Core {
            decoder: Decoder::new(cfg.max_window),
            cfg,
            role,
            streams: StreamTable::default(),
            ready: Schedule::default(),
            dirty: Vec::new(),
            opened: Vec::new(),
            arena: HeaderArena::default(),
            current: Current::None,
            next_id: match role {
                Role::Client => 1,
                Role::Server => 2,
            },
            last_peer_id: 0,
            accept,
            timers: HashMap::new(),
            tombstones: VecDeque::new(),
            lower_paused: false,
            alone: false,
            lower_eof: false,
            lower_lost: false,
            lower_closed: false,
            go_away_sent: false,
            peer_go_away: false,
            failed: false,
            made: false,
            ever_opened: false,
            live_apps: 0,
            pending_opens: 0,
            granted: 0,
            shares: Shares::default(),
            ping: PingState::default(),
            resets: ResetGuard::default(),
            remote: None,
            remote_timer: None,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Whether `id` has our parity.
    #[inline]
    pub fn is_ours(&self, id: u32) -> bool {
        (id % 2 == 1) == (self.role == Role::Client)
    }

    /// Whether frames can still be handed below.
    #[inline]
    pub fn can_send(&self, lower: &dyn Transport) -> bool {
        !self.lower_closed && !self.lower_lost && lower.can_write()
    }

    /// Whether data frames may go below now: the transport below has not
    /// pushed back.
    #[inline]
    pub fn lower_ok(&self, lower: &dyn Transport) -> bool {
        !self.lower_paused
            && self.can_send(lower)
            && lower.write_buffer_len() <= self.lower_marks().0
    }

    /// The water marks set on the transport below: the configured ones,
    /// halved while one stream sends alone.
    #[inline]
    pub fn lower_marks(&self) -> (usize, usize) {
        let (high, low) = (self.cfg.lower_high_water, self.cfg.lower_low_water);
        if self.alone {
            (high / 2, low / 2)
        } else {
            (high, low)
        }
    }

    /// Hand a frame without payload below at once. Control frames (window
    /// updates, SYN/ACK/RST, pings, GoAway) do not wait for the transport
    /// below to drain: they are tiny, bounded in number, and withholding
    /// them could deadlock two peers that both stopped to wait.
    #[inline]
    pub fn control(&mut self, lower: &mut dyn Transport, h: Header) {
        if self.can_send(lower) {
            let b = self.arena.header(h);
            self.bytes_out += HEADER_LEN as u64;
            lower.write(b);
        }
    }

    #[inline]
    pub fn mark_dirty(&mut self, key: usize) {
        if let Some(s) = self.streams.get_mut(key) {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    #[inline]
    pub fn offer(&mut self, key: usize) {
        self.ready.offer(&mut self.streams, key);
    }

    /// `n` bytes of stream `key` were delivered to its app or discarded:
    /// credit them, sending the window update that is due.
    #[inline]
    pub fn credit(&mut self, lower: &mut dyn Transport, key: usize, n: usize) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        if s.reset {
            return;
        }
        s.recv.consume(n);
        if !s.recv.update_wanted() {
            return;
        }
        let now = lower.now();
        self.shares.note(now, &mut s.busy);
        let share = self
            .shares
            .share(self.cfg.receive_budget, self.cfg.min_window);
        let budget = self.cfg.receive_budget.saturating_sub(self.granted);
        if let Some(u) = s
            .recv
            .update_due(now, self.ping.rtt, self.cfg.max_window, budget, share)
        {
            let h = Header::window_update(s.id, Flags::NONE, u.delta);
            self.granted += u.growth as u64;
            self.control(lower, h);
        }
    }

    /// Drop what stream `key` holds undelivered, crediting the peer.
    pub fn discard_buffered(&mut self, lower: &mut dyn Transport, key: usize) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        let n = s.recv.buf.len();
        if n > 0 {
            s.recv.buf.clear();
            self.credit(lower, key, n);
        }
    }

    /// Why a new stream cannot be opened now, if it cannot.
    pub fn open_refusal(&self) -> Option<OpenError> {
        if self.failed || self.lower_closed || self.lower_lost || self.lower_eof {
            Some(OpenError::Closed)
        } else if self.go_away_sent || self.peer_go_away {
            Some(OpenError::GoingAway)
        } else if self.streams.len() >= self.cfg.max_streams {
            Some(OpenError::TooMany {
                limit: self.cfg.max_streams,
            })
        } else if self.pending_opens >= self.cfg.max_pending_opens {
            Some(OpenError::TooMany {
                limit: self.cfg.max_pending_opens,
            })
        } else if self.next_id == 0 {
            Some(OpenError::Exhausted)
        } else {
            None
        }
    }

    /// Open an outbound stream: allocate its state and send its SYN. The
    /// caller attaches the app.
    pub fn open_stream(&mut self, lower: &mut dyn Transport) -> Result<(usize, u32), OpenError> {
        if let Some(e) = self.open_refusal() {
            return Err(e);
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).unwrap_or(0);
        let key = self.streams.insert(Stream::new(id, true));
        self.pending_opens += 1;
        self.live_apps += 1;
        self.ever_opened = true;
        self.control(lower, Header::window_update(id, Flags::SYN, 0));
        Ok((key, id))
    }

    /// The app of stream `key` is being told `connection_lost`: drop what
    /// it queued, cancel its timers, credit what it never read, and free
    /// the state if nothing more will flow on the wire.
    pub fn detach(&mut self, lower: Option<&mut dyn Transport>, key: usize) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        debug_assert!(s.app_live);
        s.app_live = false;
        s.send.queue.clear();
        self.live_apps -= 1;
        let (id, ntimers) = (s.id, s.timers);
        s.timers = 0;
        if let Some(lower) = lower {
            if ntimers > 0 {
                let mine: Vec<TimerId> = self
                    .timers
                    .iter()
                    .filter(|(_, &(k, i))| k == key && i == id)
                    .map(|(t, _)| *t)
                    .collect();
                for t in mine {
                    self.timers.remove(&t);
                    lower.cancel_timer(t);
                }
            }
            self.discard_buffered(lower, key);
        }
        self.try_free(key);
    }

    pub fn try_free(&mut self, key: usize) {
        if self.streams.get(key).is_some_and(|s| s.can_free()) {
            self.free(key);
        }
    }

    /// Forget stream `key`. If we reset it, remember how much the peer may
    /// still have in flight for it.
    pub fn free(&mut self, key: usize) {
        let Some(s) = self.streams.remove(key) else {
            return;
        };
        self.granted = self.granted.saturating_sub(s.recv.growth());
        self.shares.forget(s.busy);
        if s.outbound && !s.acked {
            self.pending_opens -= 1;
        }
        if s.rst_sent && !s.recv.fin && s.recv.window > 0 && self.cfg.reset_grace_streams > 0 {
            if self.tombstones.len() >= self.cfg.reset_grace_streams {
                self.tombstones.pop_front();
            }
            self.tombstones.push_back((s.id, s.recv.window));
        }
    }

    /// Reset stream `key` (the app aborted, or we refuse it): drop its
    /// buffers and send RST.
    pub fn reset_stream(&mut self, lower: &mut dyn Transport, key: usize) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        s.send.queue.clear();
        s.recv.buf.clear();
        s.life.abort();
        s.reset = true;
        s.rst_sent = true;
        let h = Header::window_update(s.id, Flags::RST, 0);
        self.control(lower, h);
    }

    /// Hand data frames below, round-robin over the ready streams, while
    /// the transport below takes them. Frames are `max_frame` bytes when
    /// other streams wait, up to `max_burst` when one stream is alone.
    /// Payloads are slices of what the apps wrote (no copy), except small
    /// ones, copied behind their header into one buffer.
    pub fn flush(&mut self, lower: &mut dyn Transport) {
        if !self.ready.is_empty() && self.ready.alone() != self.alone {
            self.alone = !self.alone;
            let (high, low) = self.lower_marks();
            lower.set_write_buffer_limits(high, low);
        }
        while !self.ready.is_empty() && self.lower_ok(lower) {
            let Some(key) = self.ready.pop(&mut self.streams) else {
                break;
            };
            let limit = if self.ready.others_waiting() {
                self.cfg.max_frame
            } else {
                self.cfg.max_burst
            };
            let Core {
                streams,
                ready,
                arena,
                dirty,
                bytes_out,
                ..
            } = self;
            let Some(s) = streams.get_mut(key) else {
                continue;
            };
            if !s.has_send_work() {
                continue;
            }
            let n = s.send.sendable(limit);
            let fin = s.life.wants_fin() && n == s.send.queue.len();
            if n == 0 && !fin {
                continue;
            }
            let flags = if fin { Flags::FIN } else { Flags::NONE };
            let h = Header::data(s.id, flags, n as u32);
            let q = &mut s.send.queue;
            if n <= SMALL_FRAME {
                // Header and payload in one buffer (a small copy).
                lower.write(arena.frame(h, |buf| {
                    let mut left = n;
                    while let Some(front) = q.front_slice().filter(|_| left > 0) {
                        let m = front.len().min(left);
                        buf.put_slice(&front[..m]);
                        q.advance(m);
                        left -= m;
                    }
                }));
            } else {
                lower.write(arena.header(h));
                let mut left = n;
                while left > 0 && !q.is_empty() {
                    // The front buffer itself, or a slice of it: no copy.
                    let m = q.front_slice().map_or(0, |f| f.len()).min(left);
                    lower.write(q.take(m));
                    left -= m;
                }
            }
            s.send.credit -= n as u32;
            *bytes_out += (HEADER_LEN + n) as u64;
            if fin {
                s.life.fin_sent();
            }
            // Callbacks can be due only if the FIN went (write_closed, or
            // connection_lost after close), the queue fell while the app
            // is paused (resume_writing), or credit ran out (the queue may
            // be stranded once the peer has ended).
            if (fin || s.send.marks.is_paused() || s.send.credit == 0) && !s.dirty {
                s.dirty = true;
                dirty.push(key);
            }
            ready.offer_held(s, key);
        }
    }

    /// Start a ping (if none is outstanding) to measure the round trip.
    pub fn send_ping(&mut self, lower: &mut dyn Transport) {
        if let Some(opaque) = self.ping.start(lower.now()) {
            self.control(lower, Header::ping(Flags::SYN, opaque));
        }
    }

    /// This layer's entry in a subchannel's `TransportInfo`.
    pub fn layer_info(&self, key: usize) -> LayerInfo {
        let mut l = LayerInfo::new("mux");
        l.facts.push((
            "role",
            match self.role {
                Role::Client => "client",
                Role::Server => "server",
            }
            .to_string(),
        ));
        if let Some(s) = self.streams.get(key) {
            l.buffered = s.send.queue.len();
            l.facts.push(("stream", s.id.to_string()));
            l.facts.push(("send_window", s.send.credit.to_string()));
            l.facts.push(("recv_window", s.recv.window.to_string()));
            l.facts.push(("recv_window_max", s.recv.target.to_string()));
            l.facts
                .push(("recv_window_limit", s.recv.limit.to_string()));
        }
        if let Some(rtt) = self.ping.rtt {
            l.facts.push(("rtt_us", rtt.as_micros().to_string()));
        }
        l.facts.push(("subchannels", self.live_apps.to_string()));
        l.bytes_in = self.bytes_in;
        l.bytes_out = self.bytes_out;
        l
    }

    /// What a factory is told about a new inbound subchannel.
    pub fn stream_info(&self, lower: &dyn Transport, key: usize) -> TransportInfo {
        let mut info = lower.info();
        info.push(self.layer_info(key));
        info
    }
}
