//! A pass-through layer that records what crosses it.
//!
//! Put a [`Traced`] anywhere in a stack — between TCP and TLS, between TLS
//! and the app — and it records every callback going up through it and every
//! call going down, indented by its depth, into a shared [`Trace`]. It
//! changes nothing: it is the smallest example of a layer that is a protocol
//! to what is below and a transport (a *view*) to what is above.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use strata_core::{
    Bytes, Channels, Protocol, Reason, TimerId, Transport, TransportInfo, Upgrade, UpgradeError,
};

/// A shared, append-only list of trace lines.
#[derive(Clone, Debug, Default)]
pub struct Trace(Arc<Mutex<Vec<String>>>);

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, line: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    /// Take the lines recorded so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Records callbacks (`↑`) and calls (`↓`) crossing this point of a stack.
pub struct Traced<P> {
    inner: P,
    label: &'static str,
    depth: usize,
    trace: Trace,
}

impl<P> Traced<P> {
    /// Trace what crosses into `inner`, labelled `label` (the layer above
    /// this point), indented `depth` steps.
    pub fn new(inner: P, label: &'static str, depth: usize, trace: &Trace) -> Self {
        Traced {
            inner,
            label,
            depth,
            trace: trace.clone(),
        }
    }
}

fn line(depth: usize, label: &str, arrow: &str, what: &str) -> String {
    format!("{}{arrow} {label:<6} {what}", "  ".repeat(depth))
}

struct View<'a> {
    lower: &'a mut dyn Transport,
    label: &'static str,
    depth: usize,
    trace: &'a Trace,
}

impl View<'_> {
    fn log(&self, what: &str) {
        self.trace.push(line(self.depth, self.label, "↓", what));
    }
}

impl Transport for View<'_> {
    fn write(&mut self, data: Bytes) {
        self.log(&format!("write({} bytes)", data.len()));
        self.lower.write(data)
    }
    fn close_write(&mut self) {
        self.log("close_write()");
        self.lower.close_write()
    }
    fn close(&mut self) {
        self.log("close()");
        self.lower.close()
    }
    fn abort(&mut self) {
        self.log("abort()");
        self.lower.abort()
    }
    fn pause_reading(&mut self) {
        self.log("pause_reading()");
        self.lower.pause_reading()
    }
    fn resume_reading(&mut self) {
        self.log("resume_reading()");
        self.lower.resume_reading()
    }
    fn write_buffer_len(&self) -> usize {
        self.lower.write_buffer_len()
    }
    fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        self.lower.set_write_buffer_limits(high, low)
    }
    fn can_write(&self) -> bool {
        self.lower.can_write()
    }
    fn info(&self) -> TransportInfo {
        self.lower.info()
    }
    fn now(&self) -> Instant {
        self.lower.now()
    }
    fn set_timer(&mut self, deadline: Instant) -> TimerId {
        self.lower.set_timer(deadline)
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        self.lower.cancel_timer(timer)
    }
    fn upgrade(&mut self, upgrade: Upgrade) -> Result<(), UpgradeError> {
        self.lower.upgrade(upgrade)
    }
    fn channels(&mut self) -> Option<&mut dyn Channels> {
        self.lower.channels()
    }
}

impl<P: Protocol> Traced<P> {
    fn up(&self, what: &str) {
        self.trace.push(line(self.depth, self.label, "↑", what));
    }

    fn with_view(&mut self, t: &mut dyn Transport, f: impl FnOnce(&mut P, &mut dyn Transport)) {
        let Traced {
            inner,
            label,
            depth,
            trace,
        } = self;
        f(
            inner,
            &mut View {
                lower: t,
                label,
                depth: *depth,
                trace,
            },
        )
    }
}

impl<P: Protocol> Protocol for Traced<P> {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.up("connection_made");
        self.with_view(t, |p, v| p.connection_made(v))
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        self.up(&format!("data_received({} bytes)", data.len()));
        self.with_view(t, |p, v| p.data_received(v, data))
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.up("read_closed");
        self.with_view(t, |p, v| p.read_closed(v))
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.up("write_closed");
        self.with_view(t, |p, v| p.write_closed(v))
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.up(&format!("connection_lost({})", reason.kind()));
        self.inner.connection_lost(reason)
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.up("pause_writing");
        self.with_view(t, |p, v| p.pause_writing(v))
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.up("resume_writing");
        self.with_view(t, |p, v| p.resume_writing(v))
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.with_view(t, |p, v| p.timer_fired(v, timer))
    }
}
