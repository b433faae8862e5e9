//! The framed command protocol through the `strata` binary, as a user runs
//! it: `serve-commands` (both duplex modes, over TCP and over
//! tcp+tls+mux), `call` with a file on stdin, and `frames encode | frames
//! decode`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_strata");

/// A server killed (by its pid, through `Child::kill`) when dropped.
struct Server {
    child: Child,
    addr: String,
    pin: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `strata serve-commands DESC [extra]` and read its address (and pin).
fn serve(desc: &str, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .arg("serve-commands")
        .arg(desc)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata serve-commands");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let pin = desc.contains("self-signed").then(|| {
        let mut l = String::new();
        err.read_line(&mut l).unwrap();
        l.split("tls:pin=").nth(1).unwrap().trim().to_string()
    });
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    Server { child, addr, pin }
}

/// Run `strata ARGS` with `input` on stdin (or none), bounded in time.
fn run(args: &[&str], input: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    let writer = input.map(|data| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("strata {args:?} (pid {pid}) did not finish within 60 s");
        }
    };
    if let Some(w) = writer {
        w.join().unwrap();
    }
    out
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn file_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

#[test]
fn call_hash_prints_the_files_sha256_in_both_duplex_modes() {
    let data = file_bytes(5 << 20);
    for mode in [&[][..], &["--half-duplex"][..]] {
        let server = serve("tcp:127.0.0.1:0", mode);
        let desc = format!("tcp:{}", server.addr);
        let out = run(&["call", &desc, "hash"], Some(data.clone()));
        assert_eq!(ok(&out).trim(), hex(&data), "{mode:?}");
        // echo streams the data back unchanged (half duplex: all at the end).
        let out = run(&["call", &desc, "echo"], Some(data.clone()));
        assert!(out.status.success());
        assert!(out.stdout == data, "{mode:?}: echo differs");
        // Arguments, and an application error with a clear message.
        let out = run(&["call", &desc, "lookup", "key=duplex", "--no-data"], None);
        let want = if mode.is_empty() {
            "full-duplex"
        } else {
            "half-duplex"
        };
        assert_eq!(ok(&out).trim(), want);
        let out = run(&["call", &desc, "lookup", "key=nope"], None);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("server: no such key \"nope\""), "{err}");
    }
}

#[test]
fn call_over_tls_and_mux() {
    let server = serve(
        "tcp:127.0.0.1:0+tls:self-signed+mux",
        &["--half-duplex", "--set", "color=blue"],
    );
    let desc = format!(
        "tcp:{}+tls:pin={}+mux",
        server.addr,
        server.pin.as_ref().unwrap()
    );
    let data = file_bytes(1 << 20);
    let out = run(&["call", &desc, "hash"], Some(data.clone()));
    assert_eq!(ok(&out).trim(), hex(&data));
    let out = run(&["call", &desc, "lookup", "key=color"], None);
    assert_eq!(ok(&out), "blue\n");
}

#[test]
fn frames_encode_then_decode_round_trips() {
    let frames = [
        "command-name have-args|have-data hash",
        "command-argument eoa \\x03\\x00\\x05\\x00keyvalue",
        "command-data continuation hello, \\x00\\xff\\\\ world\\n",
        "command-data eos",
        "bytes-response eos 2cf24dba",
        "error-response application no such key",
    ];
    let mut args = vec!["frames", "encode"];
    args.extend(frames);
    let bytes = run(&args, None);
    ok(&bytes);
    assert_eq!(&bytes.stdout[..4], b"\x04\x00\x00\x16");
    let decoded = run(&["frames", "decode"], Some(bytes.stdout.clone()));
    assert_eq!(ok(&decoded).lines().collect::<Vec<_>>(), frames);
    // Lines on stdin work the same; comments and blank lines are skipped.
    let text = format!("# a request\n{}\n\n", frames.join("\n"));
    let again = run(&["frames", "encode"], Some(text.into_bytes()));
    ok(&again);
    assert_eq!(again.stdout, bytes.stdout);
}

#[test]
fn frames_errors_are_one_clear_line() {
    let out = run(&["frames", "encode", "command-name eoa x"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("strata: error: frame 1: unknown flag \"eoa\""),
        "{err}"
    );
    // A cut stream: the frames before the cut are printed, then the error.
    let out = run(
        &["frames", "decode"],
        Some(b"\x01\x00\x00\x42a\x05\x00\x00\x42ab".to_vec()),
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bytes-response eos a\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("after 1 frame(s): the stream ended inside a frame"),
        "{err}"
    );
}
