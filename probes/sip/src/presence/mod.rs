//! `sip.publish` and `sip.presence-e2e`: phone presence over the trunk, as CUCM sends it
//! (RFC 3903 PUBLISH of a PIDF document) and as a watcher sees it (RFC 6665
//! SUBSCRIBE/NOTIFY). Every note carries a per-run token, so that a NOTIFY from an
//! older or concurrent run is never taken for this run's.
//!
//! Cleanup: a check removes what it made as its last steps, within its own time. If it
//! ends before (a step failed or stalled, the run stopped), its registered undo is left
//! to the runner, which gives it the undo's own budget (or, once the run has stopped,
//! what is left of the stop grace): the check never spends more than its time, the undo
//! never more than the deadline it is handed. What neither could remove expires on its
//! own ([`EXPIRES`] seconds).

mod e2e;
mod publish;
mod session;

use crate::access::Sender;
use crate::conn::Deadline;
use crate::connect::connect;
use crate::ctx::{SipCtx, Tasks, Trunk, TrunkTarget};
use crate::error::SipError;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome, Reason, Stage, Undo};
use session::{Failure, Session};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The lifetime asked for publications and subscriptions, in seconds.
pub const EXPIRES: u32 = 120;

/// Shares a session with the run's cleanup: the undo removes what the session still
/// holds by the deadline its runner hands it.
fn share(session: Session, cx: &CheckCtx, host: &str) -> (Arc<tokio::sync::Mutex<Session>>, Undo) {
    let what = format!(
        "the publication and subscription of {} on {host}",
        session.presentity
    );
    let shared = Arc::new(tokio::sync::Mutex::new(session));
    let s = shared.clone();
    let undo = cx.cleanup.register(what, move |deadline| async move {
        let mut s = s.lock().await;
        let left = s.clean_up(Deadline::at(deadline.into_std())).await;
        left.map_err(|e| e.to_string())
    });
    (shared, undo)
}

/// The steps of a check in its session: the time they measured, or where they failed.
type Steps = for<'s> fn(
    &'s mut Session,
    Deadline,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<f64, Failure>> + Send + 's>,
>;

/// The judge of a check's steps.
type Judge = fn(&Result<f64, Failure>, &SessionView, Workflow) -> Outcome;

/// Which presence check: each is its steps and its judge, run by [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PresenceCheck {
    /// `sip.publish`: PUBLISH, refresh, remove.
    Publish,
    /// `sip.presence-e2e`: a watcher sees the published state and its change.
    EndToEnd,
}

impl PresenceCheck {
    fn parts(self) -> (Steps, Judge) {
        match self {
            PresenceCheck::Publish => (|s, d| Box::pin(publish::steps(s, d)), publish::judge),
            PresenceCheck::EndToEnd => (|s, d| Box::pin(e2e::steps(s, d)), e2e::judge),
        }
    }
}

/// A presence check: connect over the target's transport, run its steps in a session
/// the run's cleanup removes what it holds from if the check is cut short, and judge
/// what they did.
pub(crate) async fn check(
    which: PresenceCheck,
    c: &SipCtx,
    trunk: &Trunk,
    t: &TrunkTarget,
    presentity: &str,
    cx: CheckCtx,
) -> Outcome {
    let (steps, judge) = which.parts();
    let deadline = Deadline::of(&cx);
    let conn = match connect(c, trunk, t, deadline, &cx).await {
        Ok(conn) => conn,
        Err(e) => return unreached(t, &e.into(), deadline.budget, c.workflow()),
    };
    let (shared, undo) = share(Session::new(conn, presentity, &trunk.domain), &cx, &t.host);
    let mut s = shared.lock().await;
    cx.enter(Stage::SipTransaction);
    let result = steps(&mut s, deadline).await;
    if s.holds_nothing() {
        undo.forget();
    }
    let view = SessionView::of(&s, t, trunk, deadline.budget);
    judge(&result, &view, c.workflow())
}

/// What a check's fix points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// The node did not answer on the transport.
    Listen,
    /// The node refuses the method.
    Method,
    /// The node refuses the PUBLISH.
    Publish,
    /// The node refuses the watcher's SUBSCRIBE.
    Subscribe,
    /// The presence engine does not pass the state to watchers.
    Notify,
}

fn remediation(hint: Hint, task: &str, host: &str) -> String {
    match hint {
        Hint::Listen => format!("Check that the Cisco SIP Proxy of {host} answers on the trunk's transport (see sip.options) and that the node's presence engine runs (task {task})"),
        Hint::Method => format!("{host} refuses the method: the SIP proxy's routing on IM&P must pass PUBLISH and SUBSCRIBE of the trunk to the presence engine; check the SIP publish trunk on IM&P (Presence > Settings) and CUCM's trunk security profile (accept PUBLISH/presence subscriptions) (task {task})"),
        Hint::Subscribe => format!("{host} refuses the watcher's subscription: check presence authorization and the presence engine on IM&P (task {task})"),
        Hint::Notify => format!("The presence engine of {host} does not pass the published phone state to watchers: check the presence engine and the SIP publish trunk's presence gateway on IM&P (task {task})"),
        Hint::Publish => format!("{host} refuses the trunk's PUBLISH: check the SIP publish trunk on IM&P (Presence > Settings), the presence gateway and that the presentity is a licensed IM&P user (task {task})"),
    }
}

