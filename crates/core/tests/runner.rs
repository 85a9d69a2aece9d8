//! The runner's contract: prerequisites, timeouts, the deadline, retries, panics,
//! interruption, concurrency and redaction. The checks here are synthetic: what is
//! under test is the scheduling, not a protocol.

use imp_verify_core::plan::Plan;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{
    run, CheckKey, Event, Outcome, PlannedCheck, RunOptions, Status, StopReason,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Barrier};
use tokio_util::sync::CancellationToken;

fn plan(checks: Vec<PlannedCheck>) -> Plan {
    Plan {
        workflow: Workflow::A,
        checks,
    }
}

async fn go(p: Plan, options: RunOptions) -> (imp_verify_core::RunReport, Vec<Event>) {
    go_with(p, options, vec![], CancellationToken::new()).await
}

async fn go_with(
    p: Plan,
    options: RunOptions,
    secrets: Vec<imp_verify_core::Secret>,
    interrupt: CancellationToken,
) -> (imp_verify_core::RunReport, Vec<Event>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let report = run(
        p,
        PathBuf::from("spec.toml"),
        options,
        secrets,
        interrupt,
        tx,
    )
    .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (report, events)
}

fn status_of(r: &imp_verify_core::RunReport, target: &str) -> (Status, String) {
    let c = r.results.iter().find(|c| c.key.target == target).unwrap();
    (c.outcome.status, c.outcome.message.clone())
}

#[tokio::test]
async fn a_failed_prerequisite_skips_its_dependents_naming_it() {
    let p = plan(vec![
        PlannedCheck::new("dns.node", "imp1", |_| async {
            Outcome::fail("no A record", "add it")
        }),
        PlannedCheck::new("services.port", "imp1:5222", |_| async {
            Outcome::pass("open")
        })
        .after(CheckKey::new("dns.node", "imp1")),
        PlannedCheck::new("services.port", "imp2:5222", |_| async {
            Outcome::pass("open")
        }),
    ]);
    let (r, events) = go(p, RunOptions::default()).await;
    assert_eq!(status_of(&r, "imp1").0, Status::Fail);
    let (s, msg) = status_of(&r, "imp1:5222");
    assert_eq!(s, Status::Skip);
    assert!(
        msg.contains("blocked by dns.node [imp1], which failed"),
        "{msg}"
    );
    assert_eq!(status_of(&r, "imp2:5222").0, Status::Pass);
    assert_eq!(r.summary.counts.fail, 1);
    assert_eq!(r.summary.counts.skip, 1);
    // Every check is reported once, between RunStarted and RunFinished.
    assert!(matches!(events.first(), Some(Event::RunStarted(_))));
    assert!(matches!(events.last(), Some(Event::RunFinished(_))));
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::CheckFinished(_)))
        .count();
    assert_eq!(finished, 3);
}

#[tokio::test]
async fn a_warning_prerequisite_lets_dependents_run() {
    let p = plan(vec![
        PlannedCheck::new("dns.node", "imp1", |_| async {
            Outcome::warn("PTR differs", "fix PTR")
        }),
        PlannedCheck::new("services.port", "imp1:5222", |_| async {
            Outcome::pass("open")
        })
        .after(CheckKey::new("dns.node", "imp1")),
    ]);
    let (r, _) = go(p, RunOptions::default()).await;
    assert_eq!(status_of(&r, "imp1:5222").0, Status::Pass);
}

