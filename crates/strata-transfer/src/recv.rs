//! The receiving end: [`Receiving`] and the protocol it runs on every
//! inbound subchannel.
//!
//! One [`Receiving`] per connection holds the target directory, the options
//! and the progress. Its [`factory`](Receiving::factory) makes an
//! [`Incoming`] protocol for each subchannel the sender opens; the first
//! bytes (the [`Opening`]) say what the subchannel carries.
//!
//! ## Safety
//!
//! Before a byte of content is accepted:
//!
//! * the opening is bounded ([`MAX_OPENING`]) and its path checked
//!   ([`RelPath`]: relative, no `..`, no `.`, no empty components);
//! * every directory on the way is checked with `lstat`: a symbolic link
//!   is refused (so nothing can be led outside the target directory), a
//!   missing directory is created;
//! * the final name must not exist (unless overwriting was asked for; a
//!   symbolic link or a directory is never replaced), and no two entries of
//!   one session may name the same path.
//!
//! While content arrives it goes to a temporary (see [`crate::store`]),
//! and no more than the announced size is accepted (for zstd: decompressed
//! in bounded steps, so a small input cannot balloon). After the sender's
//! end of stream the file is synced and renamed into place, and only then
//! does the receipt say ok. Anything else — the sender vanishing, a short
//! file, a disk error — removes the temporary: no partial file ever has
//! the final name.
//!
//! ## Backpressure from the disk
//!
//! When the file's write queue grows past [`ReceiveOptions::high_water`],
//! the subchannel pauses reading (the mux then withholds that subchannel's
//! window, and the sender's reading of that file stops); a 1 ms timer
//! checks the queue and resumes reading below half the mark.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use strata_core::{BoxProtocol, Protocol, Reason, TimerId, Transport, TransportInfo};
use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use crate::path::RelPath;
use crate::progress::{Item, Progress, State};
use crate::store::TempFile;
use crate::wire::{Encoding, Opening, Receipt, Status, MAX_OPENING};

/// How a receiver behaves.
#[derive(Clone, Debug)]
pub struct ReceiveOptions {
    /// Replace existing files (never symbolic links or directories).
    /// Default `false`: an existing name is refused.
    pub overwrite: bool,
    /// `fsync` each file (and its directory) before it gets its final
    /// name. Default `true`.
    pub sync: bool,
    /// Write on a thread per file (default `true`), or inline in the
    /// protocol's callbacks (deterministic; for tests).
    pub threaded: bool,
    /// Files being received at once; more are refused. Default 64.
    pub max_active: usize,
    /// Bytes queued for the disk, per file, above which the subchannel
    /// pauses reading. Default 8 MiB.
    pub high_water: usize,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        ReceiveOptions {
            overwrite: false,
            sync: true,
            threaded: true,
            max_active: 64,
            high_water: 8 << 20,
        }
    }
}

/// How often a paused or finishing file checks on its writer.
const POLL: Duration = Duration::from_millis(1);
/// Output of one zstd decompression step.
const DECODE_STEP: usize = 256 * 1024;
/// Content handed to the writer at a time.
const BATCH: usize = 256 * 1024;
/// Progress is published every this many bytes (and at the end).
const PUBLISH: u64 = 1 << 20;

struct Inner {
    root: PathBuf,
    opts: ReceiveOptions,
    progress: Progress,
    claimed: HashSet<RelPath>,
    dir_modes: Vec<(RelPath, u32)>,
    active: usize,
    session_seen: bool,
}

/// One connection's receiving end. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Receiving {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Receiving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Receiving")
            .field("root", &st.root)
            .field("items", &st.progress.items.len())
            .finish()
    }
}

