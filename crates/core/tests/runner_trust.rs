//! The runner does no harm: what a check created is undone however the check ends (pass,
//! fail, timeout, interrupt), nothing of a check runs after it has reported, a refused
//! credential is never retried, other retries back off, and authentications are counted.

use imp_verify_core::plan::Plan;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{run, Outcome, PlannedCheck, RunOptions, RunReport, Status};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn go(
    checks: Vec<PlannedCheck>,
    options: RunOptions,
    interrupt: CancellationToken,
) -> RunReport {
    let (tx, _rx) = mpsc::unbounded_channel();
    let plan = Plan {
        workflow: Workflow::A,
        checks,
    };
    run(
        plan,
        PathBuf::from("spec.toml"),
        options,
        vec![],
        interrupt,
        tx,
    )
    .await
}

/// A check that creates state (counted in `created`), registers its undo (counted in
/// `undone`), then behaves as `after` says.
fn creating(
    id: &'static str,
    created: Arc<AtomicU32>,
    undone: Arc<AtomicU32>,
    after: &'static str,
) -> PlannedCheck {
    PlannedCheck::new(id, after, move |cx| {
        let (created, undone) = (created.clone(), undone.clone());
        async move {
            created.fetch_add(1, Ordering::SeqCst);
            let _undo = cx.cleanup.register("room r1", |_| async move {
                undone.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
            match after {
                "hang" => std::future::pending().await,
                "fail" => Outcome::fail("broke after creating the room", "fix it"),
                _ => Outcome::pass("ok"),
            }
        }
    })
}

#[tokio::test]
async fn what_a_check_created_is_undone_after_a_failure_a_timeout_and_an_interrupt() {
    let created = Arc::new(AtomicU32::new(0));
    let undone = Arc::new(AtomicU32::new(0));
    let checks = vec![
        creating("xmpp.muc", created.clone(), undone.clone(), "fail"),
        creating("xmpp.presence", created.clone(), undone.clone(), "pass"),
    ];
    let r = go(checks, RunOptions::default(), CancellationToken::new()).await;
    assert_eq!(r.results.len(), 2);
    assert_eq!(
        (
            created.load(Ordering::SeqCst),
            undone.load(Ordering::SeqCst)
        ),
        (2, 2)
    );

    // A timeout.
    let options = RunOptions {
        check_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let r = go(
        vec![creating(
            "xmpp.muc",
            created.clone(),
            undone.clone(),
            "hang",
        )],
        options,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.results[0].outcome.status, Status::Fail);
    assert_eq!(undone.load(Ordering::SeqCst), 3);

    // An interrupt in the middle of the check.
    let interrupt = CancellationToken::new();
    let i2 = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        i2.cancel();
    });
    let options = RunOptions {
        check_timeout: Duration::from_secs(3600),
        ..Default::default()
    };
    let r = go(
        vec![creating(
            "xmpp.muc",
            created.clone(),
            undone.clone(),
            "hang",
        )],
        options,
        interrupt,
    )
    .await;
    assert_eq!(r.results[0].outcome.status, Status::Skip);
    assert_eq!(undone.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_undo_that_fails_is_named_in_the_report() {
    let checks = vec![PlannedCheck::new("xmpp.muc", "r", |cx| async move {
        let _undo = cx
            .cleanup
            .register("room impv-1@conference.lab.test", |_| async {
                Err("forbidden".into())
            });
        Outcome::pass("ok")
    })];
    let r = go(checks, RunOptions::default(), CancellationToken::new()).await;
    let ev = &r.results[0].outcome.evidence;
    assert!(
        ev.contains(&(
            "not_undone".into(),
            "room impv-1@conference.lab.test: forbidden".into()
        )),
        "{ev:?}"
    );
}

#[tokio::test]
async fn nothing_of_a_check_runs_after_it_has_reported() {
    let late = Arc::new(AtomicU32::new(0));
    let l2 = late.clone();
    let checks = vec![PlannedCheck::new("xmpp.login", "slow", move |_| {
        let late = l2.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            late.fetch_add(1, Ordering::SeqCst);
            Outcome::pass("too late")
        }
    })];
    let interrupt = CancellationToken::new();
    let i2 = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        i2.cancel();
    });
    go(checks, RunOptions::default(), interrupt).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "the check kept running after the run stopped"
    );
}

