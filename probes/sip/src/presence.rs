//! `sip.publish` and `sip.presence-e2e`: phone presence over the trunk, as CUCM sends it
//! (RFC 3903 PUBLISH of a PIDF document) and as a watcher sees it (RFC 6665
//! SUBSCRIBE/NOTIFY). Every publication and subscription made is removed at the end,
//! also when a step fails; what a check could not remove expires on its own
//! ([`EXPIRES`] seconds). Every note carries a per-run token, so that a NOTIFY from an
//! older or concurrent run is never taken for this run's.

use super::{connect, tasks, Ctx, Trunk};
use crate::conn::{Conn, Request};
use crate::message::{pidf, read_pidf, Message};
use imp_verify_core::ms;
use imp_verify_core::spec::Transport;
use imp_verify_core::{CheckCtx, Outcome, Undo};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lifetime asked for publications and subscriptions, in seconds.
pub const EXPIRES: u32 = 120;

/// Where a step failed: its name, what happened and the evidence gathered so far.
struct Failure {
    message: String,
    hint: &'static str,
}

fn fail(message: impl Into<String>, hint: &'static str) -> Failure {
    Failure {
        message: message.into(),
        hint,
    }
}

/// The state of one presentity's publication on a connection.
struct Session {
    conn: Conn,
    presentity: String,
    domain: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    etag: Option<String>,
    /// The subscription's Call-ID, tags and next CSeq while it exists.
    subscription: Option<Subscription>,
    evidence: Vec<(String, String)>,
}

struct Subscription {
    call_id: String,
    from_tag: String,
    to_tag: String,
    cseq: u32,
}

impl Session {
    fn new(mut conn: Conn, presentity: &str, domain: &str) -> Session {
        let t = conn.token();
        Session {
            presentity: format!("sip:{presentity}@{domain}"),
            domain: domain.to_string(),
            call_id: format!("impv-pub-{t}@{}", conn.local.ip()),
            from_tag: format!("impv{t}"),
            cseq: 0,
            etag: None,
            subscription: None,
            evidence: Vec::new(),
            conn,
        }
    }

    fn note(&mut self, key: &str, value: impl Into<String>) {
        self.evidence.push((key.to_string(), value.into()));
    }

    /// One PUBLISH: a new state (`body`), a refresh (`None`), or a removal (`expires` 0);
    /// returns the final response. Records the new entity tag of a 2xx.
    async fn publish(
        &mut self,
        step: &str,
        body: Option<String>,
        expires: u32,
        until: Instant,
    ) -> Result<Message, Failure> {
        self.cseq += 1;
        let mut extra = vec!["Event: presence".to_string(), format!("Expires: {expires}")];
        if let Some(etag) = &self.etag {
            extra.push(format!("SIP-If-Match: {etag}"));
        }
        let req = Request {
            method: "PUBLISH",
            uri: self.presentity.clone(),
            from: format!("<{}>;tag={}", self.presentity, self.from_tag),
            to: format!("<{}>", self.presentity),
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            extra,
            body: body.map(|b| ("application/pidf+xml", b)),
        };
        let (m, _) = self
            .conn
            .transact(&req, until)
            .await
            .map_err(|e| fail(format!("{step}: {e}"), "listen"))?;
        self.note(&format!("{step}_status"), m.first_line());
        let code = m.code().unwrap_or(0);
        if !(200..300).contains(&code) {
            return Err(fail(
                format!("{step}: `{}` answered {}", req.line(), m.first_line()),
                if code == 405 || code == 501 {
                    "method"
                } else {
                    "publish"
                },
            ));
        }
        if expires > 0 {
            match m.header("SIP-ETag") {
                Some(etag) if !etag.is_empty() => {
                    self.note(&format!("{step}_sip_etag"), etag);
                    self.etag = Some(etag.to_string());
                }
                _ => {
                    return Err(fail(
                        format!(
                        "{step}: the 2xx to PUBLISH carries no SIP-ETag (RFC 3903 requires one)"
                    ),
                        "publish",
                    ))
                }
            }
        } else {
            self.etag = None;
        }
        Ok(m)
    }

