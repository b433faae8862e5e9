//! Small protocols shared by the integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{Bytes, Protocol, Reason, Transport};

/// Echoes everything; default `read_closed` (closes).
pub struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        t.write(data);
    }
}

/// What a [`Collect`] saw.
#[derive(Default, Debug)]
pub struct Seen {
    pub data: Vec<u8>,
    pub events: Vec<String>,
    pub lost: Option<String>,
}

/// A one-shot callback.
pub type Hook = Box<dyn FnOnce(&mut dyn Transport) + Send>;

/// Records data and events into a shared [`Seen`]; runs `on_made` first.
pub struct Collect {
    pub seen: Arc<Mutex<Seen>>,
    pub on_made: Option<Hook>,
    pub on_read_closed: Option<Hook>,
}

impl Collect {
    pub fn new() -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Collect {
                seen: seen.clone(),
                on_made: None,
                on_read_closed: None,
            },
            seen,
        )
    }

    pub fn on_made(mut self, f: impl FnOnce(&mut dyn Transport) + Send + 'static) -> Self {
        self.on_made = Some(Box::new(f));
        self
    }

    pub fn on_read_closed(mut self, f: impl FnOnce(&mut dyn Transport) + Send + 'static) -> Self {
        self.on_read_closed = Some(Box::new(f));
        self
    }
}

impl Protocol for Collect {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.seen.lock().unwrap().events.push("made".into());
        if let Some(f) = self.on_made.take() {
            f(t)
        }
    }
    fn data_received(&mut self, _t: &mut dyn Transport, data: Bytes) {
        self.seen.lock().unwrap().data.extend_from_slice(&data);
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.seen.lock().unwrap().events.push("read_closed".into());
        match self.on_read_closed.take() {
            Some(f) => f(t),
            None => t.close(),
        }
    }
    fn write_closed(&mut self, _t: &mut dyn Transport) {
        self.seen.lock().unwrap().events.push("write_closed".into());
    }
    fn connection_lost(&mut self, reason: Reason) {
        let mut s = self.seen.lock().unwrap();
        s.events.push(format!("lost:{}", reason.kind()));
        s.lost = Some(reason.kind().to_string());
    }
}

/// A deterministic test pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Fail the test instead of hanging.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
