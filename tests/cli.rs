//! The `strata` binary, driven as a user would: netcat over TCP and Unix
//! sockets with half-close, the echo server, and one-line errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_strata");

/// A child process killed when dropped, so a failing test leaves nothing behind.
struct Guard(Option<Child>, Vec<String>);
impl Guard {
    /// The word after `prefix` in the listener's notices.
    fn notice_value(&self, prefix: &str) -> String {
        self.1
            .iter()
            .find_map(|l| l.split(prefix).nth(1))
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {prefix} in {:?}", self.1))
            .to_string()
    }
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present")
    }
    fn into_child(mut self) -> Child {
        self.0.take().expect("child present")
    }
}
impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start `strata listen ...` and wait for its "... on ADDR" line; returns
/// the guard and the address it printed.
fn listen(args: &[&str]) -> (Guard, String) {
    let mut child = Command::new(BIN)
        .arg("listen")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata listen");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).expect("read the listening line");
    let addr = line
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    // Notices (a self-signed fingerprint) follow the address line; then keep
    // draining stderr so the child never blocks on it.
    let mut notices = Vec::new();
    if args.iter().any(|a| a.contains("self-signed")) {
        let mut l = String::new();
        err.read_line(&mut l).expect("read the notice line");
        notices.push(l);
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    (Guard(Some(child), notices), addr)
}

/// Run `strata connect desc` with `input` on stdin, bounded in time.
fn connect(desc: &str, input: Vec<u8>) -> Output {
    let mut child = Command::new(BIN)
        .args(["connect", desc])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata connect");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = wait_with_timeout(child, Duration::from_secs(60));
    writer.join().unwrap();
    out
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

fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn echo_over_tcp_prints_hello_and_exits_zero() {
    let (_server, addr) = listen(&["tcp:127.0.0.1:0", "--echo"]);
    let out = connect(&format!("tcp:{addr}"), b"hello".to_vec());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello");
}

#[test]
fn echo_over_unix_prints_hello_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("strata-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let desc = format!("unix:{}", path.display());
    let (_server, _) = listen(&[&desc, "--echo"]);
    let out = connect(&desc, b"hello".to_vec());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_large_random_stream_comes_back_identical() {
    let (_server, addr) = listen(&["tcp:127.0.0.1:0", "--echo"]);
    let data = random_bytes(32 << 20);
    let out = connect(&format!("tcp:{addr}"), data.clone());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "echoed bytes differ");
}

#[test]
fn listen_and_connect_half_close_both_ways() {
    // The listener sends its stdin and half-closes; so does the client.
    // Each prints what the other sent and both exit 0.
    let (mut server, addr) = listen(&["tcp:127.0.0.1:0"]);
    let mut sin = server.child().stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        sin.write_all(b"from the server").unwrap();
        // Dropping stdin is EOF: the listener half-closes.
    });
    let out = connect(&format!("tcp:{addr}"), b"from the client".to_vec());
    feeder.join().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"from the server");
    let out = wait_with_timeout(server.into_child(), Duration::from_secs(30));
    assert!(
        out.status.success(),
        "listener stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"from the client");
}

#[test]
fn echo_over_tls_self_signed_with_a_pinned_client() {
    let (server, addr) = listen(&["tcp:127.0.0.1:0+tls:self-signed", "--echo"]);
    let pin = server.notice_value("tls:pin=");
    let data = random_bytes(8 << 20);
    let out = connect(&format!("tcp:{addr}+tls:pin={pin}"), data.clone());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data, "echoed bytes differ over TLS");
    // The wrong pin is refused with a clear error.
    let wrong: String = pin.chars().rev().collect();
    let out = connect(&format!("tcp:{addr}+tls:pin={wrong}"), b"x".to_vec());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fingerprint") || err.contains("pin"), "{err}");
}

#[test]
fn echo_over_tls_and_mux_and_half_close_through_a_subchannel() {
    let (server, addr) = listen(&["tcp:127.0.0.1:0+tls:self-signed+mux", "--echo"]);
    let pin = server.notice_value("tls:pin=");
    let data = random_bytes(8 << 20);
    let out = connect(&format!("tcp:{addr}+tls:pin={pin}+mux"), data.clone());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data, "echoed bytes differ over tls+mux");

    // Listen once with a mux: the first subchannel is piped both ways.
    let (mut server, addr) = listen(&["tcp:127.0.0.1:0+mux"]);
    let mut sin = server.child().stdin.take().unwrap();
    let feeder = std::thread::spawn(move || sin.write_all(b"down the subchannel").unwrap());
    let out = connect(&format!("tcp:{addr}+mux"), b"up the subchannel".to_vec());
    feeder.join().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"down the subchannel");
    let out = wait_with_timeout(server.into_child(), Duration::from_secs(30));
    assert!(
        out.status.success(),
        "listener: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"up the subchannel");
}

fn run_fail(args: &[&str]) -> String {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line on stderr: {err:?}"
    );
    err
}

#[test]
fn errors_are_one_clear_line_and_a_nonzero_exit() {
    let err = run_fail(&["connect", "tcp:127.0.0.1:notaport"]);
    assert!(
        err.contains("\"tcp:127.0.0.1:notaport\"") && err.contains("expected"),
        "{err}"
    );
    let err = run_fail(&["connect", "carrier-pigeon:home"]);
    assert!(
        err.contains("carrier-pigeon") && err.contains("expected"),
        "{err}"
    );
    let err = run_fail(&["connect", "tcp:127.0.0.1:7000+nosuchlayer"]);
    assert!(
        err.contains("nosuchlayer") && err.contains("tls") && err.contains("mux"),
        "{err}"
    );
    let err = run_fail(&["connect", "tcp:127.0.0.1:7000+mux:window=12"]);
    assert!(err.contains("window 12"), "{err}");

    // Refused: bind a port, learn it, free it, then connect to it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run_fail(&["connect", &format!("tcp:127.0.0.1:{port}")]);
    assert!(err.to_lowercase().contains("refused"), "{err}");

    // Address in use.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let err = run_fail(&["listen", &format!("tcp:127.0.0.1:{port}"), "--echo"]);
    assert!(err.to_lowercase().contains("in use"), "{err}");
}

#[test]
fn the_tour_runs_every_step_and_exits_zero() {
    let child = Command::new(BIN)
        .arg("tour")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Every step checked out"), "{stdout}");
    assert!(
        stdout.contains("connection_made") && stdout.contains("write_closed"),
        "{stdout}"
    );
}
