//! [`Handle`]: reach a running stack from any task.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use strata_core::{Bytes, Reason, TimerId, Transport};
use tokio::sync::{oneshot, watch};

use crate::mailbox::Mailbox;

/// A closure run inside the connection task with the protocol and its
/// transport.
pub(crate) type CallFn<P> = Box<dyn FnOnce(&mut P, &mut dyn Transport) + Send>;

/// Work posted to a connection task. The task applies commands in order, in
/// between I/O, and settles the stack after each one.
pub(crate) enum Command<P> {
    Write(Bytes),
    CloseWrite,
    Close,
    Abort,
    Call(CallFn<P>),
    FireTimer(TimerId),
}

/// The connection this handle points to has ended (or its task is gone):
/// the command was not carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the connection is gone")]
pub struct Gone;

/// The reason a connection ended when its protocol panicked. The task was
/// stopped, its socket reset (where possible) and dropped; other
/// connections are unaffected.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the protocol panicked: {0}")]
pub struct ProtocolPanicked(pub String);

/// The reason a handle reports when the connection task vanished without
/// saying why (its runtime shut down).
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the connection task is gone (its runtime shut down)")]
pub struct TaskGone;

/// A cheap, cloneable reference to a running stack whose top protocol is `P`.
///
/// Each method posts a command to the connection's task, which carries it
/// out between I/O events — in order, with the same settling (close
/// contract, water marks) as a callback. Commands never block and never wait
/// for the peer. Once the connection is over they fail with [`Gone`].
///
/// Writes posted through a handle are buffered like any other write: a
/// producer that posts without bound should watch
/// [`write_buffer_len`](Transport::write_buffer_len) through
/// [`call`](Handle::call).
///
/// Dropping every handle does not end the connection; it runs until its
/// stack closes it.
pub struct Handle<P> {
    tx: Arc<Mailbox<Command<P>>>,
    done: watch::Receiver<Option<Reason>>,
}

impl<P> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Handle {
            tx: self.tx.clone(),
            done: self.done.clone(),
        }
    }
}

impl<P> std::fmt::Debug for Handle<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("reason", &*self.done.borrow())
            .finish()
    }
}

impl<P: 'static> Handle<P> {
    pub(crate) fn new(tx: Arc<Mailbox<Command<P>>>, done: watch::Receiver<Option<Reason>>) -> Self {
        Handle { tx, done }
    }

    fn send(&self, c: Command<P>) -> Result<(), Gone> {
        self.tx.send(c).map_err(|_| Gone)
    }

    /// [`Transport::write`] on the bottom transport.
    pub fn write(&self, data: Bytes) -> Result<(), Gone> {
        self.send(Command::Write(data))
    }

    /// [`Transport::close_write`] on the bottom transport.
    pub fn close_write(&self) -> Result<(), Gone> {
        self.send(Command::CloseWrite)
    }

    /// [`Transport::close`] on the bottom transport.
    pub fn close(&self) -> Result<(), Gone> {
        self.send(Command::Close)
    }

    /// [`Transport::abort`] on the bottom transport.
    pub fn abort(&self) -> Result<(), Gone> {
        self.send(Command::Abort)
    }

    /// Run `f` inside the connection task with the protocol and its
    /// transport, as if it were a callback; resolves to what `f` returned.
    ///
    /// The command is posted at once (the future need not be polled for
    /// `f` to run). It fails with [`Gone`] if the connection ended before
    /// `f` could run.
    pub fn call<R, F>(&self, f: F) -> impl Future<Output = Result<R, Gone>> + Send + 'static
    where
        F: FnOnce(&mut P, &mut dyn Transport) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Command::Call(Box::new(move |p, t| {
            let _ = tx.send(f(p, t));
        })));
        async move {
            sent?;
            rx.await.map_err(|_| Gone)
        }
    }

    /// Deliver `timer_fired(timer)` through the stack now, as if the timer
    /// expired: the timer is cancelled and the bottom protocol's
    /// `timer_fired` is called with it.
    ///
    /// This is the way to wake a protocol anywhere in a stack from another
    /// task without knowing the layers in between — every layer passes on
    /// the timers it did not set — and is what
    /// [`StrataStream`](crate::StrataStream) uses. A timer that already
    /// fired or was cancelled does not fire again.
    pub fn fire_timer(&self, timer: TimerId) -> Result<(), Gone> {
        self.send(Command::FireTimer(timer))
    }

    /// Wait until the connection is over; returns the reason its protocol
    /// was given in `connection_lost` ([`ProtocolPanicked`] inside
    /// [`Reason::Error`] if it panicked).
    pub async fn closed(&self) -> Reason {
        let mut rx = self.done.clone();
        let result = rx.wait_for(|r| r.is_some()).await;
        match result {
            Ok(r) => r.clone().expect("wait_for checked it"),
            Err(_) => Reason::error(TaskGone),
        }
    }

    /// Like [`closed`](Handle::closed), giving up after `limit`.
    pub async fn closed_within(&self, limit: Duration) -> Option<Reason> {
        tokio::time::timeout(limit, self.closed()).await.ok()
    }

    /// The reason the connection ended, if it has.
    pub fn reason(&self) -> Option<Reason> {
        self.done.borrow().clone()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.done.borrow().is_some() || self.tx.is_closed()
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-string panic payload)".to_string())
}
