//! `sip.publish`: PUBLISH a state, refresh it with SIP-If-Match, remove it (Expires 0).

use super::session::{Failure, Session};
use super::{failed, SessionView, EXPIRES};
use crate::conn::Deadline;
use crate::message::pidf;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{ms, Outcome};
use std::time::Instant;

/// The three steps, each within the check's deadline; the time of the first PUBLISH.
pub(super) async fn steps(s: &mut Session, deadline: Deadline) -> Result<f64, Failure> {
    let token = s.conn.token();
    let body = pidf(
        &s.presentity,
        &format!("impv-{token}"),
        "open",
        &format!("imp-verify {token} on the phone"),
    );
    let t0 = Instant::now();
    s.publish("publish", Some(body), EXPIRES, deadline).await?;
    let publish_ms = ms(t0.elapsed());
    s.publish("refresh", None, EXPIRES, deadline).await?;
    s.publish("remove", None, 0, deadline).await?;
    Ok(publish_ms)
}

/// The verdict: every step answered 2xx (with a SIP-ETag where one is due).
pub(crate) fn judge(result: &Result<f64, Failure>, v: &SessionView, w: Workflow) -> Outcome {
    let o = match result {
        Ok(publish_ms) => Outcome::pass(format!(
            "{} accepts {}'s phone presence over {}: published, refreshed with SIP-If-Match and removed",
            v.target.host,
            v.presentity,
            v.target.name()
        ))
        .metric("publish_ms", *publish_ms),
        Err(f) => failed(f, v, w),
    };
    v.evidence(o)
        .with("request_line", format!("PUBLISH {} SIP/2.0", v.presentity))
}
