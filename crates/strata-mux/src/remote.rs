//! [`Remote`]: opening subchannels from other tasks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use strata_core::{BoxProtocol, OpenError, TimerId};

type Wake = Arc<dyn Fn(TimerId) + Send + Sync>;

#[derive(Default)]
pub(crate) struct RemoteState {
    queue: VecDeque<BoxProtocol>,
    /// The mux's wake-up timer, while one is pending.
    pub timer: Option<TimerId>,
    /// The timer was asked to fire and has not yet.
    kicked: bool,
    wake: Option<Wake>,
    /// The mux is gone: opens fail.
    pub closed: bool,
}

/// Shared between a [`Remote`] and its mux.
#[derive(Default)]
pub(crate) struct RemoteShared {
    /// Something is queued (checked by the mux without locking).
    pub pending: AtomicBool,
    state: Mutex<RemoteState>,
}

impl RemoteShared {
    pub fn lock(&self) -> MutexGuard<'_, RemoteState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything queued (called by the mux).
    pub fn take(&self) -> VecDeque<BoxProtocol> {
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut self.lock().queue)
    }

    /// The mux set (or re-set) its wake-up timer.
    pub fn armed(&self, timer: TimerId) {
        let mut st = self.lock();
        st.timer = Some(timer);
        st.kicked = false;
    }

    /// The mux ended: fail further opens, drop what is queued.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.timer = None;
        st.queue.clear();
    }
}

/// Opens subchannels on a running [`Mux`](crate::Mux) from any task. Cheap
/// to clone.
///
/// A mux lives inside one connection task and is reached only through
/// callbacks. To open a subchannel from elsewhere, take a [`Remote`] from it
/// ([`Mux::remote`](crate::Mux::remote)) before the stack is spawned, and
/// tell the remote how to wake the connection task
/// ([`Remote::set_wake`]). The wake-up is a timer, as in strata-tokio's
/// bridge: the mux keeps one far-future timer pending, and the remote asks
/// the driver to fire it now (`Handle::fire_timer`). Timers travel through
/// every layer to the one that set it, so this works wherever the mux sits
/// in a stack (under TLS, inside another mux), with no layer in between
/// knowing.
///
/// ```text
/// let mut mux = Mux::client(Config::default(), no_inbound());
/// let remote = mux.remote();
/// let handle = strata_tokio::spawn_stream(io, mux, info);
/// let h = handle.clone();
/// remote.set_wake(move |timer| { let _ = h.fire_timer(timer); });
/// remote.open(Box::new(MyApp::new()))?; // from any task
/// ```
///
/// To use a new subchannel as a tokio stream (hyper, a codec, tokio-rustls)
/// from another task, strata-tokio's `StrataStream::open` hands a bridge to
/// the remote and returns the stream at once (if the mux refuses the
/// subchannel, the stream fails with `ConnectionAborted`):
///
/// ```text
/// let stream = StrataStream::open(&handle, |bridge| remote.open(bridge))?;
/// let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
/// ```
#[derive(Clone)]
pub struct Remote {
    pub(crate) shared: Arc<RemoteShared>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Remote")
            .field("queued", &st.queue.len())
            .field("closed", &st.closed)
            .finish()
    }
}

impl Remote {
    /// Queue `proto` to run on a new outbound subchannel; the mux opens it
    /// in its own task, soon. Fails with [`OpenError::Closed`] once the mux
    /// has ended. If the mux cannot open it when it gets to it (limits,
    /// GoAway), the protocol is dropped without any callback and a warning
    /// is logged.
    pub fn open(&self, proto: BoxProtocol) -> Result<(), OpenError> {
        let wake = {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(OpenError::Closed);
            }
            st.queue.push_back(proto);
            self.shared.pending.store(true, Ordering::Release);
            match (st.wake.clone(), st.timer, st.kicked) {
                (Some(w), Some(t), false) => {
                    st.kicked = true;
                    Some((w, t))
                }
                _ => None,
            }
        };
        if let Some((w, t)) = wake {
            w(t);
        }
        Ok(())
    }

    /// How to wake the connection task: fire the given timer in the stack
    /// now (with strata-tokio: `move |t| { let _ = handle.fire_timer(t); }`).
    /// Without it, queued opens are taken up at the mux's next event.
    pub fn set_wake(&self, fire_timer: impl Fn(TimerId) + Send + Sync + 'static) {
        let wake: Wake = Arc::new(fire_timer);
        let kick = {
            let mut st = self.shared.lock();
            st.wake = Some(wake.clone());
            match (st.timer, st.kicked, st.queue.is_empty()) {
                (Some(t), false, false) => {
                    st.kicked = true;
                    Some(t)
                }
                _ => None,
            }
        };
        if let Some(t) = kick {
            wake(t);
        }
    }

    /// Whether the mux has ended (opens fail).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Protocols queued and not yet taken up by the mux.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }
}
