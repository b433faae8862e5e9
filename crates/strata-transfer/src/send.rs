//! The sending end: [`Sending`] and the protocols it runs on subchannels.
//!
//! One [`Sending`] per transfer holds the plan and the progress. Its
//! [`session`](Sending::session) protocol runs on the first subchannel (on
//! a client, the one the mux opens for its app; on a server, the first the
//! peer opens). From that channel's callbacks — and from every entry's —
//! it opens one subchannel per entry through `t.channels()`, keeping at most
//! [`SendOptions::parallel`] in flight.
//!
//! Per file, on its own subchannel:
//!
//! ```text
//!   sender                                   receiver
//!   opening (path, size, mode, encoding) ──>
//!   content, read from disk as the window allows ──>
//!   close_write (mux FIN)                ──>  read_closed: fsync, rename
//!                                        <──  receipt (status, bytes, BLAKE3), close
//!   read_closed: compare with our BLAKE3, close
//! ```
//!
//! Reading is *pulled by flow control*: a chunk is taken from the file only
//! while the subchannel's write buffer is under its high-water mark, and
//! taking resumes on `resume_writing`. Files larger than a chunk are read
//! and hashed by a read-ahead thread a bounded number of chunks ahead
//! ([`crate::source`]); smaller ones in one read inside the callback. So
//! memory per file is bounded by the water mark plus the read-ahead,
//! whatever the file's size, and a slow network or receiver slows the
//! reading.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use strata_core::{BoxProtocol, OpenError, Protocol, Reason, TimerId, Transport};

use crate::plan::{Entry, EntryKind, Plan};
use crate::progress::{Item, Progress, State};
use crate::source::{Next, Source};
use crate::wire::{hex, Encoding, Opening, Receipt, Status, MAX_RECEIPT};

/// How a sender behaves.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Entries in flight at once (each on its own subchannel). Default 8.
    pub parallel: usize,
    /// Compress file content with zstd at this level. Default `None` (raw).
    pub zstd: Option<i32>,
    /// Bytes read from a file at a time. Default 256 KiB.
    pub chunk: usize,
    /// Each subchannel's write-buffer high-water mark: reading pauses above
    /// it. Default 1 MiB.
    pub high_water: usize,
    /// Bytes a file's read-ahead thread may read beyond what the subchannel
    /// took. Default 8 MiB: enough that the 1 ms the protocol may wait for
    /// a chunk never starves a fast connection.
    pub read_ahead: usize,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            parallel: 8,
            zstd: None,
            chunk: 256 * 1024,
            high_water: 1024 * 1024,
            read_ahead: 8 << 20,
        }
    }
}

/// How soon an entry looks again when its read-ahead thread is behind.
const READ_POLL: Duration = Duration::from_millis(1);
/// How soon an entry whose buffer is full looks again if no pause_writing
/// came (a fallback; resume_writing is the normal wake-up).
const STALL_POLL: Duration = Duration::from_millis(5);

/// How often the session channel looks for free slots and the end.
const TICK: Duration = Duration::from_millis(2);

struct Inner {
    entries: Vec<Entry>,
    progress: Progress,
    opts: SendOptions,
    next: usize,
    in_flight: usize,
    /// The session channel has sent its end of stream.
    ended: bool,
    /// The session channel is gone: no more opens.
    session_gone: bool,
}

/// One transfer's sending end. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Sending {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Sending")
            .field("entries", &st.entries.len())
            .field("next", &st.next)
            .field("in_flight", &st.in_flight)
            .finish()
    }
}

