//! The transfer protocols over the in-memory harness: a mux client running
//! a `Sending` session, a mux server whose subchannels run `Incoming`, the
//! receiver writing inline (deterministic). Real temp directories.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use strata_core::{Bytes, Protocol, Reason, TimerId, Transport};
use strata_mux::{no_inbound, Config, Mux};
use strata_testing::{Chunking, Pair};
use strata_transfer::wire::{Receipt, Status};
use strata_transfer::{plan, ReceiveOptions, Receiving, SendOptions, Sending, State};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "strata-transfer-test-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = make_writable(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn make_writable(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let m = std::fs::symlink_metadata(e.path())?;
        if m.is_dir() {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o755))?;
            make_writable(&e.path())?;
        }
    }
    Ok(())
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn inline() -> ReceiveOptions {
    ReceiveOptions {
        threaded: false,
        ..ReceiveOptions::default()
    }
}

fn transfer(sending: &Sending, receiving: &Receiving, chunking: Chunking) -> Pair<Mux, Mux> {
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound())
        .with_initial(sending.session());
    let server = Mux::server(Config::default(), receiving.factory());
    let mut pair = Pair::new(client, server).chunking(chunking);
    assert!(pair.run(), "the connection should end");
    pair
}

/// Every file and directory under `dir`, relative, with contents and modes.
fn listing(dir: &Path) -> Vec<(String, Option<Vec<u8>>, u32)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Option<Vec<u8>>, u32)>) {
        let mut es: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap()).collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.push((rel, None, mode(&p)));
                walk(root, &p, out);
            } else {
                out.push((rel, Some(std::fs::read(&p).unwrap()), mode(&p)));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn make_tree(src: &Path) {
    std::fs::create_dir_all(src.join("tree/sub/deeper")).unwrap();
    std::fs::create_dir_all(src.join("tree/empty")).unwrap();
    std::fs::write(src.join("tree/zero"), b"").unwrap();
    std::fs::write(src.join("tree/a.txt"), b"alpha").unwrap();
    std::fs::write(src.join("tree/sub/big.bin"), data(700_000, 1)).unwrap();
    std::fs::write(src.join("tree/sub/deeper/x"), data(5000, 2)).unwrap();
    set_mode(&src.join("tree/a.txt"), 0o600);
    set_mode(&src.join("tree/sub/deeper/x"), 0o755);
    set_mode(&src.join("tree/zero"), 0o444);
    set_mode(&src.join("tree/empty"), 0o700);
    set_mode(&src.join("tree/sub/deeper"), 0o750);
}

#[test]
fn a_tree_arrives_whole_with_modes_and_empty_dirs() {
    for (chunking, zstd) in [
        (Chunking::Whole, None),
        (Chunking::Random { seed: 7, max: 3000 }, None),
        (Chunking::Whole, Some(3)),
        (Chunking::Random { seed: 9, max: 700 }, Some(1)),
    ] {
        let tmp = TempDir::new("tree");
        let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
        make_tree(&src);
        let opts = SendOptions {
            zstd,
            parallel: 2,
            chunk: 64 * 1024,
            ..SendOptions::default()
        };
        let sending = Sending::new(plan(&[src.join("tree")]).unwrap(), opts);
        let receiving = Receiving::new(&dst, inline()).unwrap();
        transfer(&sending, &receiving, chunking);
        let p = sending.progress();
        assert!(p.succeeded(), "{chunking:?} {zstd:?}: {:?}", p.failures());
        assert_eq!(p.items.len(), 8);
        assert!(
            matches!(p.session, Some(Ok(ref s)) if s.contains("received 4/4 files, 4/4 directories")),
            "{:?}",
            p.session
        );
        assert!(receiving.progress().succeeded());
        assert_eq!(listing(&src), listing(&dst), "{chunking:?} {zstd:?}");
        // Nothing left behind but the tree.
        assert_eq!(std::fs::read_dir(&dst).unwrap().count(), 1);
    }
}

#[test]
fn an_empty_plan_is_a_complete_session() {
    let tmp = TempDir::new("empty");
    let sending = Sending::new(Default::default(), SendOptions::default());
    let receiving = Receiving::new(&tmp.0, inline()).unwrap();
    transfer(&sending, &receiving, Chunking::Whole);
    assert!(sending.progress().succeeded());
}

#[test]
fn existing_files_are_not_overwritten_unless_asked() {
    let tmp = TempDir::new("exists");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::write(src.join("f"), b"new").unwrap();
    std::fs::write(src.join("g"), b"fresh").unwrap();
    std::fs::write(dst.join("f"), b"old").unwrap();

    let sending = Sending::new(
        plan(&[src.join("f"), src.join("g")]).unwrap(),
        SendOptions::default(),
    );
    let receiving = Receiving::new(&dst, inline()).unwrap();
    transfer(&sending, &receiving, Chunking::Whole);
    let p = sending.progress();
    assert!(!p.succeeded());
    let failures = p.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0.as_str(), "f");
    assert!(failures[0].1.contains("exists"), "{}", failures[0].1);
    assert_eq!(std::fs::read(dst.join("f")).unwrap(), b"old");
    assert_eq!(std::fs::read(dst.join("g")).unwrap(), b"fresh");
    assert!(matches!(p.session, Some(Err(ref s)) if s.contains("received 1/2 files")));

    let sending = Sending::new(plan(&[src.join("f")]).unwrap(), SendOptions::default());
    let opts = ReceiveOptions {
        overwrite: true,
        ..inline()
    };
    let receiving = Receiving::new(&dst, opts).unwrap();
    transfer(&sending, &receiving, Chunking::Whole);
    assert!(sending.progress().succeeded());
    assert_eq!(std::fs::read(dst.join("f")).unwrap(), b"new");
}

