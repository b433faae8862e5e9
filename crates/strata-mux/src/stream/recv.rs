//! The receiving half of a stream: the window the peer may fill, the data
//! held while the app has paused reading, and window auto-tuning.

use std::time::{Duration, Instant};

use strata_core::WriteQueue;

use crate::frame::INITIAL_WINDOW;

/// Per-stream receive state.
///
/// Two window sizes are kept: `target`, what auto-tuning says this stream
/// could use alone (256 KiB, doubled up to `max_window`), and `limit`, the
/// window actually granted, which is `target` cut down to the stream's
/// share of the connection's [`receive_budget`](crate::Config::receive_budget)
/// when many streams are busy. Invariant: `window` + bytes arrived but not
/// yet consumed + `consumed` == `limit`.
#[derive(Debug)]
pub(crate) struct RecvState {
    /// Bytes the peer may still send before we grant more.
    pub window: u32,
    /// The window this stream would keep open alone: 256 KiB, doubled by
    /// auto-tuning.
    pub target: u32,
    /// The window granted at the last update (or the initial window).
    pub limit: u32,
    /// Bytes delivered to the app (or discarded) since the last update.
    pub consumed: u32,
    /// Arrived while the app paused reading; delivered on resume.
    pub buf: WriteQueue,
    /// The peer's FIN arrived (after everything in `buf`).
    pub fin: bool,
    /// The app paused reading.
    pub paused: bool,
    /// When the last window update went out (auto-tuning).
    pub last_update: Option<Instant>,
}

/// A window update to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Update {
    /// The credit delta on the wire.
    pub delta: u32,
    /// How much `target` grew (taken from the connection's growth budget).
    pub growth: u32,
}

impl RecvState {
    pub fn new() -> Self {
        RecvState {
            window: INITIAL_WINDOW,
            target: INITIAL_WINDOW,
            limit: INITIAL_WINDOW,
            consumed: 0,
            buf: WriteQueue::new(),
            fin: false,
            paused: false,
            last_update: None,
        }
    }

    /// A data frame of `len` bytes was announced: take it from the window,
    /// or return the window it exceeded.
    pub fn take_window(&mut self, len: u32) -> Result<(), u32> {
        if len > self.window {
            return Err(self.window);
        }
        self.window -= len;
        Ok(())
    }

    /// `n` bytes left this stream: delivered to the app or discarded.
    pub fn consume(&mut self, n: usize) {
        self.consumed = self.consumed.saturating_add(n as u32);
    }

    /// Whether a window update may be due (see [`update_due`](Self::update_due)):
    /// the app has consumed half the window granted.
    #[inline]
    pub fn update_wanted(&self) -> bool {
        !self.fin && self.consumed >= self.limit / 2
    }

    /// The window update due now, if any.
    ///
    /// Auto-tuning: `target` doubles (up to `max_window`, within `budget`
    /// bytes of growth) when the previous update was less than two round
    /// trips ago: the peer is limited by the window, not by the app, so
    /// the window is below the bandwidth-delay product.
    ///
    /// Sharing: the new `limit` is `target` capped at `share` (the caller's
    /// part of the connection's budget, never below its floor). An update
    /// goes out only when it grants at least half the new limit, that is
    /// when the peer holds at most half of it: a stream whose window is
    /// being cut waits until its data drains below the new limit. That
    /// always happens while the app consumes (the window can only fall),
    /// so a stream is never left without credit.
    pub fn update_due(
        &mut self,
        now: Instant,
        rtt: Option<Duration>,
        max_window: u32,
        budget: u64,
        share: u32,
    ) -> Option<Update> {
        if !self.update_wanted() {
            return None;
        }
        let mut growth = 0;
        if let (Some(rtt), Some(last)) = (rtt, self.last_update) {
            if now.saturating_duration_since(last) < rtt * 2 && self.target < max_window {
                growth = self
                    .target
                    .min(max_window - self.target)
                    .min(budget.min(u32::MAX as u64) as u32);
            }
        }
        let target = self.target + growth;
        let limit = target.min(share).max(1);
        // What the peer may still send plus what arrived unconsumed.
        let held = self.limit - self.consumed.min(self.limit);
        if limit <= held || limit - held < limit / 2 {
            return None;
        }
        let delta = limit - held;
        self.target = target;
        self.limit = limit;
        self.window = self.window.saturating_add(delta);
        self.consumed = 0;
        self.last_update = Some(now);
        Some(Update { delta, growth })
    }

