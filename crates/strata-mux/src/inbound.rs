//! Frames from the peer: what each one does to the connection and its
//! streams, checked against every rule of the wire format.

use strata_core::{Bytes, Reason, Transport};

use crate::core::Current;
use crate::error::{GoAwayCode, MuxError};
use crate::frame::{Flags, FrameType, Header, Item, INITIAL_WINDOW};
use crate::session::Mux;
use crate::stream::Stream;
use crate::view::View;

impl Mux {
    /// Decode `data` frame by frame and act on each; a violation ends the
    /// connection.
    pub(crate) fn on_input(&mut self, lower: &mut dyn Transport, mut data: Bytes) {
        loop {
            if self.core.failed || self.core.lower_closed {
                return;
            }
            let item = match self.core.decoder.next(&mut data) {
                Ok(Some(item)) => item,
                Ok(None) => return,
                Err(e) => return self.fail(lower, e.into()),
            };
            if let Err(e) = self.on_item(lower, item) {
                return self.fail(lower, e);
            }
        }
    }

    fn on_item(&mut self, lower: &mut dyn Transport, item: Item) -> Result<(), MuxError> {
        match item {
            Item::Header(h) => match h.ty {
                FrameType::Ping => {
                    self.on_ping(lower, h);
                    Ok(())
                }
                FrameType::GoAway => self.on_go_away(h),
                FrameType::Data | FrameType::WindowUpdate => self.on_stream_header(lower, h),
            },
            Item::Payload(b) => {
                if let Current::Stream(id, key, _) = self.core.current {
                    if let Some(key) = self.core.streams.still(key, id) {
                        self.receive(lower, key, b);
                    }
                }
                Ok(())
            }
            Item::DataEnd => {
                let cur = std::mem::replace(&mut self.core.current, Current::None);
                if let Current::Stream(id, key, flags) = cur {
                    if flags.0 & (Flags::FIN.0 | Flags::RST.0) != 0 {
                        if let Some(key) = self.core.streams.still(key, id) {
                            self.on_flags(lower, key, flags)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn on_ping(&mut self, lower: &mut dyn Transport, h: Header) {
        let c = &mut self.core;
        if h.flags.contains(Flags::SYN) {
            // Answer, unless the peer floods us with pings while not
            // reading our answers.
            if lower.write_buffer_len() <= c.cfg.max_control_backlog {
                c.control(lower, Header::ping(Flags::ACK, h.length));
            }
        } else if h.flags.contains(Flags::ACK) && c.ping.answered(h.length, lower.now()) {
            if let Some(t) = c.ping.timeout_timer.take() {
                lower.cancel_timer(t);
            }
        }
    }

    fn on_go_away(&mut self, h: Header) -> Result<(), MuxError> {
        match GoAwayCode::from_u32(h.length) {
            GoAwayCode::Normal => {
                self.core.peer_go_away = true;
                Ok(())
            }
            code => Err(MuxError::PeerGoAway(code)),
        }
    }

    /// A Data or WindowUpdate header.
    fn on_stream_header(&mut self, lower: &mut dyn Transport, h: Header) -> Result<(), MuxError> {
        if h.flags.contains(Flags::SYN) && !self.accept_syn(lower, h)? {
            return Ok(());
        }
        let c = &mut self.core;
        let Some(key) = c.streams.find(h.stream) else {
            return self.on_gone_stream(h);
        };
        let s = c.streams.get_mut(key).expect("find found it");
        if h.flags.contains(Flags::ACK) && s.outbound && !s.acked {
            s.acked = true;
            c.pending_opens -= 1;
        }
        match h.ty {
            FrameType::WindowUpdate => {
                if !s.send.add_credit(h.length) {
                    return Err(MuxError::WindowOverflow { stream: h.stream });
                }
                c.offer(key);
                self.on_flags(lower, key, h.flags)
            }
            _ => {
                if h.length > 0 && s.recv.fin {
                    return Err(MuxError::StreamClosed {
                        stream: h.stream,
                        len: h.length,
                    });
                }
                if let Err(window) = s.recv.take_window(h.length) {
                    return Err(MuxError::WindowExceeded {
                        stream: h.stream,
                        len: h.length,
                        window,
                    });
                }
                c.current = Current::Stream(h.stream, key, h.flags);
                Ok(())
            }
        }
    }

    /// The peer opens stream `h.stream`. Returns whether it was accepted
    /// (a refused stream is reset; its frame is then ignored).
    fn accept_syn(&mut self, lower: &mut dyn Transport, h: Header) -> Result<bool, MuxError> {
        let c = &mut self.core;
        let id = h.stream;
        if c.is_ours(id) {
            return Err(MuxError::WrongParity { stream: id });
        }
        // yamux implementations allocate ids in order but send a stream's
        // SYN only with its first frame, so opens may arrive out of order
        // (4 after 6). An id below the highest seen is a new stream unless
        // it is live or was reset recently (its late frames are expected);
        // reopening those is a protocol error.
        if id <= c.last_peer_id
            && (c.streams.key_of(id).is_some() || c.tombstones.iter().any(|(t, _)| *t == id))
        {
            return Err(MuxError::StreamIdReused {
                stream: id,
                last: c.last_peer_id,
            });
        }
        c.last_peer_id = c.last_peer_id.max(id);
        let full = c.streams.len() >= c.cfg.max_streams;
        let refuse = c.go_away_sent || c.lower_eof || c.failed || full;
        let app = if refuse {
            None
        } else {
            let key = c.streams.insert(Stream::new(id, false));
            let info = c.stream_info(lower, key);
            let app = (c.accept)(&info);
            if app.is_none() {
                c.streams.remove(key);
            }
            app.map(|a| (key, a))
        };
        let Some((key, app)) = app else {
            // Refused: reset it, remember the window the peer may fill, and
            // count it against the flood limit.
            c.control(lower, Header::window_update(id, Flags::RST, 0));
            if c.cfg.reset_grace_streams > 0 {
                if c.tombstones.len() >= c.cfg.reset_grace_streams {
                    c.tombstones.pop_front();
                }
                c.tombstones.push_back((id, INITIAL_WINDOW));
            }
            let now = lower.now();
            c.resets.note(now, c.cfg.max_resets, c.cfg.reset_interval)?;
            if h.ty == FrameType::Data {
                self.on_gone_stream(h)?;
            }
            return Ok(false);
        };
        c.live_apps += 1;
        c.ever_opened = true;
        c.control(lower, Header::window_update(id, Flags::ACK, 0));
        self.place(key, app);
        // `connection_made` before anything the opening frame carries.
        self.settle(lower, key);
        Ok(true)
    }

    /// A frame for a stream we hold no state for: a protocol error unless
    /// the stream existed and the frame is a late window update or data the
    /// peer sent before it saw our RST.
    fn on_gone_stream(&mut self, h: Header) -> Result<(), MuxError> {
        let c = &mut self.core;
        let existed = if c.is_ours(h.stream) {
            h.stream < c.next_id || c.next_id == 0
        } else {
            h.stream <= c.last_peer_id
        };
        if !existed {
            return Err(MuxError::UnknownStream {
                ty: h.ty,
                stream: h.stream,
            });
        }
        if h.ty != FrameType::Data {
            return Ok(());
        }
        c.current = Current::Discard;
        if h.length == 0 {
            return Ok(());
        }
        if let Some(t) = c.tombstones.iter_mut().find(|(id, _)| *id == h.stream) {
            if t.1 >= h.length {
                t.1 -= h.length;
                return Ok(());
            }
        }
        Err(MuxError::StreamClosed {
            stream: h.stream,
            len: h.length,
        })
    }

    /// FIN and RST, once everything the frame carried is taken in.
    fn on_flags(
        &mut self,
        lower: &mut dyn Transport,
        key: usize,
        flags: Flags,
    ) -> Result<(), MuxError> {
        let c = &mut self.core;
        let Some(s) = c.streams.get_mut(key) else {
            return Ok(());
        };
        if flags.contains(Flags::RST) {
            if !s.reset {
                s.reset = true;
                s.life.fail(Reason::Reset);
                s.send.queue.clear();
                s.recv.buf.clear();
                let now = lower.now();
                c.resets.note(now, c.cfg.max_resets, c.cfg.reset_interval)?;
                c.mark_dirty(key);
                c.try_free(key);
            }
        } else if flags.contains(Flags::FIN) && !s.recv.fin {
            s.recv.fin = true;
            c.mark_dirty(key);
            c.try_free(key);
        }
        Ok(())
    }

    /// Payload for stream `key`: straight to its app when it is reading
    /// and nothing is held before it (the common case: no copy, no queue);
    /// held while it has paused reading; discarded (and credited) once it
    /// closed.
    fn receive(&mut self, lower: &mut dyn Transport, key: usize, b: Bytes) {
        let Mux { apps, core, .. } = self;
        let Some(s) = core.streams.get_mut(key) else {
            return;
        };
        let app = apps.get_mut(key).and_then(|a| a.as_mut());
        match app {
            Some(app) if s.life.is_reading() => {
                if s.made && !s.recv.paused && s.recv.buf.is_empty() {
                    core.credit(lower, key, b.len());
                    app.data_received(&mut View::new(core, key, lower), b);
                    self.settle(lower, key);
                } else {
                    s.recv.buf.push(b);
                }
            }
            _ => core.credit(lower, key, b.len()),
        }
    }
}