#[test]
fn a_symlink_in_the_target_is_never_followed() {
    let tmp = TempDir::new("symlink");
    let (src, dst, outside) = (tmp.0.join("src"), tmp.0.join("dst"), tmp.0.join("outside"));
    std::fs::create_dir_all(src.join("link")).unwrap();
    std::fs::write(src.join("link/f"), b"escape?").unwrap();
    std::fs::write(src.join("plain"), b"escape too?").unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dst.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("plain"), dst.join("plain")).unwrap();

    for overwrite in [false, true] {
        let sending = Sending::new(
            plan(&[src.join("link"), src.join("plain")]).unwrap(),
            SendOptions::default(),
        );
        let opts = ReceiveOptions {
            overwrite,
            ..inline()
        };
        let receiving = Receiving::new(&dst, opts).unwrap();
        transfer(&sending, &receiving, Chunking::Whole);
        let p = sending.progress();
        assert_eq!(p.files_done(), 0, "{:?}", p.items);
        for (path, why) in p.failures() {
            assert!(why.contains("symbolic link"), "{path}: {why}");
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }
}

/// A client app that sends a crafted opening (and content) on its
/// subchannel, half-closes, and keeps the receipt.
struct Crafted {
    bytes: Vec<u8>,
    got: Arc<Mutex<Vec<u8>>>,
}

impl Protocol for Crafted {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(Bytes::from(std::mem::take(&mut self.bytes)));
        t.close_write();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, d: Bytes) {
        self.got.lock().unwrap().extend_from_slice(&d);
    }
}

fn crafted_file(path: &[u8], size: u64, content: &[u8]) -> Vec<u8> {
    let mut b = b"SXF1\x02\x00".to_vec();
    b.extend_from_slice(&0o644u32.to_be_bytes());
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&(path.len() as u16).to_be_bytes());
    b.extend_from_slice(path);
    b.extend_from_slice(content);
    b
}

fn send_crafted(dst: &Path, bytes: Vec<u8>) -> Receipt {
    let got = Arc::new(Mutex::new(Vec::new()));
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound()).with_initial(
        Box::new(Crafted {
            bytes,
            got: got.clone(),
        }),
    );
    let receiving = Receiving::new(dst, inline()).unwrap();
    let server = Mux::server(Config::default(), receiving.factory());
    let mut pair = Pair::new(client, server).chunking(Chunking::Fixed(5));
    assert!(pair.run());
    let got = got.lock().unwrap();
    Receipt::decode(&got)
        .unwrap()
        .expect("a complete receipt")
        .0
}

#[test]
fn crafted_openings_that_escape_are_refused() {
    let tmp = TempDir::new("crafted");
    let dst = tmp.0.join("dst");
    for (path, expect) in [
        (&b"../evil"[..], "\"..\""),
        (b"a/../../evil", "\"..\""),
        (b"/tmp/evil", "absolute"),
        (b"a//b", "empty component"),
        (b"a\\..\\b", "\\"),
        (b"\xff\xfe", "UTF-8"),
    ] {
        let r = send_crafted(&dst, crafted_file(path, 4, b"evil"));
        assert_eq!(r.status, Status::Refused, "{path:?}");
        assert!(r.message.contains(expect), "{path:?}: {}", r.message);
    }
    // Nothing was created anywhere: not in the target, not beside it.
    assert_eq!(std::fs::read_dir(&dst).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&tmp.0).unwrap().count(), 1);

    // An over-long opening, garbage, and an oversized path length.
    let r = send_crafted(&dst, b"GET / HTTP/1.1\r\n\r\n".to_vec());
    assert_eq!(r.status, Status::Refused);
    assert!(r.message.contains("magic"), "{}", r.message);
    let mut b = crafted_file(b"", 0, b"");
    let n = b.len();
    b[n - 2..].copy_from_slice(&u16::MAX.to_be_bytes());
    let r = send_crafted(&dst, b);
    assert!(r.message.contains("over the limit"), "{}", r.message);
}

