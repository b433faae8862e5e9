//! Interop with `openssl s_server` / `openssl s_client` as independent
//! peers over loopback TCP, including close_notify in both directions, TLS
//! 1.2, and truncation when the peer dies. Every child process is bounded
//! in time and killed on drop; the tests skip (with a note) if no openssl
//! binary is installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use strata_testing::conformance::{Event, Log, Recorder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(20);

fn openssl() -> Option<&'static str> {
    let ok = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("openssl not installed: skipping");
    }
    ok.then_some("openssl")
}

/// The test PKI as PEM files.
fn pems(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    let leaf = common::localhost_leaf();
    std::fs::write(dir.join("ca.pem"), &common::pki().ca_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &leaf.key_pem).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_lost(log: &Log) {
    tokio::time::timeout(LIMIT, async {
        while log.lost().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the Strata side did not finish");
}

type Output = std::sync::Arc<std::sync::Mutex<String>>;

/// Start `openssl s_server` for one connection; returns once it listens,
/// with what it prints from then on.
async fn s_server(
    dir: &Path,
    port: u16,
    extra: &[&str],
) -> (Child, Output, tokio::task::JoinHandle<()>) {
    let mut child = Command::new(openssl().unwrap())
        .args(["s_server", "-naccept", "1", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn openssl s_server");
    // It prints ACCEPT once it listens.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(LIMIT, async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains("ACCEPT") {
                return;
            }
        }
        panic!("s_server exited before listening");
    })
    .await
    .expect("s_server did not start");
    // Keep reading its output in the background into a shared buffer; the
    // reader ends at s_server's exit (EOF on the pipe), and the test
    // awaits the reader, so no line is missed when the test looks.
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let o2 = out.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            let mut o = o2.lock().unwrap();
            o.push_str(&l);
            o.push('\n');
        }
    });
    (child, out, reader)
}

/// Strata client ↔ `openssl s_server`: s_server speaks first (from its
/// stdin); Strata answers and half-closes with close_notify; s_server sees
/// the data and the close_notify ("DONE"), shuts down with its own
/// close_notify, which Strata sees as `read_closed`; a clean end.
async fn strata_client_to_s_server(extra: &[&str]) {
    if openssl().is_none() {
        return;
    }
    let dir = pems(&format!("s_server{}", extra.join("")));
    let port = free_port();
    let (mut child, output, reader) = s_server(&dir, port, extra).await;
    let log = Log::new();
    let app = Recorder::new(&log)
        .on_data(|t, _| {
            if t.can_write() {
                t.write_slice(b"hello from strata\n");
                t.close_write();
            }
        })
        .on_read_closed(|_| {});
    let _h = strata_tokio::connect(&format!("tcp:127.0.0.1:{port}"), common::client().wrap(app))
        .await
        .unwrap();
    tokio::time::timeout(LIMIT, async {
        while !log.has(&Event::Made) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("no handshake with s_server");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hi from openssl\n").await.unwrap();
    stdin.flush().await.unwrap();
    wait_lost(&log).await;
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    drop(stdin);
    let _ = tokio::time::timeout(LIMIT, reader).await;
    assert_eq!(log.received(), b"hi from openssl\n");
    assert_eq!(log.lost(), Some("done"), "{:?}", log.lost_reason());
    assert!(log.has(&Event::WriteClosed) && log.has(&Event::ReadClosed));
    let out = output.lock().unwrap().clone();
    assert!(out.contains("hello from strata"), "s_server output: {out}");
    assert!(out.contains("DONE"), "s_server saw no close_notify: {out}");
    assert!(status.success(), "s_server: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_client_openssl_s_server_tls13() {
    strata_client_to_s_server(&["-tls1_3"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_client_openssl_s_server_tls12() {
    strata_client_to_s_server(&["-tls1_2"]).await;
}

/// `openssl s_client` ↔ Strata server: s_client sends a line (stdin then
/// EOF, ignored with -quiet) and verifies our certificate; the Strata server
/// answers and half-closes with close_notify; s_client prints the answer,
/// answers the close_notify with its own and exits 0; Strata ends cleanly.
async fn s_client_to_strata_server(extra: &[&str]) {
    let Some(openssl) = openssl() else { return };
    let dir = pems(&format!("s_client{}", extra.join("")));
    let log = Log::new();
    let l2 = log.clone();
    let server = common::server();
    let listener =
        strata_tokio::listen("tcp:127.0.0.1:0", move |_: &strata_core::TransportInfo| {
            let mut seen = Vec::new();
            let app = Recorder::new(&l2).on_data(move |t, b| {
                seen.extend_from_slice(b);
                if seen.ends_with(b"\n") && t.can_write() {
                    let mut answer = b"echo: ".to_vec();
                    answer.extend_from_slice(&seen);
                    t.write(answer.into());
                    t.close_write();
                }
            });
            server.wrap(app)
        })
        .await
        .unwrap();
    let port = listener.port().unwrap();
    let mut child = Command::new(openssl)
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .args(["-servername", "localhost", "-verify_return_error", "-quiet"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello from openssl\n").await.unwrap();
    drop(stdin);
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    tokio::time::timeout(LIMIT, stdout.read_to_string(&mut out))
        .await
        .expect("s_client did not finish")
        .unwrap();
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    wait_lost(&log).await;
    assert_eq!(out, "echo: hello from openssl\n");
    assert!(status.success(), "s_client: {status}");
    assert_eq!(log.received(), b"hello from openssl\n");
    assert_eq!(log.lost(), Some("done"), "{:?}", log.lost_reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_strata_server_tls13() {
    s_client_to_strata_server(&["-tls1_3"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_strata_server_tls12() {
    s_client_to_strata_server(&["-tls1_2"]).await;
}

/// s_server killed mid-connection: no close_notify, so the Strata client
/// must not see a clean end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_s_server_is_not_a_clean_end() {
    if openssl().is_none() {
        return;
    }
    let dir = pems("killed");
    let port = free_port();
    let (mut child, _, _) = s_server(&dir, port, &[]).await;
    let log = Log::new();
    let _h = strata_tokio::connect(
        &format!("tcp:127.0.0.1:{port}"),
        common::client().wrap(Recorder::new(&log)),
    )
    .await
    .unwrap();
    tokio::time::timeout(LIMIT, async {
        while !log.has(&Event::Made) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("no handshake with s_server");
    child.kill().await.unwrap();
    wait_lost(&log).await;
    assert!(
        matches!(log.lost(), Some("error") | Some("reset")),
        "{:?}",
        log.lost_reason()
    );
    assert!(!log.has(&Event::ReadClosed));
}
