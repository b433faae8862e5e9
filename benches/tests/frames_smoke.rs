//! Case `frames` with tiny workloads: every measurement runs and every
//! frame and answer arrives intact. No timing is asserted.

use strata_bench::{frames, run_case, Config, Report, Runtimes};

#[tokio::test]
async fn frames_case_runs_and_reports_every_measurement() {
    let mut reports: Vec<Report> = Vec::new();
    run_case("frames", &Config::smoke(), &mut |r| reports.push(r))
        .await
        .unwrap();
    let cases: Vec<&str> = reports.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "frames/codec/64B",
            "frames/codec/16KiB",
            "frames/roundtrip/64B"
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
async fn frames_sides_deliver_intact_data() {
    // Batches whose bytes do not divide into the decoder's 64 KiB pieces.
    for (size, n) in [(64, 3001), (16 * 1024, 17), (1, 100_000)] {
        frames::strata_codec(size, n, true).unwrap();
        frames::peer_codec(size, n, true).unwrap();
    }
    let rts = &Runtimes::new(strata_bench::Pin::Any).unwrap();
    frames::strata_roundtrips(rts, 200, true).await.unwrap();
    frames::peer_roundtrips(rts, 200, true).await.unwrap();
}