impl Sending {
    /// A transfer of `plan`.
    pub fn new(plan: Plan, opts: SendOptions) -> Sending {
        let items = plan
            .entries
            .iter()
            .map(|e| Item::new(e.path.clone(), e.kind == EntryKind::Dir, e.size()))
            .collect();
        Sending {
            inner: Arc::new(Mutex::new(Inner {
                entries: plan.entries,
                progress: Progress {
                    items,
                    ..Progress::default()
                },
                opts: SendOptions {
                    parallel: opts.parallel.max(1),
                    chunk: opts.chunk.max(1024),
                    ..opts
                },
                next: 0,
                in_flight: 0,
                ended: false,
                session_gone: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The protocol for the session subchannel (call once).
    pub fn session(&self) -> BoxProtocol {
        Box::new(SessionTx {
            s: self.clone(),
            buf: BytesMut::new(),
            timer: None,
        })
    }

    /// A snapshot of the progress.
    pub fn progress(&self) -> Progress {
        self.lock().progress.clone()
    }

    /// Open entries' subchannels while slots are free.
    fn fill(&self, t: &mut dyn Transport) {
        let mut st = self.lock();
        if st.session_gone || st.ended {
            return;
        }
        while st.in_flight < st.opts.parallel && st.next < st.entries.len() {
            let Some(ch) = t.channels() else {
                fail_rest(&mut st, "the stack has no mux to open subchannels on");
                return;
            };
            let idx = st.next;
            let entry = st.entries[idx].clone();
            let proto = Box::new(EntryTx::new(self.clone(), idx, entry, &st.opts));
            match ch.open_channel(proto) {
                Ok(_) => {
                    st.next += 1;
                    st.in_flight += 1;
                    st.progress.items[idx].state = State::Moving;
                    st.progress.started.get_or_insert_with(Instant::now);
                }
                Err(OpenError::TooMany { .. }) => return, // later
                Err(e) => {
                    fail_rest(&mut st, &format!("cannot open a subchannel: {e}"));
                    return;
                }
            }
        }
    }

    fn resolve(&self, idx: usize, state: State, hash: Option<[u8; 32]>) {
        let mut st = self.lock();
        let item = &mut st.progress.items[idx];
        if item.is_resolved() {
            return;
        }
        if let State::Failed(why) = &state {
            tracing::warn!(path = %item.path, %why, "not transferred");
        }
        item.state = state;
        item.hash = hash;
    }

    fn add_moved(&self, idx: usize, n: u64) {
        self.lock().progress.items[idx].moved += n;
    }
}

fn fail_rest(st: &mut Inner, why: &str) {
    let n = st.entries.len();
    for i in st.next..n {
        st.progress.items[i].state = State::Failed(format!("not sent: {why}"));
    }
    st.next = n;
}

/// The session subchannel, sender side.
struct SessionTx {
    s: Sending,
    buf: BytesMut,
    timer: Option<TimerId>,
}

impl SessionTx {
    fn tick(&mut self, t: &mut dyn Transport) {
        self.s.fill(t);
        let done = {
            let st = self.s.lock();
            st.next == st.entries.len() && st.in_flight == 0 && !st.ended
        };
        if done {
            self.s.lock().ended = true;
            t.close_write(); // "that was everything"
            self.timer = None;
        } else if !self.s.lock().ended {
            self.timer = Some(t.set_timer_after(TICK));
        }
    }
}

impl Protocol for SessionTx {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let opening = {
            let st = self.s.lock();
            let files = st.entries.iter().filter(|e| e.kind != EntryKind::Dir);
            Opening::Session {
                files: files.clone().count() as u64,
                dirs: (st.entries.len() - files.clone().count()) as u64,
                bytes: files.map(Entry::size).sum(),
            }
        };
        self.s
            .lock()
            .progress
            .started
            .get_or_insert_with(Instant::now);
        t.write(opening.encode());
        self.tick(t);
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.buf.extend_from_slice(&data);
        if self.buf.len() > MAX_RECEIPT {
            self.s.lock().progress.session = Some(Err("the receiver's summary is too long".into()));
            t.abort();
        }
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        let outcome = match Receipt::decode(&self.buf) {
            Ok(Some((r, _))) if r.status == Status::Ok => Ok(r.message),
            Ok(Some((r, _))) => Err(r.message),
            Ok(None) => Err("the receiver ended the session without a summary".into()),
            Err(e) => Err(format!("the receiver's summary is malformed: {e}")),
        };
        {
            let mut st = self.s.lock();
            st.progress.session = Some(outcome);
            st.progress.finished = Some(Instant::now());
        }
        t.close();
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if Some(timer) == self.timer {
            self.timer = None;
            self.tick(t);
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        let mut st = self.s.lock();
        st.session_gone = true;
        if st.progress.session.is_none() {
            st.progress.session = Some(Err(format!("the session ended: {reason}")));
        }
        fail_rest(&mut st, &format!("the session ended ({reason})"));
        st.progress.finished.get_or_insert_with(Instant::now);
    }
}

/// One entry's subchannel, sender side.
struct EntryTx {
    s: Sending,
    idx: usize,
    entry: Entry,
    source: Option<Source>,
    remaining: u64,
    /// BLAKE3 of everything sent, once the source has ended.
    hash: Option<[u8; 32]>,
    /// Looking again for a chunk the read-ahead thread has not made yet
    /// (or for room, see `pump`).
    timer: Option<TimerId>,
    /// Between pause_writing and resume_writing.
    paused: bool,
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    chunk: usize,
    high: usize,
    level: Option<i32>,
    read_ahead: usize,
    buf: BytesMut,
    resolved: bool,
    /// Our slot among the `parallel` was given back.
    released: bool,
}

impl EntryTx {
    fn release(&mut self) {
        if !self.released {
            self.released = true;
            self.s.lock().in_flight -= 1;
        }
    }

    fn new(s: Sending, idx: usize, entry: Entry, opts: &SendOptions) -> EntryTx {
        EntryTx {
            s,
            idx,
            remaining: entry.size(),
            entry,
            source: None,
            hash: None,
            timer: None,
            paused: false,
            encoder: None,
            chunk: opts.chunk,
            high: opts.high_water,
            level: opts.zstd,
            read_ahead: opts.read_ahead,
            buf: BytesMut::new(),
            resolved: false,
            released: false,
        }
    }

    fn fail(&mut self, t: &mut dyn Transport, why: String) {
        self.resolved = true;
        self.s.resolve(self.idx, State::Failed(why), None);
        t.abort();
    }

    /// Take chunks and write them while the subchannel has room; end the
    /// stream after the last one.
    fn pump(&mut self, t: &mut dyn Transport) {
        if self.resolved || !t.can_write() {
            return;
        }
        // Write until the buffer is *over* the mark, so that the transport
        // says pause_writing and, once drained, resume_writing.
        while t.write_buffer_len() <= self.high {
            let Some(source) = self.source.as_mut() else {
                return;
            };
            let buf = match source.next(self.chunk) {
                Next::Chunk(b) => b,
                Next::Wait => {
                    if self.timer.is_none() {
                        self.timer = Some(t.set_timer_after(READ_POLL));
                    }
                    return;
                }
                Next::Failed(why) => return self.fail(t, why),
                Next::End(hash) => {
                    if self.remaining != 0 {
                        let why = format!("{} shrank while being sent", self.entry.local.display());
                        return self.fail(t, why);
                    }
                    self.hash = Some(hash);
                    self.source = None;
                    if let Some(enc) = self.encoder.take() {
                        match enc.finish() {
                            Ok(out) => t.write(Bytes::from(out)),
                            Err(e) => return self.fail(t, format!("compressing: {e}")),
                        }
                    }
                    t.close_write();
                    return;
                }
            };
            let n = buf.len() as u64;
            if n > self.remaining {
                let why = format!("{} grew while being sent", self.entry.local.display());
                return self.fail(t, why);
            }
            self.remaining -= n;
            self.s.add_moved(self.idx, n);
            match &mut self.encoder {
                None => t.write(buf),
                Some(enc) => {
                    use std::io::Write;
                    if let Err(e) = enc.write_all(&buf) {
                        return self.fail(t, format!("compressing: {e}"));
                    }
                    let out = std::mem::take(enc.get_mut());
                    if !out.is_empty() {
                        t.write(Bytes::from(out));
                    }
                }
            }
        }
        // Full. resume_writing normally wakes us; should the transport not
        // say pause_writing (its buffer is counted with the layers below,
        // its water marks perhaps on its own queue only), a timer does.
        if !self.paused && self.timer.is_none() && self.source.is_some() {
            self.timer = Some(t.set_timer_after(STALL_POLL));
        }
    }
}

impl Protocol for EntryTx {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let path = self.entry.path.clone();
        let mode = self.entry.mode;
        match self.entry.kind {
            EntryKind::Dir => {
                t.write(Opening::Dir { path, mode }.encode());
                t.close_write();
            }
            EntryKind::File { size } => {
                let depth = (self.read_ahead / self.chunk).max(2);
                match Source::open(&self.entry.local, size, self.chunk, depth) {
                    Ok(src) => self.source = Some(src),
                    Err(e) => {
                        return self.fail(t, format!("{}: {e}", self.entry.local.display()));
                    }
                }
                let encoding = match self.level {
                    Some(level) => match zstd::stream::write::Encoder::new(Vec::new(), level) {
                        Ok(enc) => {
                            self.encoder = Some(enc);
                            Encoding::Zstd
                        }
                        Err(e) => return self.fail(t, format!("zstd: {e}")),
                    },
                    None => Encoding::Raw,
                };
                t.set_write_buffer_limits(self.high, self.high / 4);
                t.write(
                    Opening::File {
                        path,
                        size,
                        mode,
                        encoding,
                    }
                    .encode(),
                );
                self.pump(t);
            }
        }
    }

    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.buf.extend_from_slice(&data);
        if self.buf.len() > MAX_RECEIPT {
            self.fail(t, "the receiver's receipt is too long".into());
        }
    }

    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.paused = true;
        if let Some(id) = self.timer.take() {
            t.cancel_timer(id);
        }
    }

    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.paused = false;
        self.pump(t);
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if self.timer == Some(timer) {
            self.timer = None;
            self.pump(t);
        }
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        if !self.resolved {
            self.resolved = true;
            let (state, hash) = match Receipt::decode(&self.buf) {
                Ok(Some((r, _))) => self.judge(r),
                Ok(None) => (
                    State::Failed("the receiver closed without a receipt".into()),
                    None,
                ),
                Err(e) => (State::Failed(format!("bad receipt: {e}")), None),
            };
            self.s.resolve(self.idx, state, hash);
        }
        t.close();
        // Our slot is free: open the next entry from here, at once.
        self.release();
        self.s.fill(t);
    }

    fn connection_lost(&mut self, reason: Reason) {
        if !self.resolved {
            self.resolved = true;
            self.s.resolve(
                self.idx,
                State::Failed(format!("did not arrive (subchannel ended: {reason})")),
                None,
            );
        }
        self.release();
    }
}

impl EntryTx {
    /// Compare the receipt with what we sent.
    fn judge(&mut self, r: Receipt) -> (State, Option<[u8; 32]>) {
        match (r.status, self.entry.kind) {
            (Status::Ok, EntryKind::Dir) => (State::Done, None),
            (Status::Ok, EntryKind::File { size }) => {
                let ours = self.hash.unwrap_or_default();
                if self.remaining != 0 || self.hash.is_none() {
                    (
                        State::Failed("the receiver answered before the end".into()),
                        None,
                    )
                } else if r.bytes != size {
                    (
                        State::Failed(format!("the receiver stored {} of {size} bytes", r.bytes)),
                        None,
                    )
                } else if r.hash != ours {
                    (
                        State::Failed(format!(
                            "hash mismatch: sent {}, receiver stored {}",
                            hex(&ours),
                            hex(&r.hash)
                        )),
                        None,
                    )
                } else {
                    (State::Done, Some(ours))
                }
            }
            (Status::Refused, _) => (State::Failed(format!("refused: {}", r.message)), None),
            (Status::Failed, _) => (State::Failed(format!("failed: {}", r.message)), None),
        }
    }
}
