//! `strata send DESC PATH...` and `strata receive DESC DIR`: files over a
//! stack, one mux subchannel per file (see the `strata-transfer` crate).
//!
//! By default `receive` listens and `send` connects; `--listen` /
//! `--connect` swap the roles. Whoever connects runs the mux client and
//! opens the first subchannel; the sender's session runs on it either way
//! (the sender speaks first), and the sender opens one subchannel per entry
//! through it.
//!
//! The top layer of the description must be `mux`: the layers under it
//! (TLS, ...) are built by the facade as for any stack, and the mux on top
//! is assembled here with the transfer's own factories.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata::rt::{spawn_stream, Acceptor, Connected, Handle};
use strata::{BoxProtocol, Layer, Role, Stack, TransportInfo};
use strata_mux::{no_inbound, Mux};
use strata_transfer::{
    plan, wire::hex, Progress, ReceiveOptions, Receiving, SendOptions, Sending, State,
};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ui {
    /// indicatif bars (stderr is a terminal).
    Bars,
    /// Plain lines on stderr.
    Plain,
    /// Nothing but errors (the tour).
    Quiet,
}

impl Ui {
    /// Bars on a terminal, plain lines otherwise.
    pub fn detect() -> Ui {
        if std::io::stderr().is_terminal() {
            Ui::Bars
        } else {
            Ui::Plain
        }
    }
}

const NEEDS_MUX: &str = "the transfer needs `+mux` at the top of the stack (it sends each file on a subchannel of its own), e.g. tcp:127.0.0.1:7000+tls:pin=FINGERPRINT+mux";

/// The mux configuration on top of `stack`, and the layers under it.
fn split_mux(stack: &Stack) -> super::Result<(strata_mux::Config, &[Layer])> {
    match stack.layers.split_last() {
        Some((Layer::Mux(config), lower)) => Ok((config.clone(), lower)),
        _ => Err(format!("{stack}: {NEEDS_MUX}").into()),
    }
}

/// `top` under the `lower` layers (bottom first).
fn assemble(lower: &[Layer], top: Mux) -> BoxProtocol {
    lower
        .iter()
        .rev()
        .fold(Box::new(top) as BoxProtocol, |p, l| l.wrap(p))
}

/// Bind the listening side and print where (and the fingerprint to pin).
async fn bind(stack: &Stack, ui: Ui) -> super::Result<Box<dyn Acceptor>> {
    let acceptor = stack.endpoint.bind().await?;
    if ui != Ui::Quiet {
        eprintln!("strata: listening on {} ({stack})", acceptor.local_addr());
        for notice in stack.notices() {
            eprintln!("strata: {notice}");
        }
    }
    Ok(acceptor)
}

/// Accept one connection and run `make(info)` on it.
async fn accept_one(
    mut acceptor: Box<dyn Acceptor>,
    ui: Ui,
    make: impl FnOnce(&TransportInfo) -> BoxProtocol,
) -> super::Result<Handle<BoxProtocol>> {
    let Connected { io, info } = acceptor.accept().await?;
    drop(acceptor);
    if ui != Ui::Quiet {
        eprintln!("strata: connection from {}", info.peer);
    }
    let proto = make(&info);
    Ok(spawn_stream(io, proto, info))
}

/// `strata send`.
pub async fn send(desc: &str, paths: &[PathBuf], listen: bool, opts: SendOptions) -> super::Result {
    let role = if listen { Role::Server } else { Role::Client };
    let stack = Stack::parse(desc, role)?;
    split_mux(&stack)?;
    let plan = plan(paths)?;
    for (p, why) in &plan.skipped {
        eprintln!("strata: skipped {}: {why}", p.display());
    }
    let sending = Sending::new(plan, opts);
    let ui = Ui::detect();
    let handle = if listen {
        let acceptor = bind(&stack, ui).await?;
        start_send_listening(&stack, acceptor, &sending, ui).await?
    } else {
        start_send(&stack, &sending).await?
    };
    let progress = watch(&handle, ui, || sending.progress(), "sent").await;
    report(&progress, &handle, "sent", ui)
}

