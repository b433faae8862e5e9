use std::collections::BTreeSet;
use std::time::Instant;

/// Names a timer set through [`Transport::set_timer`](crate::Transport::set_timer).
///
/// Ids are unique within one connection (one stack), whichever layer set the
/// timer, so a layer that forwards timers for the protocol above tells its own
/// from its protocol's by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// A set of pending deadlines: the timer table a bottom transport keeps on
/// behalf of the whole stack above it.
///
/// It knows no clock. Its owner — the tokio driver with real time, the test
/// harness with a virtual clock — asks for the [`earliest`](Timers::earliest)
/// deadline, waits until then, and [`pop_expired`](Timers::pop_expired)s.
/// Setting and cancelling are `O(log n)`.
#[derive(Debug, Default)]
pub struct Timers {
    next: u64,
    queue: BTreeSet<(Instant, TimerId)>,
    deadlines: std::collections::HashMap<TimerId, Instant>,
}

impl Timers {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a deadline; returns its new id.
    pub fn set(&mut self, deadline: Instant) -> TimerId {
        self.next += 1;
        let id = TimerId(self.next);
        self.queue.insert((deadline, id));
        self.deadlines.insert(id, deadline);
        id
    }

    /// Remove a deadline; unknown ids are ignored.
    pub fn cancel(&mut self, id: TimerId) {
        if let Some(d) = self.deadlines.remove(&id) {
            self.queue.remove(&(d, id));
        }
    }

    /// Whether `id` is pending (set, not yet fired nor cancelled).
    pub fn contains(&self, id: TimerId) -> bool {
        self.deadlines.contains_key(&id)
    }

    /// The earliest pending deadline.
    #[inline]
    pub fn earliest(&self) -> Option<Instant> {
        self.queue.first().map(|(d, _)| *d)
    }

    /// Remove and return the earliest timer whose deadline is at or before
    /// `now`. Call repeatedly: firing one timer may set or cancel others.
    pub fn pop_expired(&mut self, now: Instant) -> Option<TimerId> {
        let &(d, id) = self.queue.first()?;
        if d > now {
            return None;
        }
        self.queue.pop_first();
        self.deadlines.remove(&id);
        Some(id)
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no timer is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drop every pending timer (the connection is gone).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.deadlines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_and_honours_cancel() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        let a = t.set(t0 + Duration::from_millis(30));
        let b = t.set(t0 + Duration::from_millis(10));
        let c = t.set(t0 + Duration::from_millis(20));
        assert!(t.contains(c));
        t.cancel(c);
        t.cancel(c); // twice is fine
        assert!(!t.contains(c));
        assert_eq!(t.earliest(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.pop_expired(t0 + Duration::from_millis(5)), None);
        let now = t0 + Duration::from_millis(100);
        assert_eq!(t.pop_expired(now), Some(b));
        assert_eq!(t.pop_expired(now), Some(a));
        assert_eq!(t.pop_expired(now), None);
        assert!(t.is_empty());
    }
}