#[tokio::test]
async fn a_refused_credential_is_never_retried_and_is_counted() {
    let tries = Arc::new(AtomicU32::new(0));
    let t2 = tries.clone();
    let checks = vec![
        PlannedCheck::new("ldap.user-auth", "alice", move |cx| {
            let tries = t2.clone();
            async move {
                tries.fetch_add(1, Ordering::SeqCst);
                cx.auth.record("uid=alice,ou=people,dc=lab,dc=test", true);
                Outcome::fail("invalidCredentials (49)", "correct the password")
            }
        }),
        PlannedCheck::new("ldap.bind", "svc", |cx| async move {
            cx.auth.record("cn=svc,dc=lab,dc=test", false);
            Outcome::pass("bound")
        }),
    ];
    let options = RunOptions {
        retry_for: Some(Duration::from_secs(2)),
        retry_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let r = go(checks, options, CancellationToken::new()).await;
    assert_eq!(tries.load(Ordering::SeqCst), 1);
    assert_eq!(r.results[0].attempts, 1);
    let alice = r.summary.auth["uid=alice,ou=people,dc=lab,dc=test"];
    assert_eq!((alice.attempts, alice.refused), (1, 1));
    let svc = r.summary.auth["cn=svc,dc=lab,dc=test"];
    assert_eq!((svc.attempts, svc.refused), (1, 0));
}

#[tokio::test]
async fn other_failures_are_retried_with_a_doubling_pause() {
    let times = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let t2 = times.clone();
    let checks = vec![PlannedCheck::new("dns.node", "flaky", move |_| {
        let times = t2.clone();
        async move {
            times.lock().unwrap().push(Instant::now());
            Outcome::fail("not yet", "wait")
        }
    })];
    let options = RunOptions {
        retry_for: Some(Duration::from_millis(700)),
        retry_interval: Duration::from_millis(20),
        retry_interval_max: Duration::from_millis(160),
        ..Default::default()
    };
    go(checks, options, CancellationToken::new()).await;
    let times = times.lock().unwrap();
    assert!(times.len() >= 4, "{} attempts", times.len());
    let pauses = times.len() - 1;
    for (i, w) in times.windows(2).enumerate() {
        // The last pause is cut to end with the window, where one more attempt is made.
        if i + 1 == pauses {
            break;
        }
        let want = Duration::from_millis((20u64 << i).min(160));
        assert!(
            w[1] - w[0] >= want,
            "pause {i} was {:?}, less than {want:?}",
            w[1] - w[0]
        );
    }
    // 20+40+80+160+160... within 700 ms: fewer attempts than a fixed 20 ms pause gives.
    assert!(times.len() <= 8, "{} attempts", times.len());
    // The last attempt begins when the window ends.
    assert!(
        *times.last().unwrap() - times[0] >= Duration::from_millis(690),
        "the last attempt began {:?} after the first",
        *times.last().unwrap() - times[0]
    );
}

#[tokio::test]
async fn no_more_than_the_cap_of_checks_run_against_one_server_at_once() {
    let now = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let mut checks = Vec::new();
    for i in 0..12 {
        let (now, peak) = (now.clone(), peak.clone());
        checks.push(
            PlannedCheck::new("ldap.user-auth", format!("user{i}"), move |_| {
                let (now, peak) = (now.clone(), peak.clone());
                async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Outcome::pass("ok")
                }
            })
            .on("LDAP.lab.test"),
        );
    }
    // Checks of another server are not held back by the directory's cap.
    let other_started = Arc::new(Mutex::new(None));
    let o2 = other_started.clone();
    let t0 = Instant::now();
    checks.push(
        PlannedCheck::new("dns.node", "imp1", move |_| {
            let o2 = o2.clone();
            async move {
                *o2.lock().unwrap() = Some(Instant::now());
                Outcome::pass("ok")
            }
        })
        .on("ns.lab.test"),
    );
    let options = RunOptions {
        per_server: 3,
        ..Default::default()
    };
    let r = go(checks, options, CancellationToken::new()).await;
    assert!(r.results.iter().all(|c| c.outcome.status == Status::Pass));
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    let started = other_started.lock().unwrap().expect("ran") - t0;
    assert!(
        started < Duration::from_millis(100),
        "the other server's check waited {started:?}"
    );
}

