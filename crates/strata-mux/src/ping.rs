//! Pings: measuring the round-trip time, and keepalive.

use std::time::{Duration, Instant};

use strata_core::TimerId;

/// The ping this side has outstanding (one at a time), the last measured
/// round trip, and the keepalive timers.
#[derive(Debug, Default)]
pub(crate) struct PingState {
    /// Opaque value and send time of the ping awaiting its ACK.
    pub outstanding: Option<(u32, Instant)>,
    next_opaque: u32,
    /// The last measured round-trip time.
    pub rtt: Option<Duration>,
    /// Fires every keepalive interval.
    pub keepalive_timer: Option<TimerId>,
    /// Fires when a keepalive ping went unanswered too long.
    pub timeout_timer: Option<TimerId>,
}

impl PingState {
    /// Start a ping now; returns its opaque value, or `None` if one is
    /// already outstanding.
    pub fn start(&mut self, now: Instant) -> Option<u32> {
        if self.outstanding.is_some() {
            return None;
        }
        self.next_opaque = self.next_opaque.wrapping_add(1);
        self.outstanding = Some((self.next_opaque, now));
        Some(self.next_opaque)
    }

    /// An ACK with `opaque` arrived; returns whether it answered ours.
    pub fn answered(&mut self, opaque: u32, now: Instant) -> bool {
        match self.outstanding {
            Some((o, sent)) if o == opaque => {
                self.rtt = Some(now.saturating_duration_since(sent));
                self.outstanding = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ping_at_a_time_and_rtt_from_the_matching_ack() {
        let t0 = Instant::now();
        let mut p = PingState::default();
        let o = p.start(t0).unwrap();
        assert_eq!(p.start(t0), None);
        assert!(!p.answered(o.wrapping_add(1), t0));
        assert!(p.answered(o, t0 + Duration::from_millis(7)));
        assert_eq!(p.rtt, Some(Duration::from_millis(7)));
        assert!(p.start(t0).is_some());
    }
}
