//! A scriptable protocol that records every callback it sees.

use std::sync::{Arc, Mutex, MutexGuard};

use strata_core::{Bytes, Protocol, Reason, TimerId, Transport};

/// One callback as a [`Recorder`] saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `connection_made`.
    Made,
    /// `data_received` with this many bytes.
    Data(usize),
    /// `read_closed`.
    ReadClosed,
    /// `write_closed`.
    WriteClosed,
    /// `connection_lost`, with [`Reason::kind`].
    Lost(&'static str),
    /// `pause_writing`, with the write buffer length at that moment.
    PauseWriting(usize),
    /// `resume_writing`, with the write buffer length at that moment.
    ResumeWriting(usize),
    /// `timer_fired`.
    Timer(TimerId),
    /// Something a script chose to note (`"paused"`, `"violation: ..."`).
    Note(String),
}

#[derive(Debug, Default)]
struct LogInner {
    events: Vec<Event>,
    received: Vec<u8>,
    reason: Option<String>,
}

/// What a [`Recorder`] saw, shared with the test that reads it afterwards.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<LogInner>>);

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Every byte received so far, concatenated.
    pub fn received(&self) -> Vec<u8> {
        self.lock().received.clone()
    }

    /// How many bytes were received.
    pub fn received_len(&self) -> usize {
        self.lock().received.len()
    }

    /// The kind of the `connection_lost` reason ([`Reason::kind`]), if lost.
    pub fn lost(&self) -> Option<&'static str> {
        self.lock().events.iter().find_map(|e| match e {
            Event::Lost(k) => Some(*k),
            _ => None,
        })
    }

    /// The full `connection_lost` reason as text, if lost.
    pub fn lost_reason(&self) -> Option<String> {
        self.lock().reason.clone()
    }

    /// Whether `e` was recorded.
    pub fn has(&self, e: &Event) -> bool {
        self.lock().events.contains(e)
    }

    /// Position of the first event matching `f`.
    pub fn position(&self, f: impl Fn(&Event) -> bool) -> Option<usize> {
        self.lock().events.iter().position(f)
    }

    /// Record a note (from inside a script).
    pub fn note(&self, s: impl Into<String>) {
        self.lock().events.push(Event::Note(s.into()));
    }

    fn push(&self, e: Event) {
        self.lock().events.push(e);
    }

    /// Check the parts of the close contract a single side can see:
    /// `Made` first; `Lost` exactly once and last; `ReadClosed` and
    /// `WriteClosed` at most once; no data after `ReadClosed`; pause and
    /// resume alternate, pause first; no `violation` notes.
    pub fn check_contract(&self) -> Result<(), String> {
        let ev = self.events();
        let fail = |m: &str| Err(format!("{m}; events: {:?}", abbreviate(&ev)));
        if ev.first() != Some(&Event::Made) {
            return fail("first callback is not connection_made");
        }
        let lost: Vec<_> = ev
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Event::Lost(_)))
            .collect();
        match lost.as_slice() {
            [] => return fail("connection_lost never came"),
            [(i, _)] if *i == ev.len() - 1 => {}
            [_] => return fail("a callback came after connection_lost"),
            _ => return fail("connection_lost came more than once"),
        }
        for once in [Event::ReadClosed, Event::WriteClosed, Event::Made] {
            if ev.iter().filter(|e| **e == once).count() > 1 {
                return fail(&format!("{once:?} came more than once"));
            }
        }
        if let Some(rc) = ev.iter().position(|e| *e == Event::ReadClosed) {
            if ev[rc..].iter().any(|e| matches!(e, Event::Data(_))) {
                return fail("data_received after read_closed");
            }
        }
        let mut paused = false;
        for e in &ev {
            match e {
                Event::PauseWriting(_) if paused => {
                    return fail("pause_writing twice without resume")
                }
                Event::PauseWriting(_) => paused = true,
                Event::ResumeWriting(_) if !paused => return fail("resume_writing without pause"),
                Event::ResumeWriting(_) => paused = false,
                Event::Note(n) if n.starts_with("violation") => return fail(n),
                _ => {}
            }
        }
        Ok(())
    }
}

