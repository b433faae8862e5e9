//! [`Config`]: every limit and knob of a mux connection.

use std::time::Duration;

use crate::frame::INITIAL_WINDOW;

/// How a [`Mux`](crate::Mux) behaves. `Config::default()` is a sound
/// starting point; the setters chain:
///
/// ```
/// use std::time::Duration;
/// use strata_mux::Config;
///
/// let cfg = Config::default()
///     .max_streams(10_000)
///     .keepalive(Some(Duration::from_secs(30)))
///     .close_when_idle(true);
/// assert_eq!(cfg.max_streams, 10_000);
/// ```
///
/// Memory bound: buffered inbound data never exceeds the sum of the windows
/// granted, which is at most `max_streams × 256 KiB + receive_budget`
/// (every stream is owed its initial 256 KiB by the yamux spec; growth
/// beyond that is granted only within `receive_budget`, and a busy stream
/// is cut to its share of it).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The largest receive window a stream may grow to (auto-tuning doubles
    /// a window while it is consumed in under two round trips). Also the
    /// largest data frame accepted. Default 768 KiB.
    ///
    /// The sum of the windows of busy streams is what sits in the socket
    /// buffers ahead of a small request on another stream, so larger
    /// windows buy single-stream throughput with latency for everyone else
    /// (measured with `strata-bench mux`: 16 MiB gave a 17 ms median for a
    /// small request behind 15 bulk streams, 1 MiB 4 ms, at the same
    /// 1-stream throughput).
    ///
    /// Why 768 KiB and not 1 MiB (measured with `strata-bench mux` on
    /// loopback, shared 2-CPU machine, the kernel's default BBR): one
    /// subchannel runs at either 6.5–7.5 or 3–4.2 GB/s from one connection
    /// to the next. `TCP_INFO` read at close showed `ssthresh` set (TCP
    /// went through loss recovery) in all 5 slow connections of 11 and in
    /// 1 of the 6 fast ones, and `nstat` counted out-of-order segments and
    /// fast retransmits, on loopback. Our reading: when the window plus
    /// the refill waiting below it outgrows TCP's congestion window (14–26
    /// segments of 64 KiB here), the socket holds data it may not send
    /// yet, and the kernel sends some of it from the receiver's CPU
    /// (handling an ACK) while the sender's CPU sends the rest. With CUBIC
    /// or Reno there were no slow connections at 1 MiB. At 1 MiB about
    /// half the connections were slow and the median of 7 fell below 2x
    /// yamux in 4 runs of 7; at 768 KiB about a third were slow and the
    /// median was 2.7–3.0x in 14 runs of 15 (1.79x in one); 896 KiB was in
    /// between, and 384–640 KiB were slower in every connection. Several
    /// busy streams are held by [`receive_budget`](Config::receive_budget)
    /// instead, so 16 streams are unchanged. A long, fast link wants this
    /// near its bandwidth-delay product.
    pub max_window: u32,
    /// Frame size when several streams have data to send: frames are
    /// interleaved round-robin at this size, so a bulk stream cannot starve
    /// another. Default 16 KiB.
    pub max_frame: u32,
    /// Frame size when only one stream has data to send (throughput).
    /// Default 256 KiB.
    pub max_burst: u32,
    /// Live streams (both directions, including those waiting for the
    /// peer's FIN after our `close`). Inbound SYNs beyond it are refused
    /// with RST; local opens fail with `OpenError::TooMany`. Default 4096.
    pub max_streams: usize,
    /// Streams we opened whose SYN the peer has not yet acknowledged.
    /// Local opens beyond it fail with `OpenError::TooMany`. Default 1024.
    pub max_pending_opens: usize,
    /// Connection-wide receive budget, used two ways. Window growth beyond
    /// the initial 256 KiB is granted only within it (the memory bound
    /// above). And the streams busy receiving at the same time share it:
    /// each window update grants a stream at most `receive_budget / busy
    /// streams` (never less than [`min_window`](Config::min_window)), so a
    /// stream alone may grow to [`max_window`](Config::max_window) while
    /// sixteen get 64 KiB each. A stream counts as busy while it earns
    /// window updates. Default 1 MiB.
    ///
    /// The windows of all busy streams together are what the peer may have
    /// in flight: what sits in the socket buffers ahead of a small request
    /// on another stream, and what passes through the CPU caches. Measured
    /// with `strata-bench mux` on loopback (shared 2-core machine), 16
    /// streams: windows fixed at 256 KiB each (4 MiB in flight) moved
    /// 2.7–4.1 GB/s, 64 KiB each (1 MiB) 7–8 GB/s; one stream with a 1 MiB
    /// window 11–12 GB/s, with 4 MiB 3.2 GB/s.
    pub receive_budget: u64,
    /// The smallest window a busy stream's share of the budget cuts it to.
    /// Default 32 KiB. (The yamux spec gives every stream 256 KiB to start
    /// with; a cut takes effect as that is used.)
    pub min_window: u32,
    /// Send a ping this often and fail the connection (`TimedOut`) when one
    /// is not answered within [`keepalive_timeout`](Config::keepalive_timeout).
    /// Default `None` (no keepalive).
    pub keepalive: Option<Duration>,
    /// How long a keepalive ping may go unanswered. Default 30 s.
    pub keepalive_timeout: Duration,
    /// Send one ping at start to measure the round-trip time (window
    /// auto-tuning uses it). Default `true`.
    pub measure_rtt: bool,
    /// Once every subchannel has ended (and at least one was opened), send
    /// GoAway(normal) and close the connection below. For a client running
    /// one application. Default `false`.
    pub close_when_idle: bool,
    /// Water marks set on the transport below: frames are handed down while
    /// its buffer is at most `lower_high_water` bytes and it has not said
    /// `pause_writing`; a slow peer thus pushes back into every
    /// subchannel's own water marks. Default 512 KiB / 128 KiB.
    ///
    /// They set how much one refill hands the transport below (about
    /// `high`, in one vectored write) and how early a refill starts while
    /// the socket drains (at `low`). Measured with `strata-bench mux` on
    /// loopback (shared 2-core machine, ranges over several runs), 16
    /// subchannels in 16 KiB frames: going from 256 KiB / 64 KiB to these
    /// marks took throughput from 3.4–3.9 to 4.0–4.4 GB/s over TCP and
    /// from 2.1–2.2 to 2.7–3.5 GB/s over TLS, and *lowered* the latency of
    /// a small request behind 15 bulk subchannels (median 3.9–4.0 →
    /// 2.5–3.1 ms, p99 5.0–5.2 → 4.7–4.9 ms); one subchannel was unchanged
    /// within its (large) noise. Under strace the old marks showed ~240
    /// KiB per `writev` and ~300 writes refused by a full socket per 512
    /// MiB, the new ones ~520 KiB per call and 2 refusals: bigger refills
    /// keep the receiver fed, the kernel's socket buffers stay shorter,
    /// and those buffers are most of what a small request waits behind.
    /// (Those runs had the old 64 MiB [`receive_budget`](Config::receive_budget);
    /// with a 2 MiB budget (before busy streams shared it) the same
    /// comparison gave 3.5 → 4.0–4.3 GB/s and
    /// a median of 1.6 → 0.8–1.2 ms, and 1 MiB / 256 KiB no better than
    /// these marks.) The memory bound grows by 256 KiB per connection.
    ///
    /// While a single stream has data to send, both marks are halved
    /// (512 / 128 KiB → 256 / 64 KiB by default): its refills are half as
    /// large. One subchannel on loopback (2 CPUs, BBR; see
    /// [`max_window`](Config::max_window) for the slow mode) fell into
    /// the slow mode in about a third of its connections with the full
    /// marks and in 3 of 60 with them halved (half of them with both ends
    /// on different CPUs, half placed freely), at 6.2–6.8 GB/s instead of
    /// 6.5–7.5 when fast. Many streams keep the full marks: with 16 the
    /// halved ones cost 30–40% (1.57–1.90x yamux instead of 2.5–2.9x).
    pub lower_high_water: usize,
    /// See [`lower_high_water`](Config::lower_high_water).
    pub lower_low_water: usize,
    /// Streams the peer may reset (or that are refused) within
    /// [`reset_interval`](Config::reset_interval) before the connection is
    /// ended with GoAway(protocol error): the bound on an open+reset flood
    /// (HTTP/2 "Rapid Reset"). Default 1000.
    pub max_resets: u32,
    /// See [`max_resets`](Config::max_resets). Default 1 s.
    pub reset_interval: Duration,
    /// How many streams we reset are remembered, so data the peer had in
    /// flight for them (up to the window it held) is discarded rather than
    /// taken for a protocol error. Default 256.
    pub reset_grace_streams: usize,
    /// Unanswered pings from the peer tolerated in our outgoing buffer
    /// before further pings go unanswered (a ping flood against a peer that
    /// does not read). Measured as bytes buffered below. Default 1 MiB.
    pub max_control_backlog: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_window: 768 * 1024,
            max_frame: 16 * 1024,
            max_burst: INITIAL_WINDOW,
            max_streams: 4096,
            max_pending_opens: 1024,
            receive_budget: 1024 * 1024,
            min_window: 32 * 1024,
            keepalive: None,
            keepalive_timeout: Duration::from_secs(30),
            measure_rtt: true,
            close_when_idle: false,
            lower_high_water: 512 * 1024,
            lower_low_water: 128 * 1024,
            max_resets: 1000,
            reset_interval: Duration::from_secs(1),
            reset_grace_streams: 256,
            max_control_backlog: 1024 * 1024,
        }
    }
}