    /// SUBSCRIBE (or, with `expires` 0 inside the subscription, unsubscribe).
    async fn subscribe(&mut self, expires: u32, until: Instant) -> Result<Message, Failure> {
        let (call_id, from_tag, to, cseq) = match &mut self.subscription {
            Some(s) => {
                s.cseq += 1;
                (
                    s.call_id.clone(),
                    s.from_tag.clone(),
                    format!("<{}>;tag={}", self.presentity, s.to_tag),
                    s.cseq,
                )
            }
            None => {
                let t = self.conn.token();
                (
                    format!("impv-sub-{t}@{}", self.conn.local.ip()),
                    format!("impvw{t}"),
                    format!("<{}>", self.presentity),
                    1,
                )
            }
        };
        self.conn.expect_dialog(&call_id);
        let req = Request {
            method: "SUBSCRIBE",
            uri: self.presentity.clone(),
            from: format!("<sip:imp-verify-watcher@{}>;tag={from_tag}", self.domain),
            to,
            call_id: call_id.clone(),
            cseq,
            extra: vec![
                "Event: presence".into(),
                "Accept: application/pidf+xml".into(),
                format!("Expires: {expires}"),
            ],
            body: None,
        };
        let step = if expires == 0 {
            "unsubscribe"
        } else {
            "subscribe"
        };
        let (m, _) = self
            .conn
            .transact(&req, until)
            .await
            .map_err(|e| fail(format!("{step}: {e}"), "listen"))?;
        self.note(&format!("{step}_status"), m.first_line());
        let code = m.code().unwrap_or(0);
        if !(200..300).contains(&code) {
            return Err(fail(
                format!("{step}: `{}` answered {}", req.line(), m.first_line()),
                if code == 405 || code == 501 {
                    "method"
                } else {
                    "subscribe"
                },
            ));
        }
        if expires == 0 {
            self.subscription = None;
        } else if self.subscription.is_none() {
            let to_tag = m.to_tag().unwrap_or("").to_string();
            self.subscription = Some(Subscription {
                call_id,
                from_tag,
                to_tag,
                cseq,
            });
        }
        Ok(m)
    }

    /// Removes what this session still holds; best effort within `until`.
    async fn clean_up(&mut self, until: Instant) {
        if self.subscription.is_some() && self.subscribe(0, until).await.is_err() {
            self.note(
                "cleanup",
                "the subscription could not be ended; it expires on its own",
            );
        }
        if self.etag.is_some() && self.publish("remove", None, 0, until).await.is_err() {
            self.note(
                "cleanup",
                format!("the publication could not be removed; it expires within {EXPIRES} s"),
            );
        }
    }
}

impl Session {
    /// Whether the session holds neither a publication nor a subscription.
    fn holds_nothing(&self) -> bool {
        self.etag.is_none() && self.subscription.is_none()
    }

    /// Removes what the session still holds, within `until`; when nothing is left, the
    /// run's cleanup (`undo`) has nothing to do either.
    async fn release(&mut self, undo: Undo, until: Instant) {
        self.clean_up(until).await;
        if self.holds_nothing() {
            undo.forget();
        }
    }
}

/// A check's exchange, bounded by `main_until` (the rest of its time is for the
/// cleanup): a stall fails with the step hint `hint`.
async fn within<T>(
    steps: impl std::future::Future<Output = Result<T, Failure>>,
    started: Instant,
    main_until: Instant,
    hint: &'static str,
) -> Result<T, Failure> {
    tokio::time::timeout_at(main_until.into(), steps)
        .await
        .unwrap_or_else(|_| {
            Err(fail(
                format!(
                    "the exchange did not finish within {} ms",
                    main_until.saturating_duration_since(started).as_millis()
                ),
                hint,
            ))
        })
}

/// Shares a session with the run's cleanup: if the check ends before it has removed
/// its publication and subscription (a failure, a timeout, an interrupt), the runner
/// removes them with its own budget.
fn share(session: Session, cx: &CheckCtx, host: &str) -> (Arc<tokio::sync::Mutex<Session>>, Undo) {
    let what = format!(
        "the publication and subscription of {} on {host}",
        session.presentity
    );
    let shared = Arc::new(tokio::sync::Mutex::new(session));
    let s = shared.clone();
    let undo = cx.cleanup.register(what, move |deadline| async move {
        let mut s = s.lock().await;
        s.clean_up(deadline.into_std().min(Instant::now() + CLEANUP))
            .await;
        if s.holds_nothing() {
            Ok(())
        } else {
            Err(format!(
                "the node did not confirm the removal; it expires within {EXPIRES} s"
            ))
        }
    });
    (shared, undo)
}

/// The time the cleanup of a session has when the runner runs it.
const CLEANUP: Duration = Duration::from_secs(4);

