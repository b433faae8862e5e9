//! The bench code, exercised with tiny workloads. No timing is asserted:
//! only that every run completes and the bytes arrive intact.

use strata_bench::{run_case, tcp, tls, Config, Pin, Report, Runtimes};

#[tokio::test]
async fn tcp_case_runs_and_reports_every_measurement() {
    let mut reports: Vec<Report> = Vec::new();
    run_case("tcp", &Config::smoke(), &mut |r| reports.push(r))
        .await
        .unwrap();
    let cases: Vec<&str> = reports.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "tcp/throughput/64KiB",
            "tcp/throughput/1KiB",
            "tcp/throughput/1MiB",
            "tcp/pingpong/64B"
        ]
    );
    for r in &reports {
        assert!(r.strata > 0.0 && r.peer > 0.0, "{r}");
        assert!(r
            .to_string()
            .starts_with(&format!("case={} strata=", r.case)));
    }
}

#[tokio::test]
async fn tcp_sides_deliver_intact_bytes() {
    let rts = &Runtimes::new(Pin::Any).unwrap();
    // Sizes that do not divide evenly, so a last short write happens.
    for (chunk, total) in [(1000, 10_007), (64 * 1024, 300_001), (1 << 20, 3 << 20)] {
        tcp::strata_throughput(rts, chunk, total, true)
            .await
            .unwrap();
        tcp::tokio_throughput(rts, chunk, total, true)
            .await
            .unwrap();
    }
    tcp::strata_pingpong(rts, 100, true).await.unwrap();
    tcp::tokio_pingpong(rts, 100, true).await.unwrap();
}

#[tokio::test]
async fn unknown_and_future_cases_are_errors() {
    let mut none = |_| panic!("no report expected");
    let e = run_case("nope", &Config::smoke(), &mut none)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown case"), "{e}");
}

#[tokio::test]
async fn tls_case_runs_and_reports_every_measurement() {
    let mut reports: Vec<Report> = Vec::new();
    run_case("tls", &Config::smoke(), &mut |r| reports.push(r))
        .await
        .unwrap();
    let cases: Vec<&str> = reports.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "tls/throughput/64KiB",
            "tls/throughput/1KiB",
            "tls/pingpong/64B"
        ]
    );
    for r in &reports {
        assert!(r.strata > 0.0 && r.peer > 0.0, "{r}");
    }
}

#[tokio::test]
async fn tls_sides_deliver_intact_bytes() {
    let rts = &Runtimes::new(Pin::Any).unwrap();
    let configs = &tls::Configs::new().unwrap();
    // Sizes that do not divide evenly, so a last short write happens, and
    // one that spans many TLS records.
    for (chunk, total) in [(1000, 10_007), (64 * 1024, 300_001), (1024, 1 << 20)] {
        tls::strata_throughput(rts, configs, chunk, total, true)
            .await
            .unwrap();
        tls::peer_throughput(rts, configs, chunk, total, true)
            .await
            .unwrap();
    }
    tls::strata_pingpong(rts, configs, 100, true).await.unwrap();
    tls::peer_pingpong(rts, configs, 100, true).await.unwrap();
}

/// Pinned runtimes (`--pin one`, `--pin two`) run the same exchanges.
#[tokio::test]
async fn pinned_runtimes_run_the_same_exchanges() {
    for pin in [Pin::One, Pin::Two] {
        let rts = &Runtimes::new(pin).unwrap();
        tcp::strata_throughput(rts, 64 * 1024, 300_001, true)
            .await
            .unwrap();
        tcp::strata_pingpong(rts, 100, true).await.unwrap();
    }
}