/// The session's side of a verdict: where it went and what it saw.
#[derive(Debug, Clone)]
pub(crate) struct SessionView {
    pub target: TrunkTarget,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub presentity: String,
    /// Over TLS, the common name of the trunk's certificate.
    pub tls_peer: Option<String>,
    pub evidence: Vec<(String, String)>,
    pub passed_over: Vec<String>,
    pub strays: Vec<String>,
    pub strays_more: usize,
    /// The time the check had.
    pub budget: Duration,
}

impl SessionView {
    fn of(s: &Session, target: &TrunkTarget, trunk: &Trunk, budget: Duration) -> SessionView {
        SessionView {
            target: target.clone(),
            peer: s.conn.peer,
            local: s.conn.local,
            presentity: s.presentity.clone(),
            tls_peer: trunk.client.name().map(|n| n.cn.clone()),
            evidence: s.evidence.clone(),
            passed_over: s.conn.passed_over.clone(),
            strays: s.conn.strays.clone(),
            strays_more: s.conn.strays_more,
            budget,
        }
    }

    /// `o` with the session's evidence.
    fn evidence(&self, mut o: Outcome) -> Outcome {
        o = o
            .with("target", self.peer)
            .with("transport", self.target.name())
            .with("node", &self.target.host)
            .with("presentity", &self.presentity);
        for (k, v) in &self.evidence {
            o = o.with(k, v);
        }
        if !self.passed_over.is_empty() {
            o = o.with("other_notifies", self.passed_over.join("; "));
        }
        if !self.strays.is_empty() {
            let more = match self.strays_more {
                0 => String::new(),
                n => format!(", and {n} more"),
            };
            o = o.with(
                "stray_requests",
                format!("{}{more}", self.strays.join(", ")),
            );
        }
        o
    }
}

/// The verdict of a failed step: its message, the fix it points at (a 403 names the
/// node's access control), and a timeout of the check's own time typed as one.
fn failed(f: &Failure, v: &SessionView, w: Workflow) -> Outcome {
    let tasks = Tasks::of(w);
    let host = &v.target.host;
    let (message, hint, stalled) = match f {
        Failure::Exchange { step, error } => {
            (format!("{step}: {error}"), Hint::Listen, error.stalled())
        }
        Failure::Answered {
            step,
            request_line,
            response,
            ..
        } if response.forbidden() => {
            let sender = Sender {
                from: v.local.ip(),
                tls_peer: v.tls_peer.clone(),
                transport: v.target.transport,
            };
            let task = if v.target.transport == imp_verify_core::spec::Transport::Tls {
                tasks.secure
            } else {
                tasks.trunk
            };
            let o = Outcome::fail(
                format!(
                    "{host}: {step}: `{request_line}` answered {}: {}",
                    response.status_line(),
                    sender.why()
                ),
                sender.fix(&format!(" (task {task})")),
            );
            return sender.evidence(o);
        }
        Failure::Answered {
            step,
            method,
            request_line,
            response,
        } => (
            format!(
                "{step}: `{request_line}` answered {}",
                response.status_line()
            ),
            match (response.code, *method) {
                (405 | 501, _) => Hint::Method,
                (_, "SUBSCRIBE") => Hint::Subscribe,
                _ => Hint::Publish,
            },
            None,
        ),
        Failure::NoEtag { step } => (
            format!("{step}: the 2xx to PUBLISH carries no SIP-ETag (RFC 3903 requires one)"),
            Hint::Publish,
            None,
        ),
        Failure::Notify(m) => (m.clone(), Hint::Notify, None),
    };
    let o = Outcome::fail(
        format!("{host}: {message}"),
        remediation(hint, tasks.trunk, host),
    );
    match stalled {
        Some(stage) => o.because(Reason::TimedOut {
            after: v.budget,
            stage: Some(stage),
        }),
        None => o,
    }
}

/// The verdict when no session came about.
fn unreached(t: &TrunkTarget, e: &SipError, budget: Duration, w: Workflow) -> Outcome {
    let o = Outcome::fail(
        format!("{}:{}: {e}", t.host, t.port),
        remediation(Hint::Listen, Tasks::of(w).trunk, &t.host),
    );
    match e.stalled() {
        Some(stage) => o.because(Reason::TimedOut {
            after: budget,
            stage: Some(stage),
        }),
        None => o,
    }
}

#[cfg(test)]
mod tests;
