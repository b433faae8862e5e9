//! Bounding an open+reset flood (HTTP/2 "Rapid Reset"): streams the peer
//! resets, or opens beyond our limits (which we refuse with RST), are
//! counted per interval; beyond the limit the connection ends.

use std::time::{Duration, Instant};

use crate::MuxError;

#[derive(Debug, Default)]
pub(crate) struct ResetGuard {
    start: Option<Instant>,
    count: u32,
}

impl ResetGuard {
    /// Count one reset at `now`; an error once more than `limit` fall in
    /// one `interval`.
    pub fn note(&mut self, now: Instant, limit: u32, interval: Duration) -> Result<(), MuxError> {
        match self.start {
            Some(s) if now.saturating_duration_since(s) < interval => {}
            _ => {
                self.start = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        if self.count > limit {
            return Err(MuxError::ResetFlood {
                count: self.count,
                limit,
                interval_ms: interval.as_millis() as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_per_interval() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut g = ResetGuard::default();
        for _ in 0..3 {
            g.note(t0, 3, s).unwrap();
        }
        assert!(g.note(t0, 3, s).is_err());
        let mut g = ResetGuard::default();
        for i in 0..10 {
            g.note(t0 + s * i, 3, s).unwrap();
        }
    }
}
