/// Default high-water mark of a write buffer: 64 KiB.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// Default low-water mark of a write buffer: 16 KiB.
pub const DEFAULT_LOW_WATER: usize = 16 * 1024;

/// A flow-control notification for the protocol above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowUpcall {
    /// Call [`Protocol::pause_writing`](crate::Protocol::pause_writing).
    Pause,
    /// Call [`Protocol::resume_writing`](crate::Protocol::resume_writing).
    Resume,
}

/// Write-side flow control: a high- and a low-water mark with hysteresis.
///
/// A transport calls [`check`](WaterMarks::check) with its buffered length
/// after each callback and after each flush, and delivers what it returns.
/// `Pause` comes when the buffer rises *above* `high`; `Resume` when, having
/// paused, it falls to `low` or below. Pause and resume strictly alternate.
#[derive(Clone, Copy, Debug)]
pub struct WaterMarks {
    high: usize,
    low: usize,
    paused: bool,
    /// The mark the buffer is compared with now: `low` while paused, else
    /// `high`. A notification is due when "above it" differs from `paused`.
    edge: usize,
}

impl Default for WaterMarks {
    fn default() -> Self {
        WaterMarks::new(DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER)
    }
}

impl WaterMarks {
    /// Marks at `high` and `low`; `low` is clamped to `high`.
    pub fn new(high: usize, low: usize) -> Self {
        WaterMarks {
            high,
            low: low.min(high),
            paused: false,
            edge: high,
        }
    }

    /// Change the marks; takes effect at the next [`check`](WaterMarks::check).
    pub fn set(&mut self, high: usize, low: usize) {
        self.high = high;
        self.low = low.min(high);
        self.edge = if self.paused { self.low } else { self.high };
    }

    /// The high-water mark.
    pub fn high(&self) -> usize {
        self.high
    }

    /// The low-water mark.
    pub fn low(&self) -> usize {
        self.low
    }

    /// Whether the protocol has been told to pause and not yet to resume.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether [`check`](WaterMarks::check) would return a notification for
    /// `buffered` (without recording it).
    #[inline]
    pub fn due(&self, buffered: usize) -> bool {
        (buffered > self.edge) != self.paused
    }

    /// Compare `buffered` with the marks; returns the notification due, if any.
    #[inline]
    pub fn check(&mut self, buffered: usize) -> Option<FlowUpcall> {
        if !self.due(buffered) {
            return None;
        }
        self.paused = !self.paused;
        if self.paused {
            self.edge = self.low;
            Some(FlowUpcall::Pause)
        } else {
            self.edge = self.high;
            Some(FlowUpcall::Resume)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis() {
        let mut m = WaterMarks::new(100, 10);
        assert!(!m.due(100));
        assert_eq!(m.check(100), None);
        assert!(m.due(101));
        assert_eq!(m.check(101), Some(FlowUpcall::Pause));
        assert_eq!(m.check(500), None);
        assert_eq!(m.check(11), None);
        assert!(!m.due(11));
        assert!(m.due(10));
        assert_eq!(m.check(10), Some(FlowUpcall::Resume));
        assert_eq!(m.check(0), None);
    }

    /// `due` and `check` agree with the rule as stated (pause above `high`,
    /// resume at or below `low`, alternating), marks changed on the way.
    #[test]
    fn due_agrees_with_the_rule() {
        let mut m = WaterMarks::new(8, 3);
        let mut paused = false;
        let (mut high, mut low) = (8, 3);
        for step in 0..2000usize {
            if step % 97 == 0 {
                high = (step / 97) % 11;
                low = (step / 7) % 13;
                m.set(high, low);
            }
            let b = (step * 7 + step / 3) % 14;
            let want = if !paused && b > high {
                paused = true;
                Some(FlowUpcall::Pause)
            } else if paused && b <= low.min(high) {
                paused = false;
                Some(FlowUpcall::Resume)
            } else {
                None
            };
            assert_eq!(m.due(b), want.is_some(), "step {step}");
            assert_eq!(m.check(b), want, "step {step}");
            assert_eq!(m.is_paused(), paused);
        }
    }
}