/// Connect and run `sending` (its session on the mux's first subchannel).
pub async fn start_send(stack: &Stack, sending: &Sending) -> super::Result<Handle<BoxProtocol>> {
    let (config, lower) = split_mux(stack)?;
    let mux =
        Mux::client(config.close_when_idle(true), no_inbound()).with_initial(sending.session());
    Ok(stack.endpoint.connect(assemble(lower, mux)).await?)
}

async fn start_send_listening(
    stack: &Stack,
    acceptor: Box<dyn Acceptor>,
    sending: &Sending,
    ui: Ui,
) -> super::Result<Handle<BoxProtocol>> {
    let (config, lower) = split_mux(stack)?;
    let sending = sending.clone();
    accept_one(acceptor, ui, move |_| {
        // The receiver opens the first subchannel; the session runs on it.
        // Any other channel it opens is refused.
        let mut session = Some(sending.session());
        let mux = Mux::server(config, move |_: &TransportInfo| session.take());
        assemble(lower, mux)
    })
    .await
}

/// `strata receive`.
pub async fn receive(desc: &str, dir: &Path, connect: bool, opts: ReceiveOptions) -> super::Result {
    let role = if connect { Role::Client } else { Role::Server };
    let stack = Stack::parse(desc, role)?;
    let (config, lower) = split_mux(&stack)?;
    let receiving = Receiving::new(dir, opts)
        .map_err(|e| format!("target directory {}: {e}", dir.display()))?;
    let ui = Ui::detect();
    let handle = if connect {
        // We open the first subchannel; the sender's session runs on it.
        let mux = Mux::client(config.close_when_idle(true), receiving.factory())
            .with_initial(receiving.channel());
        stack.endpoint.connect(assemble(lower, mux)).await?
    } else {
        let acceptor = bind(&stack, ui).await?;
        serve_receive(&stack, acceptor, &receiving, ui).await?
    };
    let progress = watch(&handle, ui, || receiving.progress(), "received").await;
    report(&progress, &handle, "received", ui)
}

/// Accept one connection and receive on it.
pub async fn serve_receive(
    stack: &Stack,
    acceptor: Box<dyn Acceptor>,
    receiving: &Receiving,
    ui: Ui,
) -> super::Result<Handle<BoxProtocol>> {
    let (config, lower) = split_mux(stack)?;
    let factory = receiving.factory();
    accept_one(acceptor, ui, move |_| {
        assemble(lower, Mux::server(config, factory))
    })
    .await
}

/// Show progress until the connection ends; return the last snapshot.
async fn watch(
    handle: &Handle<BoxProtocol>,
    ui: Ui,
    snapshot: impl Fn() -> Progress,
    verb: &str,
) -> Progress {
    let mut bars = (ui == Ui::Bars).then(Bars::new);
    let mut shown = 0; // plain mode: items already reported
    let mut last_line = Instant::now();
    loop {
        let ended = tokio::time::timeout(Duration::from_millis(100), handle.closed())
            .await
            .is_ok();
        let p = snapshot();
        match (&mut bars, ui) {
            (Some(b), _) => b.update(&p),
            (None, Ui::Plain) => {
                plain_lines(&p, &mut shown, verb);
                if last_line.elapsed() >= Duration::from_secs(2) && !ended {
                    last_line = Instant::now();
                    let e = p.elapsed().as_secs_f64().max(1e-3);
                    eprintln!(
                        "strata: {} of {} ({:.1} MB/s), {}/{} files",
                        human(p.moved_bytes()),
                        human(p.total_bytes().max(announced_bytes(&p))),
                        p.moved_bytes() as f64 / 1e6 / e,
                        p.files_done(),
                        p.items.iter().filter(|i| !i.dir).count()
                    );
                }
            }
            _ => {}
        }
        if ended {
            if let Some(b) = bars {
                b.finish();
            }
            return p;
        }
    }
}

fn announced_bytes(p: &Progress) -> u64 {
    p.announced.map_or(0, |(_, _, b)| b)
}

/// Plain mode: one line per resolved file (all of them for small
/// transfers; failures always).
fn plain_lines(p: &Progress, shown: &mut usize, verb: &str) {
    let few = p.items.len() <= 100;
    // Items resolve out of order; report those before the first unresolved
    // one, in order.
    while let Some(i) = p.items.get(*shown) {
        if !i.is_resolved() {
            break;
        }
        match &i.state {
            State::Done if few && !i.dir => eprintln!(
                "strata: {verb} {} ({}) blake3 {}",
                i.path,
                human(i.size),
                i.hash
                    .map(|h| hex(&h)[..16].to_string())
                    .unwrap_or_default()
            ),
            State::Failed(why) => eprintln!("strata: FAILED {}: {why}", i.path),
            _ => {}
        }
        *shown += 1;
    }
}

