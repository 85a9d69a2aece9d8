//! One attempt of a check: its body as a task of its own, bounded by the check's
//! timeout, its panics caught, and nothing of it left running once it has reported.

use crate::model::Outcome;
use crate::probe::{CheckCtx, CheckFn};
use crate::reason::{Reason, Stage};
use std::time::Duration;

/// One attempt, bounded by the timeout, with the check's panics caught.
pub(super) async fn attempt_once(body: &CheckFn, cx: CheckCtx) -> Outcome {
    let timeout = cx.timeout;
    let stage = cx.stage.clone();
    let handle = tokio::spawn(body(cx));
    let abort = handle.abort_handle();
    // Nothing of the check runs after it has reported: dropped (the run stopped) or
    // timed out, its task is aborted.
    let _abort_on_drop = AbortOnDrop(abort.clone());
    match tokio::time::timeout(timeout, handle).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => panicked(e.into_panic()),
        Ok(Err(_)) => Outcome::fail(
            "internal error: the check was cancelled",
            "This is a bug in imp-verify; please report it with this report.",
        ),
        Err(_) => {
            abort.abort();
            timed_out(timeout, stage.get())
        }
    }
}

fn panicked(payload: Box<dyn std::any::Any + Send>) -> Outcome {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Outcome::fail(
        format!("internal error: the check panicked: {msg}"),
        "This is a bug in imp-verify; please report it with this report.",
    )
    .because(Reason::Panicked)
}

/// The runner's verdict on a check that used up its time: the stage it was in, when it
/// had said, and a fix that fits that stage.
fn timed_out(timeout: Duration, stage: Option<Stage>) -> Outcome {
    let fix = match stage {
        Some(Stage::Resolve | Stage::DnsQuery) => "The DNS server did not answer in time: check that the spec's DNS servers answer for the deployment's names, or raise --timeout.",
        Some(Stage::TcpConnect) => "The TCP connection was not answered in time: check that the host is up and that no firewall drops the port, or raise --timeout.",
        Some(_) => "The target answered the connection but did not complete this step in time: check that the service is up and not overloaded, or raise --timeout.",
        None => "The target did not complete the exchange in time: check that the service is up and not overloaded, or raise --timeout.",
    };
    with_stage(
        Outcome::fail(
            format!(
                "no result within the check timeout ({})",
                humantime::format_duration(timeout)
            ),
            fix,
        ),
        stage,
    )
    .with("timeout_ms", timeout.as_millis())
    .because(Reason::TimedOut {
        after: timeout,
        stage,
    })
}

/// `outcome` naming the stage the check was in, when it had said.
pub(super) fn with_stage(outcome: Outcome, stage: Option<Stage>) -> Outcome {
    match stage {
        Some(s) => {
            let message = format!("{}: stalled in {}", outcome.message, s.describe());
            Outcome { message, ..outcome }.with("stage", s.as_str())
        }
        None => outcome,
    }
}

/// Aborts a check's task when the attempt is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
