//! Case `transfer`: one file sent with Strata's transfer protocol over
//! TCP+TLS+mux (the logic of `strata send` / `strata receive`) against
//! the same bytes copied through tokio-rustls, in the same process and run.
//!
//! **Hashing and disk are included on both sides**, and they are the same
//! work:
//!
//! * the sender reads the file (warm in the page cache) in 256 KiB chunks
//!   and hashes it with BLAKE3 as it reads — Strata on its read-ahead
//!   thread (`strata_transfer::source`, part of its design), the peer
//!   inline in its task with `std::fs` (the quickest simple idiom:
//!   `tokio::fs` would add a thread hop per read, unpipelined);
//! * the receiver hashes what arrives with BLAKE3 and writes it to a
//!   temporary file on a writer thread of its own (a bounded queue in
//!   between), then `fsync`s it, sets its mode, renames it into place and
//!   answers with the hash, which the sender checks.
//!
//! What differs is only the network stack and the protocol: Strata runs
//! `strata_transfer::Sending` / `Receiving` (an opening, the content, a mux
//! FIN, a receipt — on a subchannel of its own, with the session channel
//! beside it) under `Mux` under `Tls` on the strata-tokio driver; the peer
//! is a single tokio-rustls stream with `write_all` / `read`, `shutdown` to
//! end the content, and 40 bytes of hash and length back. Both use the
//! same rustls configurations ([`crate::tls::Configs`]: TLS 1.3,
//! AES-128-GCM, ring).
//!
//! Each run writes into a fresh directory; the time runs from before
//! `connect` to the sender holding a verified receipt. Two places are
//! measured: the system temp directory (`transfer/1GiB/disk`; override
//! with `STRATA_BENCH_DIR`) and, where it exists, `/dev/shm`
//! (`transfer/1GiB/tmpfs`), where the "disk" costs a memcpy and the stacks'
//! own costs show.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_core::Bytes;
use strata_mux::{no_inbound, Config as MuxConfig, Mux};
use strata_tokio::{spawn_stream, Connected, Endpoint};
use strata_transfer::blake3;
use strata_transfer::{plan, ReceiveOptions, Receiving, SendOptions, Sending};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::common::{interleave, join, mb_per_sec, Config, Report, Runtimes, Unit};
use crate::tcp::{strata_err, tokio_accept, tokio_connect, tokio_listener};
use crate::tls::Configs;

/// The file size at full scale.
pub const SIZE: u64 = 1 << 30;
/// Bytes read from the file at a time (both sides).
const CHUNK: usize = 256 * 1024;
/// The longest a run may take.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// The file's name.
const NAME: &str = "transfer.bin";

/// A bench directory, removed on drop.
pub struct BenchDir {
    root: PathBuf,
}

impl BenchDir {
    /// A fresh directory under `base` with a source file of `size` bytes.
    pub fn new(base: &Path, size: u64) -> io::Result<BenchDir> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = base.join(format!("strata-bench-transfer-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src"))?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(root.join("src").join(NAME))?);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut left = size;
        let mut block = vec![0u8; 1 << 20];
        while left > 0 {
            for w in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
            }
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n])?;
            left -= n as u64;
        }
        f.flush()?;
        Ok(BenchDir { root })
    }

    /// The file to send.
    pub fn src(&self) -> PathBuf {
        self.root.join("src").join(NAME)
    }

    /// An empty destination directory for the next run.
    pub fn fresh_dst(&self) -> io::Result<PathBuf> {
        let d = self.root.join("dst");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }

    /// Check a received copy against the source.
    pub fn verify(&self, dst: &Path) -> io::Result<()> {
        let (a, b) = (std::fs::read(self.src())?, std::fs::read(dst.join(NAME))?);
        if a != b {
            return Err(crate::common::corrupt("the received file differs"));
        }
        Ok(())
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Where the case measures: (label, base directory).
fn places() -> Vec<(&'static str, PathBuf)> {
    let disk = std::env::var_os("STRATA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mut v = vec![("disk", disk)];
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        v.push(("tmpfs", shm.to_path_buf()));
    }
    v
}

fn size_label(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => format!("{n}B"),
    }
}

/// Run every measurement of the case.
pub async fn run(cfg: &Config, out: &mut dyn FnMut(Report)) -> io::Result<()> {
    let rts = &Runtimes::new(cfg.pin)?;
    let configs = &Configs::new()?;
    let size = cfg.scaled(SIZE, 64 * 1024);
    for (place, base) in places() {
        let case = format!("transfer/{}/{place}", size_label(size));
        if !cfg.selects(&case) {
            continue;
        }
        let dir = &BenchDir::new(&base, size)?;
        let verify = cfg.verify;
        let report = interleave(
            cfg,
            &case,
            Unit::MegabytesPerSec,
            || async move {
                let dst = dir.fresh_dst()?;
                let t = strata_transfer_run(rts, configs, &dir.src(), &dst).await?;
                if verify {
                    dir.verify(&dst)?;
                }
                Ok(mb_per_sec(size, t))
            },
            || async move {
                let dst = dir.fresh_dst()?;
                let t = peer_transfer_run(rts, configs, &dir.src(), &dst).await?;
                if verify {
                    dir.verify(&dst)?;
                }
                Ok(mb_per_sec(size, t))
            },
        )
        .await?;
        out(report);
    }
    Ok(())
}

/// Run `f` within this case's (longer) limit: a gibibyte through the disk.
async fn limit<T>(
    what: &str,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    crate::tcp::limit_within(what, RUN_LIMIT, f).await
}

// ---------------------------------------------------------------------------
// Strata
// ---------------------------------------------------------------------------

