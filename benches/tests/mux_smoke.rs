//! The `mux` case exercised with tiny workloads. No timing is asserted:
//! only that every run completes, reports every measurement, and the bytes
//! arrive intact.

use strata_bench::{mux, run_case, tls, Config, Report, Runtimes};

#[tokio::test]
async fn mux_case_runs_and_reports_every_measurement() {
    let mut reports: Vec<Report> = Vec::new();
    run_case("mux", &Config::smoke(), &mut |r| reports.push(r))
        .await
        .unwrap();
    let cases: Vec<&str> = reports.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "mux/throughput/1ch/vs-yamux",
            "mux/throughput/1ch/vs-tcp",
            "mux/throughput/16ch/vs-yamux",
            "mux/throughput/16ch/vs-tcp",
            "mux/tls-throughput/16ch/vs-rustls-yamux",
            "mux/tls-throughput/16ch/vs-tls",
            "mux/pingpong/64B/vs-tcp",
            "mux/pingpong/64B/vs-yamux",
            "mux/idle-16/opens-per-sec",
            "mux/idle-16/client-bytes-per-ch",
            "mux/idle-16/server-bytes-per-ch",
            "mux/loaded-latency/15+1ch/median",
            "mux/loaded-latency/15+1ch/p99",
        ]
    );
    for r in &reports {
        assert!(r.strata.is_finite() && r.peer.is_finite(), "{r}");
        assert!(r
            .to_string()
            .starts_with(&format!("case={} strata=", r.case)));
    }
}

#[tokio::test]
async fn mux_sides_deliver_intact_bytes() {
    let rts = &Runtimes::new(strata_bench::Pin::Any).unwrap();
    let configs = &tls::Configs::new().unwrap();
    // Uneven sizes, so a last short write happens on every subchannel.
    for (streams, chunk, total) in [(1, 1000, 10_007), (16, 64 * 1024, 16 * 300_001)] {
        for c in [None, Some(configs)] {
            mux::strata_throughput(rts, c, streams, chunk, total, true)
                .await
                .unwrap();
            mux::yamux_throughput(rts, c, streams, chunk, total, true)
                .await
                .unwrap();
        }
    }
    mux::strata_pingpong(rts, 100, true).await.unwrap();
    mux::yamux_pingpong(rts, 100, true).await.unwrap();
    let lat = mux::strata_loaded(rts, 3, 20, true).await.unwrap();
    assert_eq!(lat.len(), 20);
    let lat = mux::yamux_loaded(rts, 3, 20, true).await.unwrap();
    assert_eq!(lat.len(), 20);
    for idle in [
        mux::strata_idle(rts, 100).await.unwrap(),
        mux::yamux_idle(rts, 100).await.unwrap(),
    ] {
        assert!(idle.opens_per_sec > 0.0, "{idle:?}");
    }
}
