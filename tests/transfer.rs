//! `strata send` and `strata receive`, the real binary, over
//! `tcp+tls+mux` on loopback: big files, many small files with modes and
//! an empty directory, a receiver killed mid-transfer, unsafe paths from a
//! crafted sender, and the errors a user sees.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_strata");

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "strata-transfer-cli-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwx")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `strata receive`, killed on drop; its stderr collected.
struct Receiver {
    child: Option<Child>,
    addr: String,
    pin: Option<String>,
    err: Arc<Mutex<String>>,
}

impl Receiver {
    fn start(desc: &str, dir: &Path, extra: &[&str]) -> Receiver {
        let mut child = Command::new(BIN)
            .arg("receive")
            .arg(desc)
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata receive");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).expect("the listening line");
        let addr = line
            .split(" on ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let mut pin = None;
        if desc.contains("self-signed") {
            let mut l = String::new();
            err.read_line(&mut l).expect("the fingerprint line");
            pin = Some(
                l.split("tls:pin=")
                    .nth(1)
                    .unwrap_or_else(|| panic!("no pin in {l:?}"))
                    .trim()
                    .to_string(),
            );
        }
        let collected = Arc::new(Mutex::new(String::new()));
        let c = collected.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match err.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => c
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Receiver {
            child: Some(child),
            addr,
            pin,
            err: collected,
        }
    }

    /// The description a sender uses to reach it.
    fn client_desc(&self) -> String {
        match &self.pin {
            Some(pin) => format!("tcp:{}+tls:pin={pin}+mux", self.addr),
            None => format!("tcp:{}+mux", self.addr),
        }
    }

    /// Wait for it to exit (bounded); its status, stdout and stderr.
    fn finish(mut self) -> (bool, String, String) {
        let child = self.child.take().unwrap();
        let out = wait_with_timeout(child, Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(50)); // the stderr reader
        let err = self.err.lock().unwrap().clone();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            err,
        )
    }

    fn kill(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.child = None;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_with_timeout(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for strata"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("strata (pid {pid}) did not finish within {limit:?}");
        }
    }
}

fn send(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .arg("send")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata send");
    wait_with_timeout(child, Duration::from_secs(120))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn random_file(path: &Path, n: usize, seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    std::fs::write(path, v).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// Every entry under `dir`: relative path, content (None for a directory),
/// mode.
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

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

const TLS_MUX: &str = "tcp:127.0.0.1:0+tls:self-signed+mux";

#[test]
fn a_100_mib_random_file_arrives_identical_over_tcp_tls_mux() {
    let tmp = TempDir::new("big");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    let big = src.join("big.bin");
    random_file(&big, 100 << 20, 1);
    set_mode(&big, 0o640);

    let rx = Receiver::start(TLS_MUX, &dst, &[]);
    let out = send(&[&rx.client_desc(), big.to_str().unwrap()]);
    let (ok, rx_out, rx_err) = rx.finish();
    assert!(out.status.success(), "send: {}", text(&out.stderr));
    assert!(ok, "receive: {rx_err}");
    let summary = text(&out.stdout);
    assert!(summary.contains("sent 1/1 files"), "{summary}");
    assert!(summary.contains("1 verified by BLAKE3"), "{summary}");
    assert!(summary.contains("MB/s"), "{summary}");
    assert!(rx_out.contains("received 1/1 files"), "{rx_out}");
    assert!(
        std::fs::read(&big).unwrap() == std::fs::read(dst.join("big.bin")).unwrap(),
        "the bytes differ"
    );
    assert_eq!(mode(&dst.join("big.bin")), 0o640);
    assert_eq!(names(&dst), ["big.bin"], "no temporaries left");
}

#[test]
fn a_tree_of_1000_small_files_with_modes_and_an_empty_dir_arrives_identical() {
    let tmp = TempDir::new("tree");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    let root = src.join("tree");
    let modes = [0o644, 0o600, 0o640, 0o755, 0o700, 0o444, 0o750];
    for d in 0..10 {
        let dir = root.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let i = d * 100 + f;
            let p = dir.join(format!("f{f:03}.dat"));
            random_file(&p, (i * 37) % 4000, i as u64 + 10);
            set_mode(&p, modes[i % modes.len()]);
        }
    }
    std::fs::create_dir_all(root.join("empty")).unwrap();
    set_mode(&root.join("empty"), 0o750);
    set_mode(&root.join("d3"), 0o700);

    let rx = Receiver::start(TLS_MUX, &dst, &[]);
    let started = Instant::now();
    let out = send(&[&rx.client_desc(), root.to_str().unwrap()]);
    let (ok, rx_out, rx_err) = rx.finish();
    assert!(out.status.success(), "send: {}", text(&out.stderr));
    assert!(ok, "receive: {rx_err}");
    let summary = text(&out.stdout);
    assert!(
        summary.contains("sent 1000/1000 files, 12/12 directories"),
        "{summary}"
    );
    assert!(rx_out.contains("received 1000/1000 files"), "{rx_out}");
    assert_eq!(listing(&src), listing(&dst));
    eprintln!("1,000 files in {:?}", started.elapsed());
}

#[test]
fn a_receiver_killed_mid_transfer_leaves_no_file_and_the_sender_names_it() {
    let tmp = TempDir::new("kill");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    let big = src.join("big.bin");
    random_file(&big, 96 << 20, 2);
    let mut rx = Receiver::start(TLS_MUX, &dst, &[]);
    let sender = Command::new(BIN)
        .args(["send", &rx.client_desc(), big.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temporary holds some of the file, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let partial = std::fs::read_dir(&dst).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .find(|e| e.file_name().to_string_lossy().contains("strata-part"))
                .and_then(|e| e.metadata().ok())
                .filter(|m| m.len() > 1 << 20)
        });
        if partial.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    rx.kill();
    let out = wait_with_timeout(sender, Duration::from_secs(60));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "the sender must fail: {err}");
    assert!(err.contains("did not arrive"), "{err}");
    assert!(err.contains("big.bin"), "the failed file is named: {err}");
    assert!(
        !dst.join("big.bin").exists(),
        "nothing under the final name"
    );
}