fn remediation(hint: &str, task: &str, host: &str) -> String {
    match hint {
        "listen" => format!("Check that the Cisco SIP Proxy of {host} answers on the trunk's transport (see sip.options) and that the node's presence engine runs (task {task})"),
        "method" => format!("{host} refuses the method: the SIP proxy's routing on IM&P must pass PUBLISH and SUBSCRIBE of the trunk to the presence engine; check the SIP publish trunk on IM&P (Presence > Settings) and CUCM's trunk security profile (accept PUBLISH/presence subscriptions) (task {task})"),
        "subscribe" => format!("{host} refuses the watcher's subscription: check presence authorization and the presence engine on IM&P (task {task})"),
        "notify" => format!("The presence engine of {host} does not pass the published phone state to watchers: check the presence engine and the SIP publish trunk's presence gateway on IM&P (task {task})"),
        _ => format!("{host} refuses the trunk's PUBLISH: check the SIP publish trunk on IM&P (Presence > Settings), the presence gateway and that the presentity is a licensed IM&P user (task {task})"),
    }
}

/// Connects to the node and starts a session for the presentity, within `budget`.
async fn open(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    presentity: &str,
    budget: Duration,
) -> Result<Session, Outcome> {
    let (task, _) = tasks(c.spec.workflow);
    match tokio::time::timeout(budget, connect(c, trunk, transport, host, port)).await {
        Ok(Ok(conn)) => Ok(Session::new(conn, presentity, &trunk.domain)),
        Ok(Err(e)) => Err(Outcome::fail(
            format!("{host}:{port}: {e}"),
            remediation("listen", task, host),
        )),
        Err(_) => Err(Outcome::fail(
            format!(
                "no connection to {host}:{port} within {} ms",
                budget.as_millis()
            ),
            remediation("listen", task, host),
        )),
    }
}

/// `sip.publish`: PUBLISH a state, refresh it with SIP-If-Match, remove it (Expires 0).
pub(crate) async fn check_publish(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    presentity: &str,
    cx: CheckCtx,
) -> Outcome {
    let (task, _) = tasks(c.spec.workflow);
    let budget = cx.budget();
    let started = Instant::now();
    let until = started + budget;
    let session = match open(c, trunk, transport, host, port, presentity, budget).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let (shared, undo) = share(session, &cx, host);
    let mut session = shared.lock().await;
    let main_until = started + budget.mul_f32(0.8);
    let token = session.conn.token();
    let steps = async {
        let body = pidf(
            &session.presentity,
            &format!("impv-{token}"),
            "open",
            &format!("imp-verify {token} on the phone"),
        );
        let t0 = Instant::now();
        session
            .publish("publish", Some(body), EXPIRES, main_until)
            .await?;
        let publish_ms = ms(t0.elapsed());
        session
            .publish("refresh", None, EXPIRES, main_until)
            .await?;
        session.publish("remove", None, 0, main_until).await?;
        Ok::<f64, Failure>(publish_ms)
    };
    let result = within(steps, started, main_until, "listen").await;
    session.release(undo, until).await;
    let request_line = format!("PUBLISH {} SIP/2.0", session.presentity);
    let o = match result {
        Ok(publish_ms) => Outcome::pass(format!(
            "{host} accepts {}'s phone presence over {}: published, refreshed with SIP-If-Match and removed",
            session.presentity, session.conn.transport
        ))
        .metric("publish_ms", publish_ms),
        Err(f) => Outcome::fail(format!("{host}: {}", f.message), remediation(f.hint, task, host)),
    };
    evidence(o, &session, transport, host).with("request_line", request_line)
}

