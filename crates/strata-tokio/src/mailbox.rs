//! The command queue between [`Handle`](crate::Handle)s and their
//! connection task, built so that the task's hot path pays one atomic load
//! per poll when no command is waiting.
//!
//! Senders push under a mutex and raise `pending`; the first sender to
//! raise it wakes the task. The task registers its waker only when it
//! changes (tokio task wakers are stable), lowers `pending`, and drains.
//! Both the queue and the waker live under the one mutex, so a sender either
//! sees the registered waker or its `pending` is seen by the task's next
//! check.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Waker};

pub(crate) struct Mailbox<T> {
    inner: Mutex<Inner<T>>,
    pending: AtomicBool,
}

struct Inner<T> {
    queue: VecDeque<T>,
    waker: Option<Waker>,
    closed: bool,
}

/// The task ended: the item was not delivered.
pub(crate) struct Closed<T>(pub(crate) T);

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Self {
        Mailbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                waker: None,
                closed: false,
            }),
            pending: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Nothing runs user code under this lock; a poisoned one still
        // holds a consistent queue.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `item` and wake the task if it was not already told.
    pub(crate) fn send(&self, item: T) -> Result<(), Closed<T>> {
        let waker = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(Closed(item));
            }
            inner.queue.push_back(item);
            if self.pending.swap(true, Ordering::AcqRel) {
                None
            } else {
                inner.waker.clone()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Stop accepting items and drop those queued (their senders learn it
    /// the way each item says: a dropped reply channel, say).
    pub(crate) fn close(&self) {
        let queued = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.waker = None;
            std::mem::take(&mut inner.queue)
        };
        drop(queued);
    }
}

/// The task's end of a [`Mailbox`]: remembers the waker it registered.
pub(crate) struct Receiver {
    registered: Option<Waker>,
}

impl Receiver {
    pub(crate) fn new() -> Self {
        Receiver { registered: None }
    }

    /// Register the task's waker (if it changed); returns whether items may
    /// be waiting (then [`take`](Receiver::take) them). The idle case — the
    /// same waker, nothing posted — is two comparisons and one atomic load,
    /// inlined into the task's poll.
    #[inline]
    pub(crate) fn poll_pending<T>(&mut self, mailbox: &Mailbox<T>, cx: &mut Context<'_>) -> bool {
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.register(mailbox, cx.waker());
        }
        // A plain load first: the common, idle case costs no atomic write.
        mailbox.pending.load(Ordering::Acquire) && mailbox.pending.swap(false, Ordering::AcqRel)
    }

    #[cold]
    #[inline(never)]
    fn register<T>(&mut self, mailbox: &Mailbox<T>, waker: &Waker) {
        let w = waker.clone();
        mailbox.lock().waker = Some(w.clone());
        self.registered = Some(w);
    }

    /// After [`poll_pending`](Receiver::poll_pending) said so: move up to
    /// `max` waiting items into `out`. Returns whether more are waiting.
    #[inline(never)]
    pub(crate) fn take<T>(
        &mut self,
        mailbox: &Mailbox<T>,
        out: &mut VecDeque<T>,
        max: usize,
    ) -> bool {
        let mut inner = mailbox.lock();
        let n = inner.queue.len().min(max);
        out.extend(inner.queue.drain(..n));
        let more = !inner.queue.is_empty();
        if more {
            mailbox.pending.store(true, Ordering::Release);
        }
        more
    }
}
