//! # strata-transfer: files over mux subchannels, the "dilation" way
//!
//! Magic-wormhole's *dilation* moves files over one connection by giving
//! each file a subchannel of its own. Strata's mux makes that natural: a
//! subchannel is a full transport with its own flow control and its own
//! half-close, so the protocol per file is almost nothing:
//!
//! ```text
//!   one connection (TCP, + TLS, + mux)
//!   ├── subchannel 1: session   "SXF1 session: 3 files, 1 dir, 1 GiB"  ... FIN when all done
//!   │                           <── summary receipt ("received 3/3 files ...")
//!   ├── subchannel 3: dir       "SXF1 dir photos 0755" FIN              <── receipt ok
//!   ├── subchannel 5: file      "SXF1 file photos/a.jpg 2 MiB 0644 raw" + bytes + FIN
//!   │                                                                   <── receipt ok + BLAKE3
//!   ├── subchannel 7: file      ... (several in flight at once, bounded)
//!   └── ...
//! ```
//!
//! * **The end of a file is the end of its stream.** The sender writes the
//!   opening ([`wire::Opening`]: path, size, mode, encoding), streams the
//!   content, and calls `close_write` — a mux FIN. No length framing inside
//!   the content, no "done" message: the close contract *is* the protocol.
//! * **The receipt rides the other direction of the same subchannel.** The
//!   receiver keeps reading until `read_closed`, syncs the file, renames it
//!   into place, and only then answers with a [`wire::Receipt`] (status,
//!   bytes stored, BLAKE3 of what it stored) and closes. The sender compares
//!   the hash with the one it computed while reading: a file counts as
//!   delivered only when the two agree. Half-close is what makes this
//!   possible on one stream — and why the mux and TLS layers keep it.
//! * **Files in parallel, bounded.** The [`send::Sending`] session opens
//!   up to [`SendOptions::parallel`] entry subchannels at once, from its own
//!   callbacks and from each finishing entry's, through
//!   `Transport::channels()` — no handle, no task, no lock on the stack.
//!   The mux interleaves them round-robin, each under its own window.
//! * **Memory is bounded end to end.** The sender takes a chunk only while
//!   its subchannel's write buffer is under the high-water mark (pulled by
//!   `resume_writing`), from a read-ahead thread that reads and hashes a
//!   bounded number of chunks ahead; the receiver hands chunks to a writer
//!   thread and
//!   pauses its subchannel when the disk falls behind — the mux then
//!   withholds that subchannel's window, which stops the sender's reads of
//!   that one file, while the others keep moving.
//! * **The session channel** frames the whole transfer: it announces the
//!   totals first and ends (FIN) after every entry has its receipt; the
//!   receiver then applies directory modes and answers with a summary, so
//!   both ends agree the transfer is complete. If the connection dies
//!   instead, each side knows exactly which entries lack a receipt.
//!
//! ## Sans-IO, mostly
//!
//! Like the layers, these are plain [`Protocol`](strata_core::Protocol)s:
//! they never touch a socket or a runtime and run unchanged over the
//! in-memory harness (see the tests) or the tokio driver. They do touch the
//! *disk*, through two narrow doors, each a thread beside the connection
//! fed through a bounded queue: the sender's [`source::Source`] (read and
//! hash ahead; a file of one chunk or less is read inline, one `read`), and
//! the receiver's [`store::TempFile`] (hash and write, then `fsync` and
//! rename). A slow disk, or the `fsync` of a large file, thus never stalls
//! the connection task or the other subchannels it serves; a protocol that
//! finds its queue empty (or full) looks again on a 1 ms timer — a timer,
//! not a wake-up from the thread, so the protocols stay plain callbacks.
//!
//! ## Safety
//!
//! Paths are checked ([`path::RelPath`]: relative, no `..`), directories on
//! the way are checked for symbolic links, openings and receipts have size
//! limits, existing files are refused unless overwriting is asked for, and
//! a file appears under its final name only once complete and synced. See
//! [`recv`] and [`store`].
//!
//! ## Example: a transfer over the in-memory harness
//!
//! ```
//! use strata_mux::{Config, Mux};
//! use strata_testing::Pair;
//! use strata_transfer::{plan, ReceiveOptions, Receiving, SendOptions, Sending};
//!
//! let tmp = std::env::temp_dir().join(format!("strata-transfer-doc-{}", std::process::id()));
//! let (src, dst) = (tmp.join("src"), tmp.join("dst"));
//! std::fs::create_dir_all(src.join("docs")).unwrap();
//! std::fs::write(src.join("docs/hello.txt"), b"hello, subchannel").unwrap();
//!
//! let sending = Sending::new(plan(&[src.join("docs")]).unwrap(), SendOptions::default());
//! let opts = ReceiveOptions { threaded: false, ..ReceiveOptions::default() };
//! let receiving = Receiving::new(&dst, opts).unwrap();
//!
//! let client = Mux::client(Config::default().close_when_idle(true), strata_mux::no_inbound())
//!     .with_initial(sending.session());
//! let server = Mux::server(Config::default(), receiving.factory());
//! assert!(Pair::new(client, server).run());
//!
//! assert!(sending.progress().succeeded());
//! assert_eq!(std::fs::read(dst.join("docs/hello.txt")).unwrap(), b"hello, subchannel");
//! # std::fs::remove_dir_all(&tmp).unwrap();
//! ```

#![warn(missing_docs)]

pub mod path;
pub mod plan;
pub mod progress;
pub mod recv;
pub mod send;
pub mod source;
pub mod store;
pub mod wire;

pub use path::{PathError, RelPath};
pub use plan::{plan, Entry, EntryKind, Plan};
pub use progress::{Item, Progress, State};
pub use recv::{Incoming, ReceiveOptions, Receiving};
pub use send::{SendOptions, Sending};
pub use wire::{Encoding, Opening, Receipt, Status, WireError};

/// The hash of receipts, re-exported so peers and tools use the same one.
pub use blake3;