/// `sip.presence-e2e`: a watcher subscribes to the presentity, sees the published
/// state, sees a changed state, unsubscribes.
pub(crate) async fn check_presence_e2e(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    presentity: &str,
    cx: CheckCtx,
) -> Outcome {
    let (task, _) = tasks(c.spec.workflow);
    let budget = cx.budget();
    let started = Instant::now();
    let until = started + budget;
    let session = match open(c, trunk, transport, host, port, presentity, budget).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let (shared, undo) = share(session, &cx, host);
    let mut session = shared.lock().await;
    let main_until = started + budget.mul_f32(0.8);
    let token = session.conn.token();
    let first = format!("imp-verify {token} available");
    let second = format!("imp-verify {token} on the phone");
    let steps = async {
        let entity = session.presentity.clone();
        session
            .publish(
                "publish",
                Some(pidf(&entity, &format!("impv-{token}"), "open", &first)),
                EXPIRES,
                main_until,
            )
            .await?;
        session.subscribe(EXPIRES, main_until).await?;
        let call_id = session
            .subscription
            .as_ref()
            .map(|s| s.call_id.clone())
            .unwrap_or_default();
        let carries = |want: &str| {
            let want = want.to_string();
            move |m: &Message| read_pidf(&m.body).with_note(&want).is_some()
        };
        let Some((n, _)) = session
            .conn
            .notify(&call_id, main_until, carries(&first))
            .await
            .map_err(|e| fail(format!("waiting for the first NOTIFY: {e}"), "notify"))?
        else {
            return Err(fail(
                format!("no NOTIFY carrying the published state (note `{first}`) arrived"),
                "notify",
            ));
        };
        let t = read_pidf(&n.body)
            .with_note(&first)
            .cloned()
            .unwrap_or_default();
        session.note(
            "notify_state",
            format!("{} ({first})", t.basic.unwrap_or_default()),
        );
        session.note(
            "subscription_state",
            n.header("Subscription-State").unwrap_or("").to_string(),
        );
        let t0 = Instant::now();
        session
            .publish(
                "change",
                Some(pidf(&entity, &format!("impv-{token}"), "closed", &second)),
                EXPIRES,
                main_until,
            )
            .await?;
        let Some((n, at)) = session
            .conn
            .notify(&call_id, main_until, carries(&second))
            .await
            .map_err(|e| {
                fail(
                    format!("waiting for the NOTIFY of the change: {e}"),
                    "notify",
                )
            })?
        else {
            return Err(fail(
                format!("the watcher got no NOTIFY of the changed state (note `{second}`)"),
                "notify",
            ));
        };
        let propagation = ms(at.saturating_duration_since(t0));
        let t = read_pidf(&n.body)
            .with_note(&second)
            .cloned()
            .unwrap_or_default();
        session.note(
            "changed_state",
            format!("{} ({second})", t.basic.clone().unwrap_or_default()),
        );
        if t.basic.as_deref() != Some("closed") {
            return Err(fail(format!("the NOTIFY of the change carries basic status `{}`, not the published `closed`", t.basic.unwrap_or_default()), "notify"));
        }
        session.subscribe(0, main_until).await?;
        // The final NOTIFY (Subscription-State: terminated) is answered; waiting for it
        // is evidence, not a condition.
        let wait = (Instant::now() + Duration::from_millis(500)).min(main_until);
        let terminated = session
            .conn
            .notify(&call_id, wait, |m| {
                m.header("Subscription-State")
                    .is_some_and(|s| s.starts_with("terminated"))
            })
            .await;
        session.note(
            "final_notify",
            if matches!(terminated, Ok(Some(_))) {
                "Subscription-State: terminated"
            } else {
                "none within 500 ms"
            },
        );
        session.publish("remove", None, 0, main_until).await?;
        Ok::<f64, Failure>(propagation)
    };
    let result = within(steps, started, main_until, "notify").await;
    session.release(undo, until).await;
    let o = match result {
        Ok(propagation) => Outcome::pass(format!(
            "a watcher of {} on {host} sees the published phone state and its change ({propagation} ms after the PUBLISH)",
            session.presentity
        ))
        .metric("presence_propagation_ms", propagation),
        Err(f) => Outcome::fail(format!("{host}: {}", f.message), remediation(f.hint, task, host)),
    };
    evidence(o, &session, transport, host).with(
        "request_line",
        format!("SUBSCRIBE {} SIP/2.0", session.presentity),
    )
}

fn evidence(mut o: Outcome, s: &Session, transport: Transport, host: &str) -> Outcome {
    o = o
        .with("target", s.conn.peer)
        .with("transport", super::transport_name(transport))
        .with("node", host)
        .with("presentity", &s.presentity);
    for (k, v) in &s.evidence {
        o = o.with(k, v);
    }
    if !s.conn.passed_over.is_empty() {
        o = o.with("other_notifies", s.conn.passed_over.join("; "));
    }
    if !s.conn.strays.is_empty() {
        let more = match s.conn.strays_more {
            0 => String::new(),
            n => format!(", and {n} more"),
        };
        o = o.with(
            "stray_requests",
            format!("{}{more}", s.conn.strays.join(", ")),
        );
    }
    o
}
