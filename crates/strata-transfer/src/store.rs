//! Where received bytes go: a temporary file next to the final name,
//! hashed while written, synced, then renamed into place.
//!
//! [`TempFile`] is the receiver's only contact with the disk. It has two
//! modes:
//!
//! * **threaded** (the default): a writer thread per file takes chunks from
//!   a queue, hashes them (BLAKE3) and writes them. The protocol reads the
//!   queue's length ([`TempFile::backlog`]) to pause its subchannel when
//!   the disk falls behind; `fsync` and the rename run on that thread too,
//!   so a slow disk never stalls the connection (or the other files on it).
//! * **inline**: the same work done in the caller (the protocol callback).
//!   Deterministic, for tests on the in-memory harness and for small tools.
//!
//! Either way a file appears under its final name only after its content
//! was fully written and synced: `create_new` a temporary
//! `.NAME.strata-part-PID-N` (mode 0600) in the same directory, write,
//! `chmod`, `fsync`, then link it to the final name — with `link(2)` when
//! overwriting is not allowed, which fails if the name appeared meanwhile
//! (a `rename` would replace it), or `rename(2)` when it is — and `fsync`
//! the directory. A file that is abandoned (the sender went away, the
//! content was short, a write failed) has its temporary removed.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// The outcome of a finished file: the BLAKE3 of what was stored, or why
/// it was not.
pub type Finished = Result<[u8; 32], String>;

enum Msg {
    Data(Vec<Bytes>),
    Finish,
}

#[derive(Default)]
struct Shared {
    backlog: AtomicUsize,
    state: Mutex<WriterState>,
}

#[derive(Default)]
struct WriterState {
    error: Option<String>,
    done: Option<Finished>,
}

/// What the writer needs to place the file at the end.
struct Target {
    tmp: PathBuf,
    dest: PathBuf,
    mode: u32,
    overwrite: bool,
    sync: bool,
}

/// The file being written: see the [module docs](self).
pub struct TempFile {
    mode: Mode,
    shared: Arc<Shared>,
}

enum Mode {
    Threaded {
        tx: Option<mpsc::Sender<Msg>>,
    },
    Inline {
        file: Option<File>,
        hasher: Box<blake3::Hasher>,
        target: Target,
    },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name in `dest`'s directory.
fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut short = name.as_str();
    if short.len() > 100 {
        let mut end = 100;
        while !short.is_char_boundary(end) {
            end -= 1;
        }
        short = &short[..end];
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dest.with_file_name(format!(".{short}.strata-part-{}-{n}", std::process::id()))
}

fn create_new(path: &Path) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

#[cfg(unix)]
fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
}

#[cfg(not(unix))]
fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    let mut p = f.metadata()?.permissions();
    p.set_readonly(mode & 0o200 == 0);
    f.set_permissions(p)
}

/// Give `tmp` the name `dest`, refusing to replace an existing `dest`
/// unless `overwrite`.
fn place(tmp: &Path, dest: &Path, overwrite: bool) -> io::Result<()> {
    if overwrite {
        return std::fs::rename(tmp, dest);
    }
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => std::fs::remove_file(tmp),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // A filesystem without hard links: check, then rename (a window
        // remains between the two; documented).
        Err(_) => {
            if std::fs::symlink_metadata(dest).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the file exists",
                ));
            }
            std::fs::rename(tmp, dest)
        }
    }
}

/// Write-out of a completed temporary: mode, sync, name, directory sync.
fn complete(file: File, t: &Target) -> io::Result<()> {
    set_mode(&file, t.mode)?;
    if t.sync {
        file.sync_all()?;
    }
    drop(file);
    place(&t.tmp, &t.dest, t.overwrite).map_err(|e| {
        let _ = std::fs::remove_file(&t.tmp);
        if e.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(
                e.kind(),
                "it appeared on the receiver meanwhile (not overwritten)",
            )
        } else {
            e
        }
    })?;
    if t.sync {
        if let Some(dir) = t.dest.parent() {
            // Make the new name durable; not every platform can open a
            // directory, so a failure here is not the file's failure.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
    }
    Ok(())
}