/// An undo that never finishes, registered by a check that never finishes either.
fn hung_with_a_hung_undo(id: &'static str) -> PlannedCheck {
    PlannedCheck::new(id, "hung", |cx| async move {
        let _undo = cx
            .cleanup
            .register("the publication of alice", |_| std::future::pending());
        std::future::pending::<Outcome>().await
    })
}

#[tokio::test]
async fn the_deadline_bounds_the_undos_by_the_stop_grace() {
    let options = RunOptions {
        deadline: Some(Duration::from_millis(300)),
        stop_grace: Duration::from_millis(200),
        // Without the grace the undo would hold the run for this long.
        cleanup_timeout: Duration::from_secs(30),
        ..RunOptions::default()
    };
    let began = Instant::now();
    let r = go(
        vec![hung_with_a_hung_undo("sip.publish")],
        options,
        CancellationToken::new(),
    )
    .await;
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the undo outlived the run's stop: {took:?}"
    );
    let o = &r.results[0].outcome;
    assert_eq!(o.status, Status::Fail);
    assert_eq!(
        o.reason,
        imp_verify_core::Reason::Deadline { started: true }
    );
    assert!(
        o.evidence.iter().any(|(k, v)| k == "not_undone"
            && v.starts_with("the publication of alice: cut off 200 ms after the run stopped")),
        "{:?}",
        o.evidence
    );
}

#[tokio::test]
async fn an_interrupt_bounds_the_undos_by_the_stop_grace() {
    let options = RunOptions {
        stop_grace: Duration::from_millis(200),
        cleanup_timeout: Duration::from_secs(30),
        ..RunOptions::default()
    };
    let interrupt = CancellationToken::new();
    let fire = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fire.cancel();
    });
    let began = Instant::now();
    let r = go(vec![hung_with_a_hung_undo("xmpp.muc")], options, interrupt).await;
    assert!(began.elapsed() < Duration::from_secs(10));
    let o = &r.results[0].outcome;
    assert_eq!(
        o.reason,
        imp_verify_core::Reason::Interrupted { started: true }
    );
    assert!(o.evidence.iter().any(|(k, _)| k == "not_undone"));
}

#[tokio::test]
async fn a_timeout_names_the_stage_the_check_was_in_and_its_dependents_are_blocked_by_it() {
    use imp_verify_core::{CheckKey, Reason, Stage};
    let checks = vec![
        PlannedCheck::new("xmpp.connect", "imp1", |cx| async move {
            cx.enter(imp_verify_core::Stage::TcpConnect);
            cx.enter(imp_verify_core::Stage::TlsHandshake);
            std::future::pending::<Outcome>().await
        }),
        PlannedCheck::new("xmpp.login", "alice", |_| async { Outcome::pass("ok") })
            .after(CheckKey::new("xmpp.connect", "imp1")),
        PlannedCheck::new("xmpp.im", "x", |_| async { panic!("boom") }),
    ];
    let options = RunOptions {
        check_timeout: Duration::from_millis(200),
        ..RunOptions::default()
    };
    let r = go(checks, options, CancellationToken::new()).await;
    let connect = &r.results[0].outcome;
    assert_eq!(
        connect.reason,
        Reason::TimedOut {
            after: Duration::from_millis(200),
            stage: Some(Stage::TlsHandshake)
        }
    );
    assert!(
        connect.message.ends_with("stalled in the TLS handshake"),
        "{}",
        connect.message
    );
    assert!(connect
        .evidence
        .contains(&("stage".into(), "tls_handshake".into())));
    assert_eq!(
        r.results[1].outcome.reason,
        Reason::Blocked {
            by: CheckKey::new("xmpp.connect", "imp1"),
            status: Status::Fail
        }
    );
    assert_eq!(r.results[2].outcome.reason, Reason::Panicked);
}