    /// The growth beyond the initial window this stream holds of the budget.
    pub fn growth(&self) -> u64 {
        (self.target - INITIAL_WINDOW) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` bytes arrive and are consumed at once.
    fn flow(r: &mut RecvState, n: u32) {
        r.take_window(n).unwrap();
        r.consume(n as usize);
    }

    #[test]
    fn update_after_half_the_window_is_consumed() {
        let now = Instant::now();
        let mut r = RecvState::new();
        r.take_window(200_000).unwrap();
        r.consume(100_000);
        assert_eq!(r.update_due(now, None, u32::MAX, u64::MAX, u32::MAX), None);
        r.consume(31_072);
        assert_eq!(
            r.update_due(now, None, u32::MAX, u64::MAX, u32::MAX)
                .map(|u| u.delta),
            Some(131_072)
        );
        assert_eq!(r.window, INITIAL_WINDOW - 200_000 + 131_072);
        assert!(r.take_window(r.window + 1).is_err());
    }

    #[test]
    fn window_doubles_when_consumed_within_two_rtts() {
        let t0 = Instant::now();
        let rtt = Some(Duration::from_millis(10));
        let mut r = RecvState::new();
        flow(&mut r, INITIAL_WINDOW);
        assert_eq!(
            r.update_due(t0, rtt, 1 << 20, u64::MAX, u32::MAX)
                .map(|u| u.delta),
            Some(INITIAL_WINDOW)
        );
        flow(&mut r, INITIAL_WINDOW);
        let t1 = t0 + Duration::from_millis(5);
        assert_eq!(
            r.update_due(t1, rtt, 1 << 20, u64::MAX, u32::MAX)
                .map(|u| u.delta),
            Some(2 * INITIAL_WINDOW)
        );
        assert_eq!(
            (r.target, r.limit),
            (2 * INITIAL_WINDOW, 2 * INITIAL_WINDOW)
        );
        // Slow consumption: no growth.
        let l = r.limit;
        flow(&mut r, l);
        let t2 = t0 + Duration::from_secs(1);
        assert_eq!(
            r.update_due(t2, rtt, 1 << 20, u64::MAX, u32::MAX)
                .map(|u| u.delta),
            Some(2 * INITIAL_WINDOW)
        );
        // Growth stops at the maximum.
        let l = r.limit;
        flow(&mut r, l);
        let t3 = t2 + Duration::from_millis(1);
        assert_eq!(
            r.update_due(t3, rtt, 1 << 20, u64::MAX, u32::MAX)
                .map(|u| u.delta),
            Some(1 << 20)
        );
        let l = r.limit;
        flow(&mut r, l);
        let t4 = t3 + Duration::from_millis(1);
        assert_eq!(
            r.update_due(t4, rtt, 1 << 20, u64::MAX, u32::MAX)
                .map(|u| u.delta),
            Some(1 << 20)
        );
        assert_eq!(r.target, 1 << 20);
        // The window granted is capped by the stream's share; the target
        // it could use alone is remembered.
        let l = r.limit;
        flow(&mut r, l);
        let t5 = t4 + Duration::from_millis(1);
        assert_eq!(
            r.update_due(t5, rtt, 1 << 20, u64::MAX, 100_000)
                .map(|u| u.delta),
            Some(100_000)
        );
        assert_eq!((r.target, r.limit, r.window), (1 << 20, 100_000, 100_000));
    }

    #[test]
    fn a_window_cut_to_a_smaller_share_waits_for_its_data_to_drain() {
        let now = Instant::now();
        let share = 64 * 1024;
        let mut r = RecvState::new();
        // The peer uses the whole initial window; half is consumed.
        r.take_window(INITIAL_WINDOW).unwrap();
        r.consume(128 * 1024);
        // It still holds 128 KiB, more than the new limit: no credit yet.
        assert_eq!(
            r.update_due(now, None, u32::MAX, u64::MAX, share)
                .map(|u| u.delta),
            None
        );
        r.consume(64 * 1024);
        assert_eq!(
            r.update_due(now, None, u32::MAX, u64::MAX, share)
                .map(|u| u.delta),
            None
        );
        // 32 KiB left unconsumed: granting 32 KiB restores the limit.
        r.consume(32 * 1024);
        assert_eq!(
            r.update_due(now, None, u32::MAX, u64::MAX, share)
                .map(|u| u.delta),
            Some(32 * 1024)
        );
        assert_eq!((r.limit, r.window), (share, 32 * 1024));
        // From now on an update goes out every half share consumed.
        r.consume(32 * 1024);
        flow(&mut r, 16 * 1024);
        assert_eq!(
            r.update_due(now, None, u32::MAX, u64::MAX, share)
                .map(|u| u.delta),
            Some(48 * 1024)
        );
        assert_eq!(r.window, share);
        // When the share grows again, so does the window.
        flow(&mut r, share);
        assert_eq!(
            r.update_due(now, None, u32::MAX, u64::MAX, 4 * share)
                .map(|u| u.delta),
            Some(INITIAL_WINDOW)
        );
        assert_eq!(r.window, INITIAL_WINDOW);
    }

    #[test]
    fn growth_is_capped_by_the_budget() {
        let t0 = Instant::now();
        let rtt = Some(Duration::from_millis(10));
        let mut r = RecvState::new();
        flow(&mut r, INITIAL_WINDOW);
        r.update_due(t0, rtt, 1 << 20, u64::MAX, u32::MAX).unwrap();
        flow(&mut r, INITIAL_WINDOW);
        let u = r.update_due(t0, rtt, 1 << 20, 1000, u32::MAX).unwrap();
        assert_eq!(
            u,
            Update {
                delta: INITIAL_WINDOW + 1000,
                growth: 1000
            }
        );
        assert_eq!(r.growth(), 1000);
    }

    #[test]
    fn no_update_after_fin() {
        let mut r = RecvState::new();
        r.fin = true;
        r.consume(INITIAL_WINDOW as usize);
        assert_eq!(
            r.update_due(Instant::now(), None, u32::MAX, 0, u32::MAX),
            None
        );
    }
}