/// Send `src` into `dst` with strata-transfer over TCP+TLS+mux; returns the
/// time from before `connect` to the sender's verified end.
pub async fn strata_transfer_run(
    rts: &Runtimes,
    configs: &Configs,
    src: &Path,
    dst: &Path,
) -> io::Result<Duration> {
    let (server, client) = (configs.strata_server()?, configs.strata_client()?);
    let receiving = Receiving::new(dst, ReceiveOptions::default())?;
    let sending = Sending::new(
        plan(&[src])?,
        SendOptions {
            chunk: CHUNK,
            ..SendOptions::default()
        },
    );
    limit("strata transfer", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let rx = receiving.clone();
        let receiver = rts.server().spawn(async move {
            let mut acceptor = Endpoint::parse("tcp:127.0.0.1:0")
                .map_err(strata_err)?
                .bind()
                .await
                .map_err(strata_err)?;
            let _ = addr_tx.send(acceptor.local_addr().to_string());
            let Connected { io, info } = acceptor.accept().await?;
            let proto = server.wrap(Mux::server(MuxConfig::default(), rx.factory()));
            let reason = spawn_stream(io, proto, info).closed().await;
            if !reason.is_done() {
                return Err(strata_err(format!("receiver: {reason}")));
            }
            Ok(())
        });
        let addr = addr_rx.await.map_err(|_| strata_err("receiver gone"))?;
        let session = sending.session();
        let (start, handle) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let mux = Mux::client(MuxConfig::default().close_when_idle(true), no_inbound())
                .with_initial(session);
            let h = strata_tokio::connect(&format!("tcp:{addr}"), client.wrap(mux))
                .await
                .map_err(strata_err)?;
            Ok((start, h))
        }))
        .await?;
        let reason = handle.closed().await;
        let end = Instant::now();
        join(receiver).await?;
        let p = sending.progress();
        if !reason.is_done() || !p.succeeded() {
            return Err(strata_err(format!(
                "strata transfer failed: {reason}; {:?}; {:?}",
                p.session,
                p.failures()
            )));
        }
        Ok(end - start)
    })
    .await
}

// ---------------------------------------------------------------------------
// tokio-rustls
// ---------------------------------------------------------------------------

/// The peer's receiving disk pipeline, as Strata's: BLAKE3 and writes on a
/// thread of its own, fed by a bounded queue; then mode, fsync, rename.
fn peer_writer(
    dst: PathBuf,
    mut rx: mpsc::Receiver<Bytes>,
) -> std::thread::JoinHandle<io::Result<([u8; 32], u64)>> {
    std::thread::spawn(move || {
        let tmp = dst.with_file_name(format!(".{NAME}.part"));
        let mut f = std::fs::File::create(&tmp)?;
        let mut h = blake3::Hasher::new();
        let mut n = 0u64;
        while let Some(b) = rx.blocking_recv() {
            h.update(&b);
            f.write_all(&b)?;
            n += b.len() as u64;
        }
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &dst)?;
        if let Some(d) = dst.parent() {
            std::fs::File::open(d)?.sync_all()?;
        }
        Ok((*h.finalize().as_bytes(), n))
    })
}

/// Send `src` into `dst` over one tokio-rustls stream; returns the time
/// from before `connect` to the sender's verified end.
pub async fn peer_transfer_run(
    rts: &Runtimes,
    configs: &Configs,
    src: &Path,
    dst: &Path,
) -> io::Result<Duration> {
    let acceptor = TlsAcceptor::from(configs.server.clone());
    let connector = TlsConnector::from(configs.client.clone());
    let (src, dst) = (src.to_path_buf(), dst.join(NAME));
    limit("tokio-rustls transfer", async {
        let (addr_tx, addr_rx) = oneshot::channel();
        let receiver = rts.server().spawn(async move {
            let listener = tokio_listener(addr_tx).await?;
            let tcp = tokio_accept(&listener).await?;
            let mut s = acceptor.accept(tcp).await?;
            let (tx, rx) = mpsc::channel::<Bytes>(32);
            let writer = peer_writer(dst, rx);
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break; // close_notify: the content is complete
                }
                buf.truncate(n);
                if tx.send(Bytes::from(buf)).await.is_err() {
                    break; // the writer failed; its error is below
                }
            }
            drop(tx);
            let (hash, n) = tokio::task::spawn_blocking(move || writer.join())
                .await
                .map_err(io::Error::other)?
                .map_err(|_| strata_err("the writer panicked"))??;
            s.write_all(&hash).await?;
            s.write_all(&n.to_be_bytes()).await?;
            s.shutdown().await?;
            Ok(())
        });
        let addr = addr_rx.await.map_err(|_| strata_err("listener gone"))?;
        let (start, end) = join(rts.client().spawn(async move {
            let start = Instant::now();
            let tcp = tokio_connect(addr).await?;
            let name = strata_tls::rustls::pki_types::ServerName::try_from("localhost")
                .map_err(strata_err)?;
            let mut s = connector.connect(name, tcp).await?;
            let mut f = std::fs::File::open(&src)?;
            let mut h = blake3::Hasher::new();
            let mut sent = 0u64;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                s.write_all(&buf[..n]).await?;
                sent += n as u64;
            }
            s.shutdown().await?; // close_notify + FIN: the end of the content
            let mut receipt = [0u8; 40];
            s.read_exact(&mut receipt).await?;
            if receipt[..32] != *h.finalize().as_bytes()
                || u64::from_be_bytes(receipt[32..].try_into().unwrap()) != sent
            {
                return Err(crate::common::corrupt("the receipt does not match"));
            }
            Ok((start, Instant::now()))
        }))
        .await?;
        join(receiver).await?;
        Ok(end - start)
    })
    .await
}