#[test]
fn content_that_does_not_match_the_size_leaves_nothing() {
    let tmp = TempDir::new("sizes");
    let dst = tmp.0.join("dst");
    let r = send_crafted(&dst, crafted_file(b"short", 10, b"only5"));
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("5 of 10"), "{}", r.message);
    let r = send_crafted(&dst, crafted_file(b"long", 3, b"too long"));
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("more content"), "{}", r.message);
    let r = send_crafted(&dst, crafted_file(b"right", 5, b"exact"));
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.hash, *blake3::hash(b"exact").as_bytes());
    let names: Vec<_> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["right"], "no temporaries, no partial files");
}

/// Forwards everything to `inner`, and stops reading after `limit` bytes:
/// a receiver that stalls mid-transfer, before the link is reset.
struct StallAfter<P> {
    inner: P,
    limit: usize,
    seen: usize,
}

impl<P: Protocol> Protocol for StallAfter<P> {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.inner.connection_made(t)
    }
    fn data_received(&mut self, t: &mut dyn Transport, d: Bytes) {
        self.seen += d.len();
        self.inner.data_received(t, d);
        if self.seen >= self.limit {
            t.pause_reading();
        }
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.inner.read_closed(t)
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.inner.write_closed(t)
    }
    fn connection_lost(&mut self, r: Reason) {
        self.inner.connection_lost(r)
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.inner.pause_writing(t)
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.inner.resume_writing(t)
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, id: TimerId) {
        self.inner.timer_fired(t, id)
    }
}

#[test]
fn an_interrupted_transfer_leaves_no_file_under_its_name_and_says_which() {
    let tmp = TempDir::new("cut");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("small"), b"tiny").unwrap();
    std::fs::write(src.join("big"), data(3 << 20, 3)).unwrap();
    // One chunk: read inline, so the harness's pump alone moves it (no
    // read-ahead thread to wait for).
    let opts = SendOptions {
        chunk: 4 << 20,
        high_water: 4 << 20,
        ..SendOptions::default()
    };
    let sending = Sending::new(plan(&[src.join("small"), src.join("big")]).unwrap(), opts);
    let receiving = Receiving::new(&dst, inline()).unwrap();
    let client = Mux::client(Config::default().close_when_idle(true), no_inbound())
        .with_initial(sending.session());
    let server = StallAfter {
        inner: Mux::server(Config::default(), receiving.factory()),
        limit: 2 << 20,
        seen: 0,
    };
    let mut pair = Pair::new(client, server);
    pair.pump();
    let seen = receiving.progress();
    let big = seen
        .items
        .iter()
        .find(|i| i.path.as_str() == "big")
        .unwrap();
    assert!(
        big.moved > 0 && big.moved < big.size,
        "mid-transfer: {big:?}"
    );
    pair.reset();

    let p = sending.progress();
    assert!(!p.succeeded());
    let failed: Vec<_> = p
        .failures()
        .iter()
        .map(|(p, _)| p.as_str().to_string())
        .collect();
    assert_eq!(failed, ["big"]);
    assert!(matches!(p.items[1].state, State::Failed(ref w) if w.contains("did not arrive")));
    let names: Vec<_> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["small"], "no big, no temporary");
    let r = receiving.progress();
    assert!(matches!(r.session, Some(Err(_))));
}

#[test]
fn the_threaded_writer_gives_the_same_result() {
    // The threaded store polls on timers; the harness's virtual clock
    // spins through them until the writer thread is done.
    let tmp = TempDir::new("threaded");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    make_tree(&src);
    let sending = Sending::new(plan(&[src.join("tree")]).unwrap(), SendOptions::default());
    let opts = ReceiveOptions {
        high_water: 64 * 1024,
        ..ReceiveOptions::default()
    };
    let receiving = Receiving::new(&dst, opts).unwrap();
    transfer(&sending, &receiving, Chunking::Whole);
    assert!(
        sending.progress().succeeded(),
        "{:?}",
        sending.progress().failures()
    );
    assert_eq!(listing(&src), listing(&dst));
}
