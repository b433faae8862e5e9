//! Where a sender's bytes come from: a file read in chunks and hashed
//! (BLAKE3) as it is read.
//!
//! Small files (one chunk or less) are read inline, in the protocol's
//! callback: one `read` from the page cache. Larger ones get a **read-ahead
//! thread** that reads and hashes up to `depth` chunks ahead and hands them
//! over through a bounded queue. The protocol takes chunks without blocking
//! ([`Source::next`] says [`Next::Wait`] when none is ready, and the protocol
//! looks again on a short timer); the thread blocks when the queue is full,
//! so the reading runs at the pace the subchannel's flow control allows and
//! memory stays bounded. A slow or cold disk then never stalls the
//! connection task — nor the other subchannels it serves — and reading and
//! hashing run beside the encryption of what was read before.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};

use bytes::Bytes;

/// What [`Source::next`] has.
pub enum Next {
    /// The next chunk of content.
    Chunk(Bytes),
    /// The end of the content, and the BLAKE3 of all of it.
    End([u8; 32]),
    /// Nothing ready yet (the read-ahead thread is behind); look again soon.
    Wait,
    /// Reading failed (or the file changed size), with why.
    Failed(String),
}

enum Msg {
    Chunk(Bytes),
    End([u8; 32]),
    Failed(String),
}

/// A file being sent: see the [module docs](self).
pub struct Source {
    kind: Kind,
}

enum Kind {
    Inline {
        file: File,
        left: u64,
        hasher: Box<blake3::Hasher>,
        name: String,
    },
    Ahead {
        rx: Receiver<Msg>,
        done: bool,
    },
}

/// Read exactly `n` bytes (fewer only at the end of the file) into a new
/// buffer, without zeroing it first.
fn read_chunk(file: &mut File, n: usize) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    file.by_ref().take(n as u64).read_to_end(&mut v)?;
    Ok(v)
}

impl Source {
    /// Open `path`, which should be `size` bytes, to be read `chunk` bytes
    /// at a time, up to `depth` chunks ahead.
    pub fn open(path: &Path, size: u64, chunk: usize, depth: usize) -> std::io::Result<Source> {
        let file = File::open(path)?;
        let name = path.display().to_string();
        if size <= chunk as u64 {
            return Ok(Source {
                kind: Kind::Inline {
                    file,
                    left: size,
                    hasher: Box::default(),
                    name,
                },
            });
        }
        let (tx, rx) = sync_channel(depth.max(1));
        std::thread::Builder::new()
            .name("strata-transfer-reader".into())
            .spawn(move || {
                let mut file = file;
                let mut hasher = blake3::Hasher::new();
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk as u64) as usize;
                    let msg = match read_chunk(&mut file, n) {
                        Ok(v) if v.len() == n => {
                            hasher.update(&v);
                            left -= n as u64;
                            Msg::Chunk(Bytes::from(v))
                        }
                        Ok(_) => Msg::Failed(format!("{name} shrank while being sent")),
                        Err(e) => Msg::Failed(format!("reading {name}: {e}")),
                    };
                    let stop = matches!(msg, Msg::Failed(_));
                    // A closed queue: the protocol is gone; stop reading.
                    if tx.send(msg).is_err() || stop {
                        return;
                    }
                }
                let _ = tx.send(Msg::End(*hasher.finalize().as_bytes()));
            })?;
        Ok(Source {
            kind: Kind::Ahead { rx, done: false },
        })
    }

    /// The next chunk, the end, or "not yet". Never blocks (inline reads
    /// are one read of at most a chunk).
    pub fn next(&mut self, chunk: usize) -> Next {
        match &mut self.kind {
            Kind::Inline {
                file,
                left,
                hasher,
                name,
            } => {
                if *left == 0 {
                    return Next::End(*hasher.finalize().as_bytes());
                }
                let n = (*left).min(chunk as u64) as usize;
                match read_chunk(file, n) {
                    Ok(v) if v.len() == n => {
                        hasher.update(&v);
                        *left -= n as u64;
                        Next::Chunk(Bytes::from(v))
                    }
                    Ok(_) => Next::Failed(format!("{name} shrank while being sent")),
                    Err(e) => Next::Failed(format!("reading {name}: {e}")),
                }
            }
            Kind::Ahead { rx, done } => match rx.try_recv() {
                Ok(Msg::Chunk(b)) => Next::Chunk(b),
                Ok(Msg::End(h)) => {
                    *done = true;
                    Next::End(h)
                }
                Ok(Msg::Failed(why)) => {
                    *done = true;
                    Next::Failed(why)
                }
                Err(TryRecvError::Empty) => Next::Wait,
                Err(TryRecvError::Disconnected) => Next::Failed("the reader thread ended".into()),
            },
        }
    }
}
