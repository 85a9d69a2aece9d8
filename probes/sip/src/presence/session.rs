//! One presentity's publication (and a watcher's subscription) on one connection: the
//! PUBLISH and SUBSCRIBE transactions of the presence checks, each recording its status
//! line as evidence and failing with a typed [`Failure`].

use super::EXPIRES;
use crate::conn::{Conn, Deadline, Request};
use crate::error::{MessageError, SipError};
use crate::message::{Message, SipResponse};
use imp_verify_core::text::peer_text;

/// Why a step of a presence exchange failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The exchange itself failed (no answer, the connection closed...).
    Exchange { step: &'static str, error: SipError },
    /// The node answered the request with a final response that is not 2xx.
    Answered {
        step: &'static str,
        method: &'static str,
        request_line: String,
        response: SipResponse,
    },
    /// A 2xx to PUBLISH without the SIP-ETag RFC 3903 requires.
    NoEtag { step: &'static str },
    /// The watcher did not see what it waited for (the words say what).
    Notify(String),
}

/// The subscription's dialog while it exists.
struct Subscription {
    call_id: String,
    from_tag: String,
    to_tag: String,
    cseq: u32,
}

/// The state of one presentity's publication on a connection.
pub(crate) struct Session {
    pub conn: Conn,
    pub presentity: String,
    domain: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    etag: Option<String>,
    subscription: Option<Subscription>,
    /// What was seen, in order.
    pub evidence: Vec<(String, String)>,
}

impl Session {
    /// A session for `presentity@domain` on `conn`.
    pub fn new(mut conn: Conn, presentity: &str, domain: &str) -> Session {
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

    /// Records a piece of evidence.
    pub fn note(&mut self, key: &str, value: impl Into<String>) {
        self.evidence.push((key.to_string(), value.into()));
    }

    /// Whether the session holds neither a publication nor a subscription.
    pub fn holds_nothing(&self) -> bool {
        self.etag.is_none() && self.subscription.is_none()
    }

    /// The subscription's Call-ID, while it exists.
    pub fn subscription_call_id(&self) -> Option<String> {
        self.subscription.as_ref().map(|s| s.call_id.clone())
    }

    /// The final response to `req`, recorded as `{step}_status`; a non-2xx fails.
    async fn exchange(
        &mut self,
        step: &'static str,
        req: &Request,
        deadline: Deadline,
    ) -> Result<Message, Failure> {
        let (m, _) = self
            .conn
            .transact(req, deadline)
            .await
            .map_err(|e| Failure::Exchange {
                step,
                error: e.into(),
            })?;
        self.note(&format!("{step}_status"), peer_text(m.first_line()));
        let response = SipResponse::of(&m).ok_or_else(|| Failure::Exchange {
            step,
            error: crate::error::ConnError::Malformed(MessageError::NotAResponse(peer_text(
                m.first_line(),
            )))
            .into(),
        })?;
        if !(200..300).contains(&response.code) {
            return Err(Failure::Answered {
                step,
                method: req.method,
                request_line: req.line(),
                response,
            });
        }
        Ok(m)
    }

    /// One PUBLISH: a new state (`body`), a refresh (`None`), or a removal (`expires` 0).
    /// Records the new entity tag of a 2xx.
    pub async fn publish(
        &mut self,
        step: &'static str,
        body: Option<String>,
        expires: u32,
        deadline: Deadline,
    ) -> Result<(), Failure> {
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
        let m = self.exchange(step, &req, deadline).await?;
        if expires == 0 {
            self.etag = None;
            return Ok(());
        }
        match m.header("SIP-ETag") {
            Some(etag) if !etag.is_empty() => {
                self.note(&format!("{step}_sip_etag"), peer_text(etag));
                self.etag = Some(etag.to_string());
                Ok(())
            }
            _ => Err(Failure::NoEtag { step }),
        }
    }

    /// SUBSCRIBE (or, with `expires` 0 inside the subscription, unsubscribe).
    pub async fn subscribe(&mut self, expires: u32, deadline: Deadline) -> Result<(), Failure> {
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
        let m = self.exchange(step, &req, deadline).await?;
        if expires == 0 {
            self.subscription = None;
        } else if self.subscription.is_none() {
            self.subscription = Some(Subscription {
                call_id,
                from_tag,
                to_tag: m.to_tag().unwrap_or("").to_string(),
                cseq,
            });
        }
        Ok(())
    }

    /// Removes what the session still holds, by `deadline`: the undo the runner runs
    /// when a check ended before it removed its state itself. `Err` says what is left.
    pub async fn clean_up(&mut self, deadline: Deadline) -> Result<(), Leftover> {
        if self.subscription.is_some() {
            let _ = self.subscribe(0, deadline).await;
        }
        if self.etag.is_some() {
            let _ = self.publish("remove", None, 0, deadline).await;
        }
        match (self.subscription.is_some(), self.etag.is_some()) {
            (false, false) => Ok(()),
            (subscription, publication) => Err(Leftover {
                subscription,
                publication,
            }),
        }
    }
}

/// What a session's cleanup could not remove (it expires on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node did not confirm the removal of {}; it expires within {EXPIRES} s",
    match (.subscription, .publication) {
        (true, true) => "the subscription and the publication",
        (true, false) => "the subscription",
        _ => "the publication",
    }
)]
pub(crate) struct Leftover {
    pub subscription: bool,
    pub publication: bool,
}