impl Config {
    /// Set [`max_window`](Config::max_window) (at least 256 KiB).
    pub fn max_window(mut self, bytes: u32) -> Self {
        self.max_window = bytes.max(INITIAL_WINDOW);
        self
    }
    /// Set [`max_frame`](Config::max_frame) and [`max_burst`](Config::max_burst).
    pub fn frame_sizes(mut self, interleaved: u32, burst: u32) -> Self {
        self.max_frame = interleaved.max(1);
        self.max_burst = burst.max(self.max_frame);
        self
    }
    /// Set [`max_streams`](Config::max_streams).
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }
    /// Set [`max_pending_opens`](Config::max_pending_opens).
    pub fn max_pending_opens(mut self, n: usize) -> Self {
        self.max_pending_opens = n;
        self
    }
    /// Set [`receive_budget`](Config::receive_budget).
    pub fn receive_budget(mut self, bytes: u64) -> Self {
        self.receive_budget = bytes;
        self
    }
    /// Set [`min_window`](Config::min_window) (at least 1 KiB).
    pub fn min_window(mut self, bytes: u32) -> Self {
        self.min_window = bytes.max(1024);
        self
    }
    /// Set [`keepalive`](Config::keepalive).
    pub fn keepalive(mut self, every: Option<Duration>) -> Self {
        self.keepalive = every;
        self
    }
    /// Set [`keepalive_timeout`](Config::keepalive_timeout).
    pub fn keepalive_timeout(mut self, d: Duration) -> Self {
        self.keepalive_timeout = d;
        self
    }
    /// Set [`measure_rtt`](Config::measure_rtt).
    pub fn measure_rtt(mut self, on: bool) -> Self {
        self.measure_rtt = on;
        self
    }
    /// Set [`close_when_idle`](Config::close_when_idle).
    pub fn close_when_idle(mut self, on: bool) -> Self {
        self.close_when_idle = on;
        self
    }
    /// Set the water marks used on the transport below.
    pub fn lower_water_marks(mut self, high: usize, low: usize) -> Self {
        self.lower_high_water = high;
        self.lower_low_water = low.min(high);
        self
    }
    /// Set [`max_resets`](Config::max_resets) per [`reset_interval`](Config::reset_interval).
    pub fn reset_limit(mut self, resets: u32, per: Duration) -> Self {
        self.max_resets = resets;
        self.reset_interval = per;
        self
    }
}