impl Receiving {
    /// Receive into `root` (created if missing).
    pub fn new(root: &Path, opts: ReceiveOptions) -> io::Result<Receiving> {
        std::fs::create_dir_all(root)?;
        let root = std::fs::canonicalize(root)?;
        Ok(Receiving {
            inner: Arc::new(Mutex::new(Inner {
                root,
                opts,
                progress: Progress::default(),
                claimed: HashSet::new(),
                dir_modes: Vec::new(),
                active: 0,
                session_seen: false,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The protocol for one inbound subchannel.
    pub fn channel(&self) -> BoxProtocol {
        Box::new(Incoming {
            r: self.clone(),
            buf: BytesMut::new(),
            state: In::Opening,
        })
    }

    /// A factory for a mux: one [`Incoming`] per inbound subchannel.
    pub fn factory(&self) -> impl FnMut(&TransportInfo) -> BoxProtocol + Send + 'static {
        let r = self.clone();
        move |_: &TransportInfo| r.channel()
    }

    /// A snapshot of the progress.
    pub fn progress(&self) -> Progress {
        self.lock().progress.clone()
    }

    /// The target directory (canonical).
    pub fn root(&self) -> PathBuf {
        self.lock().root.clone()
    }
}

/// Make the directories leading to `rel` under `root` (refusing symbolic
/// links and non-directories on the way) and return its full path.
fn prepare(root: &Path, rel: &RelPath) -> Result<PathBuf, String> {
    let parts: Vec<&str> = rel.components().collect();
    let (last, dirs) = parts.split_last().expect("a RelPath is not empty");
    let mut p = root.to_path_buf();
    for (i, c) in dirs.iter().enumerate() {
        p.push(c);
        let shown = || dirs[..=i].join("/");
        for attempt in 0..2 {
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(format!("{} is a symbolic link (refused)", shown()))
                }
                Ok(m) if m.is_dir() => break,
                Ok(_) => return Err(format!("{} exists and is not a directory", shown())),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => {
                    match std::fs::create_dir(&p) {
                        Ok(()) => break,
                        // Someone made it meanwhile: check it again.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(format!("creating {}: {e}", shown())),
                    }
                }
                Err(e) => return Err(format!("{}: {e}", shown())),
            }
        }
    }
    p.push(last);
    Ok(p)
}

#[cfg(unix)]
fn chmod_dir(p: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & 0o777))
}

#[cfg(not(unix))]
fn chmod_dir(_p: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// What one inbound subchannel carries.
enum In {
    /// Waiting for the opening.
    Opening,
    Session,
    Dir {
        idx: usize,
    },
    File(Box<FileRx>),
    /// The receipt is sent; the channel is closing.
    Answered,
}

struct FileRx {
    idx: usize,
    path: RelPath,
    size: u64,
    received: u64,
    file: TempFile,
    decoder: Option<Decoder<'static>>,
    /// Compressed input not yet decompressed.
    pending: VecDeque<Bytes>,
    /// Content not yet handed to the writer (handed over in batches of
    /// [`BATCH`] bytes: fewer wake-ups of the writer thread).
    batch: Vec<Bytes>,
    batch_len: usize,
    /// `received` as last published in the progress.
    published: u64,
    high: usize,
    paused: bool,
    eof: bool,
    finishing: bool,
    timer: Option<TimerId>,
}

/// The protocol on each inbound subchannel: see the [module docs](self).
pub struct Incoming {
    r: Receiving,
    buf: BytesMut,
    state: In,
}

impl Incoming {
    /// Answer with a receipt and close. The entry (if any) is failed or
    /// done accordingly.
    fn answer(&mut self, t: &mut dyn Transport, receipt: Receipt) {
        let state = std::mem::replace(&mut self.state, In::Answered);
        {
            let mut st = self.r.lock();
            let idx = match &state {
                In::Dir { idx } => Some(*idx),
                In::File(f) => Some(f.idx),
                _ => None,
            };
            if let In::File(f) = &state {
                st.active -= 1;
                if receipt.status != Status::Ok {
                    st.claimed.remove(&f.path);
                }
            }
            if let Some(idx) = idx {
                let item = &mut st.progress.items[idx];
                if receipt.status == Status::Ok {
                    item.state = State::Done;
                    item.hash = Some(receipt.hash);
                } else {
                    tracing::warn!(path = %item.path, why = %receipt.message, "not received");
                    item.state = State::Failed(receipt.message.clone());
                }
            }
        }
        if let In::File(mut f) = state {
            if receipt.status != Status::Ok {
                f.file.discard();
            }
            if let Some(id) = f.timer.take() {
                t.cancel_timer(id);
            }
        }
        t.write(receipt.encode());
        t.close();
    }

    fn refuse(&mut self, t: &mut dyn Transport, why: impl Into<String>) {
        self.answer(t, Receipt::new(Status::Refused, why));
    }

    fn failed(&mut self, t: &mut dyn Transport, why: impl Into<String>) {
        self.answer(t, Receipt::new(Status::Failed, why));
    }

    /// The opening is complete: set the channel up for what it carries.
    fn opened(&mut self, t: &mut dyn Transport, opening: Opening) {
        match opening {
            Opening::Session { files, dirs, bytes } => {
                let mut st = self.r.lock();
                if st.session_seen {
                    drop(st);
                    return self.refuse(t, "a second session on one connection");
                }
                st.session_seen = true;
                st.progress.announced = Some((files, dirs, bytes));
                st.progress.started.get_or_insert_with(Instant::now);
                drop(st);
                self.state = In::Session;
            }
            Opening::Dir { path, mode } => {
                let mut st = self.r.lock();
                let idx = st.progress.items.len();
                st.progress.items.push(Item::new(path.clone(), true, 0));
                st.progress.items[idx].state = State::Moving;
                let root = st.root.clone();
                drop(st);
                self.state = In::Dir { idx };
                let made =
                    prepare(&root, &path).and_then(|dest| match std::fs::symlink_metadata(&dest) {
                        Ok(m) if m.file_type().is_symlink() => {
                            Err(format!("{path} is a symbolic link (refused)"))
                        }
                        Ok(m) if m.is_dir() => Ok(()),
                        Ok(_) => Err(format!("{path} exists and is not a directory")),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            std::fs::create_dir(&dest).map_err(|e| format!("creating {path}: {e}"))
                        }
                        Err(e) => Err(format!("{path}: {e}")),
                    });
                match made {
                    Ok(()) => self.r.lock().dir_modes.push((path, mode)),
                    Err(why) => self.refuse(t, why),
                }
            }
            Opening::File {
                path,
                size,
                mode,
                encoding,
            } => {
                let mut st = self.r.lock();
                let idx = st.progress.items.len();
                st.progress.items.push(Item::new(path.clone(), false, size));
                st.progress.items[idx].state = State::Moving;
                st.progress.started.get_or_insert_with(Instant::now);
                // Counted as active from here; `answer` gives it back.
                st.active += 1;
                let root = st.root.clone();
                let opts = st.opts.clone();
                let claimed = st.claimed.insert(path.clone());
                let busy = st.active > opts.max_active;
                drop(st);
                let decoder = match encoding {
                    Encoding::Raw => None,
                    Encoding::Zstd => match Decoder::new() {
                        Ok(d) => Some(d),
                        Err(e) => {
                            return self.refuse_file(t, idx, &path, claimed, format!("zstd: {e}"))
                        }
                    },
                };
                if !claimed {
                    return self.refuse_file(
                        t,
                        idx,
                        &path,
                        false,
                        format!("{path} is sent twice in one session"),
                    );
                }
                if busy {
                    return self.refuse_file(t, idx, &path, true, "too many files at once");
                }
                let dest = match prepare(&root, &path) {
                    Ok(d) => d,
                    Err(why) => return self.refuse_file(t, idx, &path, true, why),
                };
                match std::fs::symlink_metadata(&dest) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Ok(m) if opts.overwrite && m.is_file() => {}
                    Ok(m) if m.file_type().is_symlink() => {
                        return self.refuse_file(
                            t,
                            idx,
                            &path,
                            true,
                            format!("{path} exists as a symbolic link (not replaced)"),
                        )
                    }
                    Ok(m) if m.is_dir() => {
                        return self.refuse_file(
                            t,
                            idx,
                            &path,
                            true,
                            format!("{path} exists as a directory"),
                        )
                    }
                    Ok(_) => {
                        return self.refuse_file(
                            t,
                            idx,
                            &path,
                            true,
                            format!("{path} exists on the receiver (not overwritten; --overwrite replaces it)"),
                        )
                    }
                    Err(e) => return self.refuse_file(t, idx, &path, true, format!("{path}: {e}")),
                }
                let file =
                    match TempFile::create(&dest, mode, opts.overwrite, opts.sync, opts.threaded) {
                        Ok(f) => f,
                        Err(e) => {
                            return self.refuse_file(
                                t,
                                idx,
                                &path,
                                true,
                                format!("creating a temporary for {path}: {e}"),
                            )
                        }
                    };
                self.state = In::File(Box::new(FileRx {
                    idx,
                    path,
                    size,
                    received: 0,
                    file,
                    decoder,
                    pending: VecDeque::new(),
                    batch: Vec::new(),
                    batch_len: 0,
                    published: 0,
                    high: opts.high_water.max(64 * 1024),
                    paused: false,
                    eof: false,
                    finishing: false,
                    timer: None,
                }));
            }
        }
    }