/// indicatif: one bar for the total, one per file in flight.
struct Bars {
    multi: indicatif::MultiProgress,
    total: indicatif::ProgressBar,
    files: std::collections::HashMap<usize, indicatif::ProgressBar>,
}

impl Bars {
    fn new() -> Bars {
        use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
        let multi = MultiProgress::new();
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>5} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("a valid template"),
        );
        total.set_prefix("total");
        Bars {
            multi,
            total,
            files: Default::default(),
        }
    }

    fn update(&mut self, p: &Progress) {
        use indicatif::{ProgressBar, ProgressStyle};
        self.total
            .set_length(p.total_bytes().max(announced_bytes(p)));
        self.total.set_position(p.moved_bytes());
        let files = p.items.iter().filter(|i| !i.dir).count();
        self.total
            .set_message(format!("{}/{files} files", p.files_done()));
        for (idx, item) in p.items.iter().enumerate() {
            if item.dir {
                continue;
            }
            match (&item.state, self.files.get(&idx)) {
                (State::Moving, None) if item.size > 0 => {
                    let bar = self.multi.add(ProgressBar::new(item.size));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "      {wide_msg} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                        )
                        .expect("a valid template"),
                    );
                    bar.set_message(item.path.to_string());
                    bar.set_position(item.moved);
                    self.files.insert(idx, bar);
                }
                (State::Moving, Some(bar)) => bar.set_position(item.moved),
                (State::Done | State::Failed(_), Some(_)) => {
                    if let Some(bar) = self.files.remove(&idx) {
                        bar.finish_and_clear();
                        self.multi.remove(&bar);
                    }
                    if let State::Failed(why) = &item.state {
                        let _ = self.multi.println(format!("FAILED {}: {why}", item.path));
                    }
                }
                (State::Failed(why), None) if !self.files.contains_key(&idx) => {
                    // Reported once: remember it with a hidden bar.
                    let _ = self.multi.println(format!("FAILED {}: {why}", item.path));
                    self.files.insert(idx, ProgressBar::hidden());
                    if let Some(b) = self.files.get(&idx) {
                        b.finish();
                    }
                }
                _ => {}
            }
        }
    }

    fn finish(self) {
        for (_, b) in self.files {
            b.finish_and_clear();
        }
        self.total.finish();
    }
}

/// The final summary (stdout) and the verdict.
fn report(p: &Progress, handle: &Handle<BoxProtocol>, verb: &str, ui: Ui) -> super::Result {
    let files = p.items.iter().filter(|i| !i.dir).count();
    let dirs = p.items.len() - files;
    let bytes: u64 = p
        .items
        .iter()
        .filter(|i| i.state == State::Done)
        .map(|i| i.size)
        .sum();
    let secs = p.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        bytes as f64 / 1e6 / secs
    } else {
        0.0
    };
    if ui != Ui::Quiet {
        println!(
            "strata: {verb} {}/{files} files, {}/{dirs} directories, {} in {secs:.2} s ({rate:.1} MB/s); {} verified by BLAKE3",
            p.files_done(),
            p.items.iter().filter(|i| i.dir && i.state == State::Done).count(),
            human(bytes),
            p.files_done(),
        );
    }
    if p.succeeded() {
        return Ok(());
    }
    let failures = p.failures();
    let mut msg = String::new();
    if !failures.is_empty() {
        msg.push_str(&format!("{} file(s) did not arrive:", failures.len()));
        for (path, why) in failures.iter().take(20) {
            msg.push_str(&format!("\n  {path}: {why}"));
        }
        if failures.len() > 20 {
            msg.push_str(&format!("\n  ... and {} more", failures.len() - 20));
        }
    }
    match &p.session {
        Some(Err(why)) => msg.push_str(&format!(
            "{}the transfer did not complete: {why}",
            if msg.is_empty() { "" } else { "\n" }
        )),
        None => {
            let reason = handle.reason().map(|r| r.to_string()).unwrap_or_default();
            msg.push_str(&format!(
                "{}the connection ended before the transfer started ({reason})",
                if msg.is_empty() { "" } else { "\n" }
            ));
        }
        Some(Ok(_)) => {}
    }
    Err(msg.into())
}