#[tokio::test]
async fn a_hanging_check_fails_at_its_timeout() {
    let p = plan(vec![PlannedCheck::new("dns.node", "silent", |_| async {
        std::future::pending::<()>().await;
        Outcome::pass("never")
    })]);
    let options = RunOptions {
        check_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let (r, _) = go(p, options).await;
    let (s, msg) = status_of(&r, "silent");
    assert_eq!(s, Status::Fail);
    assert!(
        msg.contains("no result within the check timeout (200ms)"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_deadline_ends_the_run_and_accounts_for_every_check() {
    let p = plan(vec![
        PlannedCheck::new("dns.node", "slow", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::pass("late")
        }),
        PlannedCheck::new("services.port", "after-slow", |_| async {
            Outcome::pass("x")
        })
        .after(CheckKey::new("dns.node", "slow")),
    ]);
    let options = RunOptions {
        check_timeout: Duration::from_secs(3600),
        deadline: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let (r, _) = go(p, options).await;
    assert_eq!(r.summary.stopped, Some(StopReason::Deadline));
    let (s, msg) = status_of(&r, "slow");
    assert_eq!(s, Status::Fail);
    assert!(
        msg.contains("did not finish before the run deadline"),
        "{msg}"
    );
    let (s, msg) = status_of(&r, "after-slow");
    assert_eq!(s, Status::Skip);
    assert!(msg.contains("deadline"), "{msg}");
}

#[tokio::test]
async fn retry_for_reruns_a_failing_check_until_it_passes() {
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    let p = plan(vec![PlannedCheck::new(
        "dns.node",
        "settling",
        move |ctx| {
            let t = t.clone();
            async move {
                t.fetch_add(1, Ordering::SeqCst);
                if ctx.attempt < 3 {
                    Outcome::fail("not yet", "wait")
                } else {
                    Outcome::pass("settled")
                }
            }
        },
    )]);
    let options = RunOptions {
        retry_for: Some(Duration::from_secs(30)),
        retry_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let (r, events) = go(p, options).await;
    assert_eq!(status_of(&r, "settling").0, Status::Pass);
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(r.results[0].attempts, 3);
    let retries = events
        .iter()
        .filter(|e| matches!(e, Event::CheckRetrying { .. }))
        .count();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn retry_for_uses_its_whole_window() {
    let started = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = started.clone();
    let t0 = std::time::Instant::now();
    let p = plan(vec![PlannedCheck::new("dns.node", "never", move |_| {
        s.lock().unwrap().push(t0.elapsed());
        async { Outcome::fail("not yet", "wait") }
    })]);
    let options = RunOptions {
        // Attempts at 0, 100, 300 ms; a 400 ms pause would end past the window.
        retry_for: Some(Duration::from_millis(450)),
        retry_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let (r, _) = go(p, options).await;
    let started = started.lock().unwrap().clone();
    let last = *started.last().unwrap();
    assert!(
        last >= Duration::from_millis(440),
        "the last attempt began at {last:?}, before the 450 ms window ended: {started:?}"
    );
    assert_eq!(r.results[0].attempts as usize, started.len());
    assert!(r.results[0]
        .outcome
        .evidence
        .iter()
        .any(|(k, v)| k == "attempts" && *v == started.len().to_string()));
}

#[tokio::test]
async fn without_retry_a_failing_check_runs_once() {
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    let p = plan(vec![PlannedCheck::new("dns.node", "x", move |_| {
        t.fetch_add(1, Ordering::SeqCst);
        async { Outcome::fail("no", "fix") }
    })]);
    let (r, _) = go(p, RunOptions::default()).await;
    assert_eq!(r.results[0].attempts, 1);
    assert_eq!(tries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_panicking_check_fails_and_the_run_goes_on() {
    let p = plan(vec![
        PlannedCheck::new("dns.node", "boom", |_| async {
            #[allow(clippy::panic)]
            if true {
                panic!("parser exploded");
            }
            Outcome::pass("unreachable")
        }),
        PlannedCheck::new("services.port", "fine", |_| async { Outcome::pass("ok") }),
    ]);
    let (r, _) = go(p, RunOptions::default()).await;
    let (s, msg) = status_of(&r, "boom");
    assert_eq!(s, Status::Fail);
    assert!(
        msg.contains("internal error: the check panicked: parser exploded"),
        "{msg}"
    );
    assert_eq!(status_of(&r, "fine").0, Status::Pass);
}

#[tokio::test]
async fn independent_checks_run_at_the_same_time() {
    // Each check can only finish once all three have started: a run that ran them one
    // after another would hang here (and fail at the check timeout).
    let barrier = Arc::new(Barrier::new(3));
    let mut checks = Vec::new();
    for i in 0..3 {
        let b = barrier.clone();
        checks.push(PlannedCheck::new(
            "services.port",
            format!("p{i}"),
            move |_| {
                let b = b.clone();
                async move {
                    b.wait().await;
                    Outcome::pass("met")
                }
            },
        ));
    }
    let options = RunOptions {
        check_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let (r, _) = go(plan(checks), options).await;
    assert_eq!(r.summary.counts.pass, 3);
}

#[tokio::test]
async fn an_interrupt_marks_what_did_not_finish() {
    let interrupt = CancellationToken::new();
    let p = plan(vec![
        PlannedCheck::new("services.port", "quick", |_| async { Outcome::pass("ok") }),
        PlannedCheck::new("dns.node", "forever", |_| async {
            std::future::pending::<()>().await;
            Outcome::pass("never")
        }),
    ]);
    let i2 = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        i2.cancel();
    });
    let options = RunOptions {
        check_timeout: Duration::from_secs(3600),
        ..Default::default()
    };
    let (r, _) = go_with(p, options, vec![], interrupt).await;
    assert_eq!(r.summary.stopped, Some(StopReason::Interrupted));
    assert_eq!(status_of(&r, "quick").0, Status::Pass);
    let (s, msg) = status_of(&r, "forever");
    assert_eq!(s, Status::Skip);
    assert!(msg.contains("interrupted"), "{msg}");
}

#[tokio::test]
async fn secrets_never_reach_the_events() {
    let p = plan(vec![PlannedCheck::new("dns.node", "leaky", |_| async {
        Outcome::fail("login with pw=Tr0ub4dor&3 refused", "use Tr0ub4dor&3")
            .with("sent", "Tr0ub4dor&3")
    })]);
    let (r, events) = go_with(
        p,
        RunOptions::default(),
        vec!["Tr0ub4dor&3".into()],
        CancellationToken::new(),
    )
    .await;
    let all = format!("{r:?} {events:?}");
    assert!(!all.contains("Tr0ub4dor&3"));
    assert!(all.contains("***"));
}

#[tokio::test]
async fn a_credential_refused_earlier_in_the_run_is_final_for_a_later_check_too() {
    use imp_verify_core::credentials::{CredentialUse, Principal, Refusal};
    let refused = Arc::new(tokio::sync::Notify::new());
    let tries = Arc::new(AtomicU32::new(0));
    let (r1, r2, t) = (refused.clone(), refused.clone(), tries.clone());
    let p = plan(vec![
        PlannedCheck::new("dns.node", "first", move |ctx| {
            let r1 = r1.clone();
            async move {
                let CredentialUse::Send(guard) =
                    ctx.credentials.acquire(&Principal::user("alice")).await
                else {
                    return Outcome::pass("the ledger had a refusal already");
                };
                guard.refused(Refusal {
                    by_check: "dns.node [first]".into(),
                    at: "the server".into(),
                    words: "invalidCredentials".into(),
                    locked: false,
                });
                r1.notify_one();
                Outcome::fail("alice's password is refused", "correct it")
            }
        }),
        PlannedCheck::new("dns.node", "second", move |ctx| {
            let (r2, t) = (r2.clone(), t.clone());
            async move {
                t.fetch_add(1, Ordering::SeqCst);
                if ctx.attempt == 1 {
                    r2.notified().await;
                }
                match ctx.credentials.acquire(&Principal::user("alice")).await {
                    CredentialUse::Refused(r) => {
                        Outcome::fail(format!("not sent: {} refused it", r.by_check), "correct it")
                    }
                    CredentialUse::Send(_) => Outcome::pass("sent"),
                }
            }
        }),
    ]);
    let options = RunOptions {
        retry_for: Some(Duration::from_secs(2)),
        retry_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let (r, _) = go(p, options).await;
    let (s, msg) = status_of(&r, "second");
    assert_eq!(s, Status::Fail);
    assert_eq!(msg, "not sent: dns.node [first] refused it");
    // Neither is retried: the first was refused, the second met that refusal.
    assert_eq!(tries.load(Ordering::SeqCst), 1);
    assert!(r.results.iter().all(|c| c.attempts == 1), "{:?}", r.results);
}
