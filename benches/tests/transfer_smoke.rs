//! The `transfer` case with tiny files: both sides deliver the file intact
//! (checked byte for byte) and the case reports both places. No timing is
//! asserted.

use strata_bench::{run_case, transfer, Config, Report, Runtimes};

#[tokio::test]
async fn transfer_case_runs_and_reports_every_measurement() {
    let mut reports: Vec<Report> = Vec::new();
    run_case("transfer", &Config::smoke(), &mut |r| reports.push(r))
        .await
        .unwrap();
    let cases: Vec<&str> = reports.iter().map(|r| r.case.as_str()).collect();
    assert!(cases.contains(&"transfer/256KiB/disk"), "{cases:?}");
    for r in &reports {
        assert!(r.strata > 0.0 && r.peer > 0.0, "{r}");
    }
}

#[tokio::test]
async fn both_sides_deliver_intact_files_of_awkward_sizes() {
    let rts = &Runtimes::new(strata_bench::Pin::Any).unwrap();
    let configs = &strata_bench::tls::Configs::new().unwrap();
    for size in [0u64, 1, 300_001, 3 << 20] {
        let dir = transfer::BenchDir::new(&std::env::temp_dir(), size).unwrap();
        let dst = dir.fresh_dst().unwrap();
        transfer::strata_transfer_run(rts, configs, &dir.src(), &dst)
            .await
            .unwrap();
        dir.verify(&dst).unwrap();
        let dst = dir.fresh_dst().unwrap();
        transfer::peer_transfer_run(rts, configs, &dir.src(), &dst)
            .await
            .unwrap();
        dir.verify(&dst).unwrap();
    }
}