/// Bytes for people: 1.5 MiB.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The sentence that introduces the tour's transfer step.
pub const TOUR_INTRO: &str = "8. Files over the mux (strata send / receive): each file on a subchannel of its own — an opening, the bytes, a half-close — and the receiver answers on the same subchannel with the BLAKE3 of what it stored.";

/// The tour's step: a small file transfer over TLS and a mux, in process.
/// Returns the lines to print.
pub async fn tour_step() -> super::Result<Vec<String>> {
    let tmp = std::env::temp_dir().join(format!("strata-tour-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (src, dst) = (tmp.join("outbox"), tmp.join("inbox"));
    let result = async {
        std::fs::create_dir_all(src.join("notes/empty"))?;
        let files: [(&str, Vec<u8>); 3] = [
            ("notes/hello.txt", b"hello over a subchannel\n".to_vec()),
            ("notes/numbers.bin", (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect()),
            ("notes/zero", Vec::new()),
        ];
        for (p, d) in &files {
            std::fs::write(src.join(p), d)?;
        }
        let server = Stack::parse("tcp:127.0.0.1:0+tls:self-signed+mux", Role::Server)?;
        let acceptor = bind(&server, Ui::Quiet).await?;
        let port = match acceptor.local_addr() {
            strata::core::Addr::Inet(a) => a.port(),
            other => return Err(format!("unexpected address {other}").into()),
        };
        let pin = server
            .layers
            .iter()
            .find_map(|l| match l {
                Layer::Tls(c) => c.fingerprint().map(str::to_string),
                _ => None,
            })
            .unwrap_or_default();
        let client_desc = format!("tcp:127.0.0.1:{port}+tls:pin={pin}+mux");
        let client = Stack::parse(&client_desc, Role::Client)?;
        let receiving = Receiving::new(&dst, ReceiveOptions::default())?;
        let sending = Sending::new(plan(&[src.join("notes")])?, SendOptions::default());
        let rx = {
            let (server, receiving) = (server.clone(), receiving.clone());
            tokio::spawn(async move {
                let h = serve_receive(&server, acceptor, &receiving, Ui::Quiet)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(h.closed().await)
            })
        };
        let tx = start_send(&client, &sending).await?;
        let sent = tx
            .closed_within(Duration::from_secs(20))
            .await
            .ok_or("the transfer did not finish within 20 s")?;
        let received = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .map_err(|_| "the receiver did not finish within 20 s")??
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
        let (sp, rp) = (sending.progress(), receiving.progress());
        let mut lines = vec![
            format!(
                "   sender:   {} (the session on subchannel 1, one subchannel per entry)",
                client_desc.replace(&pin, &format!("{}...", &pin[..pin.len().min(12)]))
            ),
            "   receiver: tcp:127.0.0.1:0+tls:self-signed+mux, writing into a temp dir".to_string(),
        ];
        for i in &sp.items {
            let what = if i.dir { "dir " } else { "file" };
            let hash = i.hash.map(|h| format!(" blake3 {}", &hex(&h)[..16])).unwrap_or_default();
            lines.push(format!(
                "   {what} {:<20} {:>9} {:?}{hash}",
                i.path.as_str(),
                human(i.size),
                i.state
            ));
        }
        if let Some(Ok(s)) = &rp.session {
            lines.push(format!("   the receiver's summary: {s}"));
        }
        if !sent.is_done() || !received.is_done() {
            return Err(format!("the connection ended with: {sent} / {received}").into());
        }
        if !sp.succeeded() {
            return Err(format!("not every file was verified: {:?}", sp.failures()).into());
        }
        for (p, d) in &files {
            if std::fs::read(dst.join(p))? != *d {
                return Err(format!("{p} arrived different").into());
            }
        }
        if !dst.join("notes/empty").is_dir() {
            return Err("the empty directory did not arrive".into());
        }
        lines.push("   every file arrived byte for byte, each acknowledged with the hash of what was stored".into());
        Ok(lines)
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