    /// Refuse a file before any of it was stored.
    fn refuse_file(
        &mut self,
        t: &mut dyn Transport,
        idx: usize,
        path: &RelPath,
        claimed: bool,
        why: impl Into<String>,
    ) {
        let why = why.into();
        {
            let mut st = self.r.lock();
            st.active -= 1;
            if claimed {
                st.claimed.remove(path);
            }
            tracing::warn!(%path, %why, "refused");
            st.progress.items[idx].state = State::Failed(why.clone());
        }
        self.state = In::Answered;
        t.write(Receipt::new(Status::Refused, why).encode());
        t.close();
    }

    /// Content for the file: decode, check, queue; pause if the disk lags.
    fn content(&mut self, t: &mut dyn Transport, data: Bytes) {
        let In::File(f) = &mut self.state else {
            return;
        };
        let r = if f.decoder.is_some() {
            f.pending.push_back(data);
            f.decode_some(&self.r)
        } else {
            f.accept(&self.r, data)
        };
        if let Err(why) = r {
            return self.failed(t, why);
        }
        self.poll(t);
    }

    /// Look at the file's writer: failure, backpressure, completion.
    fn poll(&mut self, t: &mut dyn Transport) {
        let In::File(f) = &mut self.state else {
            return;
        };
        if let Some(e) = f.file.error() {
            let why = format!("{}: {e}", f.path);
            return self.failed(t, why);
        }
        if f.decoder.is_some() && !f.pending.is_empty() {
            if let Err(why) = f.decode_some(&self.r) {
                return self.failed(t, why);
            }
        }
        let backlog = f.file.backlog();
        if !f.paused && backlog > f.high {
            f.paused = true;
            t.pause_reading();
        } else if f.paused && backlog <= f.high / 2 {
            f.paused = false;
            t.resume_reading();
        }
        if f.eof && !f.finishing && f.pending.is_empty() {
            if let Err(why) = f.drain_decoder(&self.r) {
                return self.failed(t, why);
            }
            f.flush();
            if f.received != f.size {
                let why = format!(
                    "{}: the sender ended after {} of {} bytes",
                    f.path, f.received, f.size
                );
                return self.failed(t, why);
            }
            f.finishing = true;
            f.file.finish();
        }
        if f.finishing {
            match f.file.done() {
                Some(Ok(hash)) => {
                    let receipt = Receipt {
                        status: Status::Ok,
                        bytes: f.received,
                        hash,
                        message: String::new(),
                    };
                    return self.answer(t, receipt);
                }
                Some(Err(e)) => {
                    let why = format!("{}: {e}", f.path);
                    return self.failed(t, why);
                }
                None => {}
            }
        }
        let waiting = f.paused || f.finishing || !f.pending.is_empty();
        if waiting && f.timer.is_none() {
            f.timer = Some(t.set_timer_after(POLL));
        }
    }

