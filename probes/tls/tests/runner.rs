//! The DNS and TLS probes with the services probe, through the real planner and runner,
//! against the shared lab: every TLS check waits for the port check of its own endpoint
//! (the target strings agree), and every check passes. Wall time and the sum of check
//! durations are printed (`--nocapture`), not asserted.

use imp_probe_dns::DnsProbe;
use imp_probe_services::ServicesProbe;
use imp_probe_tls::TlsProbe;
use imp_verify_core::{build_plan, Probe, Selection, Status};
use imp_verify_testlab::{harness, Lab};
use std::time::{Duration, Instant};

#[tokio::test]
async fn dns_and_tls_pass_on_the_lab_through_the_runner_after_their_port_checks() {
    let lab = Lab::shared();
    let spec = harness::load(&lab.spec());
    let net = imp_verify_net::Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(ServicesProbe::new(net.clone())),
        Box::new(DnsProbe::new(net.clone())),
        Box::new(TlsProbe::new(net)),
    ];
    let plan = build_plan(&spec, &probes, &Selection::default()).unwrap();

    // Coordination: each tls.* check depends on exactly its endpoint's services.port.
    let mut tls = 0;
    for c in plan.checks.iter().filter(|c| c.key.id.starts_with("tls.")) {
        tls += 1;
        let (service, hostport) = c.key.target.split_once(' ').unwrap();
        let want = format!("{hostport} ({service})");
        assert_eq!(c.depends_on.len(), 1, "{}: {:?}", c.key, c.depends_on);
        assert_eq!(c.depends_on[0].id, "services.port");
        assert_eq!(c.depends_on[0].target, want, "{}", c.key);
    }
    assert_eq!(tls, 45);

    let started = Instant::now();
    let results = harness::run_areas(&spec, &probes, &[], Duration::from_secs(5)).await;
    let wall = started.elapsed();
    for r in &results {
        assert_eq!(
            r.outcome.status,
            Status::Pass,
            "{}: {}",
            r.key,
            r.outcome.message
        );
    }
    let sum: Duration = results.iter().map(|r| r.duration).sum();
    eprintln!(
        "{} checks (services, dns, tls) in {wall:?} wall, {sum:?} summed; slowest: {:?}",
        results.len(),
        results
            .iter()
            .max_by_key(|r| r.duration)
            .map(|r| (r.key.to_string(), r.duration))
    );
}