fn abbreviate(ev: &[Event]) -> Vec<Event> {
    // Runs of Data events are merged so failure messages stay readable.
    let mut out: Vec<Event> = Vec::new();
    for e in ev {
        match (out.last_mut(), e) {
            (Some(Event::Data(n)), Event::Data(m)) => *n += m,
            _ => out.push(e.clone()),
        }
    }
    out
}

type Hook = Box<dyn FnMut(&mut dyn Transport) + Send>;
type DataHook = Box<dyn FnMut(&mut dyn Transport, &Bytes) + Send>;
type TimerHook = Box<dyn FnMut(&mut dyn Transport, TimerId) + Send>;

/// A protocol that records every callback into a [`Log`] and runs an
/// optional script hook for each. Without a `read_closed` hook it behaves
/// like the trait's default (closes).
pub struct Recorder {
    log: Log,
    made: Option<Hook>,
    data: Option<DataHook>,
    read_closed: Option<Hook>,
    write_closed: Option<Hook>,
    pause: Option<Hook>,
    resume: Option<Hook>,
    timer: Option<TimerHook>,
}

impl Recorder {
    /// A recorder writing into `log`, with no script.
    pub fn new(log: &Log) -> Self {
        Recorder {
            log: log.clone(),
            made: None,
            data: None,
            read_closed: None,
            write_closed: None,
            pause: None,
            resume: None,
            timer: None,
        }
    }

    /// Run `f` in `connection_made`.
    pub fn on_made(mut self, f: impl FnMut(&mut dyn Transport) + Send + 'static) -> Self {
        self.made = Some(Box::new(f));
        self
    }
    /// Run `f` in `data_received` (after recording the bytes).
    pub fn on_data(mut self, f: impl FnMut(&mut dyn Transport, &Bytes) + Send + 'static) -> Self {
        self.data = Some(Box::new(f));
        self
    }
    /// Run `f` in `read_closed` instead of the default `close()`.
    pub fn on_read_closed(mut self, f: impl FnMut(&mut dyn Transport) + Send + 'static) -> Self {
        self.read_closed = Some(Box::new(f));
        self
    }
    /// Run `f` in `write_closed`.
    pub fn on_write_closed(mut self, f: impl FnMut(&mut dyn Transport) + Send + 'static) -> Self {
        self.write_closed = Some(Box::new(f));
        self
    }
    /// Run `f` in `pause_writing`.
    pub fn on_pause(mut self, f: impl FnMut(&mut dyn Transport) + Send + 'static) -> Self {
        self.pause = Some(Box::new(f));
        self
    }
    /// Run `f` in `resume_writing`.
    pub fn on_resume(mut self, f: impl FnMut(&mut dyn Transport) + Send + 'static) -> Self {
        self.resume = Some(Box::new(f));
        self
    }
    /// Run `f` in `timer_fired`.
    pub fn on_timer(mut self, f: impl FnMut(&mut dyn Transport, TimerId) + Send + 'static) -> Self {
        self.timer = Some(Box::new(f));
        self
    }

    /// Box it, ready for a [`PairRunner`](super::PairRunner).
    pub fn boxed(self) -> super::BoxProtocol {
        Box::new(self)
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        self.log.push(Event::Made);
        if let Some(f) = &mut self.made {
            f(t)
        }
    }
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        {
            let mut l = self.log.lock();
            l.events.push(Event::Data(data.len()));
            l.received.extend_from_slice(&data);
        }
        if let Some(f) = &mut self.data {
            f(t, &data)
        }
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        self.log.push(Event::ReadClosed);
        match &mut self.read_closed {
            Some(f) => f(t),
            None => t.close(),
        }
    }
    fn write_closed(&mut self, t: &mut dyn Transport) {
        self.log.push(Event::WriteClosed);
        if let Some(f) = &mut self.write_closed {
            f(t)
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        let mut l = self.log.lock();
        l.events.push(Event::Lost(reason.kind()));
        l.reason = Some(reason.to_string());
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        self.log.push(Event::PauseWriting(t.write_buffer_len()));
        if let Some(f) = &mut self.pause {
            f(t)
        }
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        self.log.push(Event::ResumeWriting(t.write_buffer_len()));
        if let Some(f) = &mut self.resume {
            f(t)
        }
    }
    fn timer_fired(&mut self, t: &mut dyn Transport, timer: TimerId) {
        self.log.push(Event::Timer(timer));
        if let Some(f) = &mut self.timer {
            f(t, timer)
        }
    }
}