    /// The session's end: every entry was sent. Apply directory modes
    /// (deepest first, now that nothing more is written into them) and
    /// answer with a summary.
    fn end_session(&mut self, t: &mut dyn Transport) {
        let summary = {
            let mut st = self.r.lock();
            let mut modes = std::mem::take(&mut st.dir_modes);
            modes.sort_by_key(|(p, _)| std::cmp::Reverse(p.depth()));
            let mut problems = Vec::new();
            for (p, mode) in &modes {
                if let Err(e) = chmod_dir(&p.under(&st.root), *mode) {
                    problems.push(format!("{p}: mode: {e}"));
                }
            }
            let (files, dirs, bytes) = st.progress.announced.unwrap_or_default();
            let done = |dir: bool| {
                st.progress
                    .items
                    .iter()
                    .filter(|i| i.dir == dir && i.state == State::Done)
                    .count() as u64
            };
            let (got_files, got_dirs) = (done(false), done(true));
            let stored: u64 = st
                .progress
                .items
                .iter()
                .filter(|i| !i.dir && i.state == State::Done)
                .map(|i| i.size)
                .sum();
            let failed: Vec<String> = st
                .progress
                .items
                .iter()
                .filter_map(|i| match &i.state {
                    State::Failed(w) => Some(format!("{}: {w}", i.path)),
                    _ => None,
                })
                .collect();
            problems.extend(failed);
            let text = format!(
                "received {got_files}/{files} files, {got_dirs}/{dirs} directories, {stored}/{bytes} bytes"
            );
            let ok = got_files == files && got_dirs == dirs && problems.is_empty();
            let message = if ok {
                text
            } else {
                format!("{text}; {}", problems.join("; "))
            };
            st.progress.session = Some(if ok {
                Ok(message.clone())
            } else {
                Err(message.clone())
            });
            st.progress.finished = Some(Instant::now());
            if st.opts.sync {
                if let Ok(d) = std::fs::File::open(&st.root) {
                    let _ = d.sync_all();
                }
            }
            Receipt {
                status: if ok { Status::Ok } else { Status::Failed },
                bytes: stored,
                hash: [0; 32],
                message,
            }
        };
        self.state = In::Answered;
        t.write(summary.encode());
        t.close();
    }
}

