//! The receiving half of a stream: the window the peer may fill, the data
//! held while the app has paused reading, and window auto-tuning.

use std::time::{Duration, Instant};

use strata_core::WriteQueue;

use crate::frame::INITIAL_WINDOW;

/// Per-stream receive state.
#[derive(Debug)]
pub(crate) struct RecvState {
    /// Bytes the peer may still send before we grant more.
    pub window: u32,
    /// The window we keep open: 256 KiB, doubled by auto-tuning.
    pub target: u32,
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
    /// How much of it is growth of the window (taken from the budget).
    pub growth: u32,
}

impl RecvState {
    pub fn new() -> Self {
        RecvState {
            window: INITIAL_WINDOW,
            target: INITIAL_WINDOW,
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

    /// Whether a window update is due (see [`update_due`](Self::update_due)).
    #[inline]
    pub fn update_wanted(&self) -> bool {
        !self.fin && self.consumed >= self.target / 2
    }

    /// The window update due now, if any. An update goes out once the app
    /// has consumed half the window. The window doubles (up to
    /// `max_window`, within `budget` bytes of growth) when the previous
    /// update was less than two round trips ago: the peer is limited by
    /// the window, not by the app, so the window is below the
    /// bandwidth-delay product.
    pub fn update_due(
        &mut self,
        now: Instant,
        rtt: Option<Duration>,
        max_window: u32,
        budget: u64,
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
        self.target += growth;
        let delta = self.consumed + growth;
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

    #[test]
    fn update_after_half_the_window_is_consumed() {
        let now = Instant::now();
        let mut r = RecvState::new();
        r.take_window(200_000).unwrap();
        r.consume(100_000);
        assert_eq!(r.update_due(now, None, u32::MAX, u64::MAX), None);
        r.consume(31_072);
        let u = r.update_due(now, None, u32::MAX, u64::MAX).unwrap();
        assert_eq!(
            u,
            Update {
                delta: 131_072,
                growth: 0
            }
        );
        assert_eq!(r.window, INITIAL_WINDOW - 200_000 + 131_072);
        assert!(r.take_window(r.window + 1).is_err());
    }

    #[test]
    fn window_doubles_when_consumed_within_two_rtts() {
        let t0 = Instant::now();
        let rtt = Some(Duration::from_millis(10));
        let mut r = RecvState::new();
        r.consume(INITIAL_WINDOW as usize);
        assert_eq!(r.update_due(t0, rtt, 1 << 20, u64::MAX).unwrap().growth, 0);
        r.consume(INITIAL_WINDOW as usize);
        let u = r
            .update_due(t0 + Duration::from_millis(5), rtt, 1 << 20, u64::MAX)
            .unwrap();
        assert_eq!(u.growth, INITIAL_WINDOW);
        assert_eq!(r.target, 2 * INITIAL_WINDOW);
        // Slow consumption: no growth.
        r.consume(r.target as usize);
        let u = r
            .update_due(t0 + Duration::from_secs(1), rtt, 1 << 20, u64::MAX)
            .unwrap();
        assert_eq!(u.growth, 0);
        // Growth is capped by the maximum and by the budget.
        r.consume(r.target as usize);
        let u = r
            .update_due(t0 + Duration::from_millis(1001), rtt, 1 << 20, 1000)
            .unwrap();
        assert_eq!(u.growth, 1000);
        assert_eq!(r.growth(), INITIAL_WINDOW as u64 + 1000);
    }

    #[test]
    fn no_update_after_fin() {
        let mut r = RecvState::new();
        r.fin = true;
        r.consume(INITIAL_WINDOW as usize);
        assert_eq!(r.update_due(Instant::now(), None, u32::MAX, 0), None);
    }
}