#[test]
fn a_stack_without_mux_is_a_clear_error() {
    let tmp = TempDir::new("nomux");
    let f = tmp.0.join("f");
    std::fs::write(&f, b"x").unwrap();
    let out = send(&["tcp:127.0.0.1:9", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("needs `+mux`"), "{err}");
    let out = Command::new(BIN)
        .args(["receive", "tcp:127.0.0.1:0+tls:self-signed"])
        .arg(tmp.0.join("in"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("needs `+mux`"));
}

#[test]
fn existing_files_are_kept_unless_overwrite_and_the_sender_says_which() {
    let tmp = TempDir::new("exists");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::write(src.join("keep.txt"), b"new").unwrap();
    std::fs::write(src.join("other.txt"), b"other").unwrap();
    std::fs::write(dst.join("keep.txt"), b"old").unwrap();
    let args = |rx: &Receiver| {
        vec![
            rx.client_desc(),
            src.join("keep.txt").to_string_lossy().into_owned(),
            src.join("other.txt").to_string_lossy().into_owned(),
        ]
    };

    let rx = Receiver::start("tcp:127.0.0.1:0+mux", &dst, &[]);
    let a = args(&rx);
    let out = send(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, _, _) = rx.finish();
    assert!(!out.status.success() && !ok);
    let err = text(&out.stderr);
    assert!(err.contains("1 file(s) did not arrive"), "{err}");
    assert!(err.contains("keep.txt") && err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(dst.join("keep.txt")).unwrap(), b"old");
    assert_eq!(std::fs::read(dst.join("other.txt")).unwrap(), b"other");

    std::fs::remove_file(dst.join("other.txt")).unwrap();
    let rx = Receiver::start("tcp:127.0.0.1:0+mux", &dst, &["--overwrite"]);
    let a = args(&rx);
    let out = send(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, _, err) = rx.finish();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(dst.join("keep.txt")).unwrap(), b"new");
}

#[test]
fn send_can_listen_and_receive_connect() {
    let tmp = TempDir::new("swap");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    std::fs::create_dir_all(src.join("dir/sub")).unwrap();
    random_file(&src.join("dir/a"), 300_000, 5);
    std::fs::write(src.join("dir/sub/b"), b"b").unwrap();
    let mut sender = Command::new(BIN)
        .args(["send", "--listen", TLS_MUX])
        .arg(src.join("dir"))
        .arg("--zstd")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(sender.stderr.take().unwrap());
    let (mut l1, mut l2) = (String::new(), String::new());
    err.read_line(&mut l1).unwrap();
    err.read_line(&mut l2).unwrap();
    let addr = l1
        .split(" on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let pin = l2.split("tls:pin=").nth(1).unwrap().trim();
    let rx = Command::new(BIN)
        .args([
            "receive",
            "--connect",
            &format!("tcp:{addr}+tls:pin={pin}+mux"),
        ])
        .arg(&dst)
        .output()
        .unwrap();
    assert!(rx.status.success(), "{}", text(&rx.stderr));
    let out = wait_with_timeout(sender, Duration::from_secs(60));
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("sent 2/2 files"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(listing(&src), listing(&dst));
}

/// A crafted client, not `strata send`: it opens a subchannel to the real
/// `strata receive` and names `../` or an absolute path.
#[test]
fn the_receiver_refuses_paths_that_escape_from_a_crafted_sender() {
    use strata::{Bytes, Protocol, Role, Stack, Transport};
    use strata_transfer::wire::{Receipt, Status};

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

    let tmp = TempDir::new("crafted");
    let dst = tmp.0.join("dst");
    let rt = tokio::runtime::Runtime::new().unwrap();
    for path in [
        "../escaped",
        "/tmp/strata-escaped-absolute",
        "a/../../escaped",
    ] {
        let rx = Receiver::start(TLS_MUX, &dst, &[]);
        let mut opening = b"SXF1\x02\x00".to_vec();
        opening.extend_from_slice(&0o644u32.to_be_bytes());
        opening.extend_from_slice(&4u64.to_be_bytes());
        opening.extend_from_slice(&(path.len() as u16).to_be_bytes());
        opening.extend_from_slice(path.as_bytes());
        opening.extend_from_slice(b"evil");
        let got = Arc::new(Mutex::new(Vec::new()));
        let app = Box::new(Crafted {
            bytes: opening,
            got: got.clone(),
        });
        let desc = rx.client_desc();
        rt.block_on(async {
            let stack = Stack::parse(&desc, Role::Client).unwrap();
            let h = stack.connect(app).await.unwrap();
            h.closed_within(Duration::from_secs(20)).await.unwrap();
        });
        let got = got.lock().unwrap().clone();
        let (receipt, _) = Receipt::decode(&got).unwrap().expect("a receipt");
        assert_eq!(receipt.status, Status::Refused, "{path}");
        assert!(
            receipt.message.contains("\"..\"") || receipt.message.contains("absolute"),
            "{path}: {}",
            receipt.message
        );
        let (ok, _, err) = rx.finish();
        assert!(!ok, "no session took place");
        assert!(
            err.contains("did not arrive")
                || err.contains("did not complete")
                || err.contains("ended before"),
            "{err}"
        );
    }
    assert!(!tmp.0.join("escaped").exists());
    assert!(!Path::new("/tmp/strata-escaped-absolute").exists());
    assert!(names(&dst).is_empty());
}
