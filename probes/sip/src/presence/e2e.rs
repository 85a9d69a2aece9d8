//! `sip.presence-e2e`: a watcher subscribes to the presentity, sees the published
//! state, sees a changed state (the propagation time measured), unsubscribes.

use super::session::{Failure, Session};
use super::{failed, SessionView, EXPIRES};
use crate::conn::Deadline;
use crate::message::{pidf, read_pidf, Message};
use imp_verify_core::spec::Workflow;
use imp_verify_core::text::peer_text;
use imp_verify_core::{ms, Outcome};
use std::time::{Duration, Instant};

/// How long the watcher waits for the final NOTIFY of its ended subscription (evidence,
/// not a condition: it returns as soon as the NOTIFY comes).
const FINAL_NOTIFY_WAIT: Duration = Duration::from_millis(500);

/// Waits for the NOTIFY of the subscription carrying the tuple noted `note`; records
/// its basic status as `key`.
async fn seen(
    s: &mut Session,
    call_id: &str,
    note: &str,
    key: &str,
    deadline: Deadline,
) -> Result<(Message, Instant), Failure> {
    let carries = |m: &Message| read_pidf(&m.body).with_note(note).is_some();
    let first = key == "notify_state";
    let got = s
        .conn
        .notify(call_id, deadline.at, carries)
        .await
        .map_err(|e| {
            Failure::Notify(if first {
                format!("waiting for the first NOTIFY: {e}")
            } else {
                format!("waiting for the NOTIFY of the change: {e}")
            })
        })?;
    let Some((n, at)) = got else {
        let within = format!(
            "within the check's time ({} ms)",
            deadline.budget.as_millis()
        );
        return Err(Failure::Notify(if first {
            format!("no NOTIFY carrying the published state (note `{note}`) arrived {within}")
        } else {
            format!("the watcher got no NOTIFY of the changed state (note `{note}`) {within}")
        }));
    };
    let basic = read_pidf(&n.body)
        .with_note(note)
        .and_then(|t| t.basic.clone())
        .unwrap_or_default();
    s.note(key, format!("{} ({note})", peer_text(&basic)));
    Ok((n, at))
}

/// The exchange: publish, subscribe, see it, change it, see the change, unsubscribe,
/// remove; the propagation time of the change.
pub(super) async fn steps(s: &mut Session, deadline: Deadline) -> Result<f64, Failure> {
    let token = s.conn.token();
    let (first, second) = (
        format!("imp-verify {token} available"),
        format!("imp-verify {token} on the phone"),
    );
    let (entity, tuple) = (s.presentity.clone(), format!("impv-{token}"));
    let body = pidf(&entity, &tuple, "open", &first);
    s.publish("publish", Some(body), EXPIRES, deadline).await?;
    s.subscribe(EXPIRES, deadline).await?;
    let call_id = s.subscription_call_id().unwrap_or_default();
    let (n, _) = seen(s, &call_id, &first, "notify_state", deadline).await?;
    let state = peer_text(n.header("Subscription-State").unwrap_or(""));
    s.note("subscription_state", state);
    let t0 = Instant::now();
    let body = pidf(&entity, &tuple, "closed", &second);
    s.publish("change", Some(body), EXPIRES, deadline).await?;
    let (n, at) = seen(s, &call_id, &second, "changed_state", deadline).await?;
    let propagation = ms(at.saturating_duration_since(t0));
    let basic = read_pidf(&n.body)
        .with_note(&second)
        .and_then(|t| t.basic.clone())
        .unwrap_or_default();
    if basic != "closed" {
        return Err(Failure::Notify(format!(
            "the NOTIFY of the change carries basic status `{}`, not the published `closed`",
            peer_text(&basic)
        )));
    }
    s.subscribe(0, deadline).await?;
    let wait = (Instant::now() + FINAL_NOTIFY_WAIT).min(deadline.at);
    let terminated = s
        .conn
        .notify(&call_id, wait, |m| {
            m.header("Subscription-State")
                .is_some_and(|v| v.starts_with("terminated"))
        })
        .await;
    let final_notify = if matches!(terminated, Ok(Some(_))) {
        "Subscription-State: terminated".to_string()
    } else {
        format!("none within {} ms", FINAL_NOTIFY_WAIT.as_millis())
    };
    s.note("final_notify", final_notify);
    s.publish("remove", None, 0, deadline).await?;
    Ok(propagation)
}

/// The verdict: the watcher saw the state and its change.
pub(crate) fn judge(result: &Result<f64, Failure>, v: &SessionView, w: Workflow) -> Outcome {
    let o = match result {
        Ok(propagation) => Outcome::pass(format!(
            "a watcher of {} on {} sees the published phone state and its change ({propagation} ms after the PUBLISH)",
            v.presentity, v.target.host
        ))
        .metric("presence_propagation_ms", *propagation),
        Err(f) => failed(f, v, w),
    };
    v.evidence(o).with(
        "request_line",
        format!("SUBSCRIBE {} SIP/2.0", v.presentity),
    )
}