impl TempFile {
    /// Create the temporary for `dest` (whose directory must exist and be
    /// safe: the caller checked it). `threaded` picks the mode.
    pub fn create(
        dest: &Path,
        mode: u32,
        overwrite: bool,
        sync: bool,
        threaded: bool,
    ) -> io::Result<TempFile> {
        let tmp = temp_name(dest);
        let file = create_new(&tmp)?;
        let target = Target {
            tmp,
            dest: dest.to_path_buf(),
            mode,
            overwrite,
            sync,
        };
        let shared = Arc::new(Shared::default());
        if !threaded {
            return Ok(TempFile {
                mode: Mode::Inline {
                    file: Some(file),
                    hasher: Box::default(),
                    target,
                },
                shared,
            });
        }
        let (tx, rx) = mpsc::channel();
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("strata-transfer-writer".into())
            .spawn(move || writer(file, target, rx, sh))?;
        Ok(TempFile {
            mode: Mode::Threaded { tx: Some(tx) },
            shared,
        })
    }

    /// Queue (threaded) or write (inline) a chunk of content.
    pub fn write(&mut self, data: Bytes) {
        self.write_batch(vec![data]);
    }

    /// Queue (threaded) or write (inline) several chunks, in order.
    pub fn write_batch(&mut self, data: Vec<Bytes>) {
        match &mut self.mode {
            Mode::Threaded { tx } => {
                let n: usize = data.iter().map(Bytes::len).sum();
                self.shared.backlog.fetch_add(n, Ordering::AcqRel);
                if let Some(tx) = tx {
                    let _ = tx.send(Msg::Data(data));
                }
            }
            Mode::Inline { file, hasher, .. } => {
                let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
                for d in data {
                    if st.error.is_some() {
                        return;
                    }
                    hasher.update(&d);
                    if let Some(f) = file {
                        if let Err(e) = f.write_all(&d) {
                            st.error = Some(format!("writing: {e}"));
                        }
                    }
                }
            }
        }
    }

    /// Bytes queued and not yet written (always 0 inline).
    pub fn backlog(&self) -> usize {
        self.shared.backlog.load(Ordering::Acquire)
    }

    /// A write failed (the file will not be completed).
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// All content is written: complete the file (sync, name it). The
    /// outcome comes through [`done`](TempFile::done) — at once inline,
    /// when the writer gets to it threaded.
    pub fn finish(&mut self) {
        match &mut self.mode {
            Mode::Threaded { tx } => {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Msg::Finish);
                }
            }
            Mode::Inline {
                file,
                hasher,
                target,
            } => {
                let Some(f) = file.take() else { return };
                let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
                st.done = Some(match st.error.clone() {
                    Some(e) => {
                        drop(f);
                        let _ = std::fs::remove_file(&target.tmp);
                        Err(e)
                    }
                    None => match complete(f, target) {
                        Ok(()) => Ok(*hasher.finalize().as_bytes()),
                        Err(e) => Err(e.to_string()),
                    },
                });
            }
        }
    }

    /// The outcome, once [`finish`](TempFile::finish) has completed.
    pub fn done(&self) -> Option<Finished> {
        self.lock().done.clone()
    }

    /// Give up: the temporary is removed (now inline, soon threaded).
    /// Dropping a `TempFile` that was not finished does the same.
    pub fn discard(&mut self) {
        match &mut self.mode {
            Mode::Threaded { tx } => {
                // Closing the queue without Finish tells the writer.
                tx.take();
            }
            Mode::Inline { file, target, .. } => {
                if file.take().is_some() {
                    let _ = std::fs::remove_file(&target.tmp);
                }
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.discard();
    }
}

fn writer(mut file: File, target: Target, rx: mpsc::Receiver<Msg>, shared: Arc<Shared>) {
    let mut hasher = blake3::Hasher::new();
    let set = |f: &dyn Fn(&mut WriterState)| {
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut st);
    };
    let mut failed = false;
    loop {
        match rx.recv() {
            Ok(Msg::Data(batch)) => {
                let mut n = 0;
                for d in &batch {
                    n += d.len();
                    if failed {
                        continue;
                    }
                    hasher.update(d);
                    if let Err(e) = file.write_all(d) {
                        failed = true;
                        let msg = format!("writing: {e}");
                        set(&|st| st.error = Some(msg.clone()));
                    }
                }
                drop(batch);
                shared.backlog.fetch_sub(n, Ordering::AcqRel);
            }
            Ok(Msg::Finish) => {
                let outcome = if failed {
                    drop(file);
                    let _ = std::fs::remove_file(&target.tmp);
                    Err(shared
                        .state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .error
                        .clone()
                        .unwrap_or_default())
                } else {
                    match complete(file, &target) {
                        Ok(()) => Ok(*hasher.finalize().as_bytes()),
                        Err(e) => Err(e.to_string()),
                    }
                };
                set(&|st| st.done = Some(outcome.clone()));
                return;
            }
            Err(_) => {
                // Abandoned: no Finish came.
                drop(file);
                let _ = std::fs::remove_file(&target.tmp);
                return;
            }
        }
    }
}