impl FileRx {
    /// Plain content: count, check, queue for the disk.
    fn accept(&mut self, r: &Receiving, data: Bytes) -> Result<(), String> {
        let n = data.len() as u64;
        if self.received + n > self.size {
            return Err(format!(
                "{}: more content than the announced {} bytes",
                self.path, self.size
            ));
        }
        self.received += n;
        self.batch_len += data.len();
        self.batch.push(data);
        if self.batch_len >= BATCH {
            self.flush();
        }
        if self.received - self.published >= PUBLISH || self.received == self.size {
            self.published = self.received;
            r.lock().progress.items[self.idx].moved = self.received;
        }
        Ok(())
    }

    /// Hand the batch to the writer.
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.batch_len = 0;
            self.file.write_batch(std::mem::take(&mut self.batch));
        }
    }

    /// Decompress pending input in bounded steps while the disk keeps up.
    fn decode_some(&mut self, r: &Receiving) -> Result<(), String> {
        while self.file.backlog() <= self.high {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let mut out = vec![0u8; DECODE_STEP];
            let (used, made) = {
                let dec = self.decoder.as_mut().expect("zstd channel");
                let mut inb = InBuffer::around(&front[..]);
                let mut outb = OutBuffer::around(&mut out[..]);
                dec.run(&mut inb, &mut outb)
                    .map_err(|e| format!("{}: zstd: {e}", self.path))?;
                (inb.pos(), outb.pos())
            };
            front.advance(used);
            if front.is_empty() {
                self.pending.pop_front();
            }
            if made > 0 {
                out.truncate(made);
                self.accept(r, Bytes::from(out))?;
            } else if used == 0 {
                return Err(format!("{}: zstd: the stream makes no progress", self.path));
            }
        }
        Ok(())
    }

    /// At the end of input: what the decoder still holds.
    fn drain_decoder(&mut self, r: &Receiving) -> Result<(), String> {
        loop {
            let Some(dec) = self.decoder.as_mut() else {
                return Ok(());
            };
            let mut out = vec![0u8; DECODE_STEP];
            let made = {
                let mut outb = OutBuffer::around(&mut out[..]);
                let mut inb = InBuffer::around(&[][..]);
                dec.run(&mut inb, &mut outb)
                    .map_err(|e| format!("{}: zstd: {e}", self.path))?;
                outb.pos()
            };
            if made == 0 {
                return Ok(());
            }
            out.truncate(made);
            self.accept(r, Bytes::from(out))?;
        }
    }
}

impl Protocol for Incoming {
    fn data_received(&mut self, t: &mut dyn Transport, mut data: Bytes) {
        match self.state {
            In::Opening => {
                self.buf.extend_from_slice(&data);
                match Opening::decode(&self.buf) {
                    Ok(None) if self.buf.len() > MAX_OPENING => {
                        self.refuse(t, "the opening is too long")
                    }
                    Ok(None) => {}
                    Ok(Some((opening, used))) => {
                        let rest = self.buf.split_off(used).freeze();
                        self.buf = BytesMut::new();
                        self.opened(t, opening);
                        if !rest.is_empty() {
                            self.data_received(t, rest);
                        }
                    }
                    Err(e) => self.refuse(t, e.to_string()),
                }
            }
            In::File(_) => self.content(t, std::mem::take(&mut data)),
            In::Session | In::Dir { .. } => {
                if !data.is_empty() {
                    self.refuse(t, "unexpected content after the opening");
                }
            }
            In::Answered => {}
        }
    }

    fn read_closed(&mut self, t: &mut dyn Transport) {
        match &mut self.state {
            In::Opening => self.refuse(t, "the channel ended before its opening"),
            In::Session => self.end_session(t),
            In::Dir { .. } => self.answer(t, Receipt::new(Status::Ok, "")),
            In::File(f) => {
                f.eof = true;
                self.poll(t);
            }
            In::Answered => {}
        }
    }

    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        if let In::File(f) = &mut self.state {
            if f.timer == Some(timer) {
                f.timer = None;
                self.poll(t);
            }
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        let state = std::mem::replace(&mut self.state, In::Answered);
        let mut st = self.r.lock();
        match state {
            In::File(mut f) => {
                f.file.discard();
                st.active -= 1;
                st.claimed.remove(&f.path);
                st.progress.items[f.idx].state =
                    State::Failed(format!("interrupted ({reason}); nothing stored"));
            }
            In::Dir { idx } => {
                st.progress.items[idx].state = State::Failed(format!("interrupted ({reason})"));
            }
            In::Session => {
                st.progress.session = Some(Err(format!(
                    "the sender did not finish the session ({reason})"
                )));
                st.progress.finished = Some(Instant::now());
            }
            In::Opening | In::Answered => {}
        }
    }
}
