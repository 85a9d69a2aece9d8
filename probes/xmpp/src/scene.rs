//! A check's scene: the sessions it logged in, the step it is at, what it created on
//! the server, and its deadline (the check's budget). The body of a check runs until
//! [`Scene::deadline`]; whatever became of it (done, failed, out of time),
//! [`Scene::end`] then removes what the check created (roster items, rooms) and ends
//! every session, with what is left of that time. What it cannot remove in time stays
//! registered with the run's cleanup, which logs in anew to remove it, by the deadline
//! the runner gives it.

use crate::checks::login::failure_outcome;
use crate::connector::ClientEndpoint;
use crate::login::{self, Accounting, Credential, LoginFailure, LoginResult, Online};
use crate::session::{IqFailure, IqKind, Session};
use crate::wire::stream::Steps;
use crate::{stanzas, XmppCtx};
use imp_verify_core::spec::{Spec, TestUser};
use imp_verify_core::{
    CheckCtx, CheckKey, Cleanup, Outcome, Principal, Reason, Secret, Stage, StageCell,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::stanza_error::DefinedCondition;

/// Runs `fut` until `deadline`: `None` if it was not done by then.
pub async fn by_deadline<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::time::timeout_at(deadline.into(), fut).await.ok()
}

/// Something a check created on the server, to be removed at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Session `by` has `contact` on its roster (the subscriptions go with it).
    RosterItem {
        /// The session (index in the scene).
        by: usize,
        /// The contact.
        contact: BareJid,
    },
    /// Session `by` (the owner) made `room`.
    Room {
        /// The owner's session (index in the scene).
        by: usize,
        /// The room.
        room: Jid,
    },
}

impl Created {
    /// The session that removes it, the IQ's addressee and its payload.
    fn removal(&self) -> (usize, Option<Jid>, Element) {
        match self {
            Created::RosterItem { by, contact } => (*by, None, stanzas::roster_remove(contact)),
            Created::Room { by, room } => (
                *by,
                Some(room.clone()),
                Element::builder("query", stanzas::NS_MUC_OWNER)
                    .append(Element::builder("destroy", stanzas::NS_MUC_OWNER).build())
                    .build(),
            ),
        }
    }
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Created::RosterItem { contact, .. } => write!(f, "the roster item {contact}"),
            Created::Room { room, .. } => write!(f, "the room {room}"),
        }
    }
}

/// Why something a check created could not be removed (its words: "the room x: ...").
#[derive(Debug)]
pub enum RemovalError {
    /// The new login, to remove it after the check, failed.
    Login(Created, LoginFailure),
    /// The server refused the removal.
    Refused(Created, IqFailure),
    /// The server did not answer in time.
    NoAnswer(Created),
}

impl std::fmt::Display for RemovalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemovalError::Login(what, e) => write!(f, "{what}: cannot log in to remove it: {e}"),
            RemovalError::Refused(what, e) => write!(f, "{what}: {e}"),
            RemovalError::NoAnswer(what) => write!(f, "{what}: no answer in time"),
        }
    }
}

impl std::error::Error for RemovalError {}

/// What became of a check's body.
#[derive(Debug)]
pub enum Ended<T, S> {
    /// It finished.
    Done(T),
    /// It failed, with its verdict.
    Failed(Outcome),
    /// It ran out of time at `stage`.
    TimedOut {
        /// The check's step under way.
        stage: S,
        /// The body's time.
        budget: Duration,
        /// Presences the sessions passed over while waiting (evidence).
        seen: Vec<String>,
    },
}

/// The end of a scene: the body's fate, what could not be removed, and the exchange's
/// step when the time ran out.
pub struct Ending<T, S> {
    /// The body's fate.
    pub ended: Ended<T, S>,
    /// What the teardown could not remove from the server.
    pub not_undone: Vec<String>,
    /// The step of the exchange (TCP, SASL, a stanza...) when the time ran out.
    timed_out: Option<(Duration, Option<Stage>)>,
    /// Evidence the body noted.
    notes: Vec<(String, String)>,
}

impl<T, S> Ending<T, S> {
    /// The check's verdict from `judge`, naming what was left on the server; a body
    /// that ran out of time gives a timed-out reason with the step it was in.
    pub fn judge(self, judge: impl FnOnce(Ended<T, S>) -> Outcome) -> Outcome {
        let mut o = judge(self.ended);
        if let Some((after, stage)) = self.timed_out {
            o = o.because(Reason::TimedOut { after, stage });
        }
        for (k, v) in self.notes {
            o = o.with(k, v);
        }
        if self.not_undone.is_empty() {
            o
        } else {
            o.with("not_undone", self.not_undone.join("; "))
        }
    }
}

/// The evidence value of passed-over presences.
pub fn seen_evidence(seen: &[String]) -> String {
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join("; ")
    }
}

/// How to log a scene's session in again, from scratch: what the run's cleanup needs
/// when the check was cut off (an interrupt, the deadline) before its own teardown.
#[derive(Clone)]
struct Relogin {
    ctx: Arc<Relog>,
    at: ClientEndpoint,
    jid: BareJid,
    password: Secret,
    principal: Principal,
}

/// What every relogin of a scene shares.
struct Relog {
    connector: crate::connector::Connector,
    spec: Arc<Spec>,
    acct: Accounting,
}

impl Relogin {
    /// Logs in anew and removes `what`; nothing there to remove is fine.
    async fn remove(&self, what: &Created, deadline: Instant) -> Result<(), RemovalError> {
        let (_, to, payload) = what.removal();
        let steps = Steps::new(deadline, StageCell::default());
        let who = Credential {
            jid: self.jid.clone(),
            password: &self.password,
            principal: self.principal.clone(),
        };
        let c = &self.ctx;
        let mut session = match Box::pin(login::login(
            &c.connector,
            &c.spec,
            &self.at,
            &who,
            &c.acct,
            &steps,
        ))
        .await
        {
            LoginResult::Online(o) => o.session,
            LoginResult::Failed(e) => return Err(RemovalError::Login(what.clone(), e)),
        };
        let r = match by_deadline(deadline, session.iq(to, IqKind::Set, payload)).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(IqFailure::Error(e)))
                if e.defined_condition == DefinedCondition::ItemNotFound =>
            {
                Ok(())
            }
            Some(Err(e)) => Err(RemovalError::Refused(what.clone(), e)),
            None => Err(RemovalError::NoAnswer(what.clone())),
        };
        session.close(deadline).await;
        r
    }
}

/// What the scene has yet to remove, shared with the run's cleanup.
type Pending = Arc<Mutex<Vec<(Created, Relogin)>>>;

/// A check's sessions, step, what it created and its deadline.
pub struct Scene<S> {
    steps: Steps,
    stage: S,
    sessions: Vec<Session>,
    /// How each session can log in again (same index as `sessions`).
    relogins: Vec<Relogin>,
    created: Vec<Created>,
    /// What is created as the run's cleanup sees it, and its registration there.
    pending: Pending,
    cleanup: Cleanup,
    registered: Option<imp_verify_core::Undo>,
    relog: Arc<Relog>,
    /// How the session being logged in can log in again, until [`Scene::keep`].
    next_relogin: Option<Relogin>,
    notes: Vec<(String, String)>,
}

impl<S: Copy> Scene<S> {
    /// A scene for check `key` of `c`, called with `cx`, at step `first`.
    pub fn new(c: &XmppCtx, cx: &CheckCtx, key: &CheckKey, first: S) -> Self {
        Scene {
            steps: Steps::of_check(cx),
            stage: first,
            sessions: Vec::new(),
            relogins: Vec::new(),
            created: Vec::new(),
            pending: Arc::default(),
            cleanup: cx.cleanup.clone(),
            registered: None,
            relog: Arc::new(Relog {
                connector: c.connector.clone(),
                spec: c.spec.clone(),
                acct: Accounting::of(cx, key),
            }),
            next_relogin: None,
            notes: Vec::new(),
        }
    }

    /// When the body must be done.
    pub fn deadline(&self) -> Instant {
        self.steps.deadline()
    }

    /// The body's whole time.
    pub fn budget(&self) -> Duration {
        self.steps.budget()
    }

    /// The steps of the scene's exchanges.
    pub fn steps(&self) -> &Steps {
        &self.steps
    }

    /// Names the check's step under way (for the verdict of a timeout): from here the
    /// exchange waits for stanzas.
    pub fn at(&mut self, stage: S) {
        self.stage = stage;
        self.steps.enter(Stage::Stanza);
    }

    /// Adds evidence to the verdict, whatever it is.
    pub fn note(&mut self, key: &str, value: impl Into<String>) {
        self.notes.push((key.to_string(), value.into()));
    }

    /// Session `i` (in login order).
    pub fn session(&mut self, i: usize) -> &mut Session {
        &mut self.sessions[i]
    }

    /// Sessions `i` and `j` at once (`i != j`).
    pub fn two(&mut self, i: usize, j: usize) -> (&mut Session, &mut Session) {
        assert_ne!(i, j, "two different sessions");
        let (lo, hi) = (i.min(j), i.max(j));
        let (a, b) = self.sessions.split_at_mut(hi);
        let (x, y) = (&mut a[lo], &mut b[0]);
        if i < j {
            (x, y)
        } else {
            (y, x)
        }
    }

    /// Logs `who` in at `at`, by the scene's deadline (the session is the scene's once
    /// [`Scene::keep`] has it).
    pub async fn login_at(
        &mut self,
        at: &ClientEndpoint,
        who: &Credential<'_>,
    ) -> Result<Online, LoginFailure> {
        let r = &self.relog;
        let login = Box::pin(login::login(
            &r.connector,
            &r.spec,
            at,
            who,
            &r.acct,
            &self.steps,
        ));
        match login.await {
            LoginResult::Online(o) => {
                self.next_relogin = Some(Relogin {
                    ctx: self.relog.clone(),
                    at: at.clone(),
                    jid: who.jid.clone(),
                    password: who.password.clone(),
                    principal: who.principal.clone(),
                });
                Ok(o)
            }
            LoginResult::Failed(e) => Err(e),
        }
    }

    /// Adds a session online (from [`Scene::login_at`]): its index.
    pub fn keep(&mut self, online: Online) -> usize {
        let relogin = self
            .next_relogin
            .take()
            .expect("a session kept comes from a login of the scene");
        self.sessions.push(online.session);
        self.relogins.push(relogin);
        self.sessions.len() - 1
    }

    /// Logs test user `user` in on node `node`: its index, or the login's verdict.
    pub async fn login(
        &mut self,
        c: &XmppCtx,
        user: &TestUser,
        node: &str,
    ) -> Result<usize, Outcome> {
        let fail =
            |e: &LoginFailure| failure_outcome(&c.spec.jid_of(user), node, e, c.spec.workflow);
        let who = login::test_user_credential(&c.spec, user).map_err(|e| fail(&e))?;
        let at = c
            .connector
            .node(
                &c.spec,
                node,
                imp_verify_core::spec::Service::XmppC2s,
                &self.steps,
            )
            .await
            .map_err(|e| fail(&LoginFailure::Connect(e)))?;
        match self.login_at(&at, &who).await {
            Ok(online) => Ok(self.keep(online)),
            Err(e) => Err(fail(&e)),
        }
    }

    /// Removes what `what` names, left by an earlier (interrupted) run, before the
    /// check creates it again: nothing there (item-not-found) is fine.
    pub async fn clear(&mut self, what: &Created) -> Result<(), RemovalError> {
        let (by, to, payload) = what.removal();
        match self.sessions[by].iq(to, IqKind::Set, payload).await {
            Ok(_) => Ok(()),
            Err(IqFailure::Error(e)) if e.defined_condition == DefinedCondition::ItemNotFound => {
                Ok(())
            }
            Err(e) => Err(RemovalError::Refused(what.clone(), e)),
        }
    }

    /// Registers `what` for removal at the end whatever happens: by the scene's own
    /// teardown, or, if the check is cut off before it, by the run's cleanup (which
    /// logs in anew).
    pub fn will_remove(&mut self, what: Created) {
        if self.created.contains(&what) {
            return;
        }
        let by = match &what {
            Created::RosterItem { by, .. } | Created::Room { by, .. } => *by,
        };
        if let Some(relogin) = self.relogins.get(by) {
            self.pending
                .lock()
                .expect("not poisoned")
                .push((what.clone(), relogin.clone()));
        }
        self.created.push(what);
        if self.registered.is_none() {
            let pending = self.pending.clone();
            self.registered = Some(self.cleanup.register(
                "the roster items and rooms of this check",
                move |deadline| async move {
                    let items = std::mem::take(&mut *pending.lock().expect("not poisoned"));
                    let deadline = deadline.into_std();
                    let mut failed = Vec::new();
                    for (what, relogin) in items.iter().rev() {
                        if let Err(e) = relogin.remove(what, deadline).await {
                            failed.push(e.to_string());
                        }
                    }
                    if failed.is_empty() {
                        Ok(())
                    } else {
                        Err(failed.join("; "))
                    }
                },
            ));
        }
    }

    /// Takes `what` off the list the run's cleanup would remove.
    fn done(&mut self, what: &Created) {
        self.pending
            .lock()
            .expect("not poisoned")
            .retain(|(u, _)| u != what);
    }

    /// Removes `what` now (the check's own last step), waiting for the server's
    /// answer; it leaves the list only when removed.
    pub async fn remove_now(&mut self, what: &Created) -> Result<(), IqFailure> {
        let (by, to, payload) = what.removal();
        self.sessions[by].iq(to, IqKind::Set, payload).await?;
        self.created.retain(|u| u != what);
        self.done(what);
        Ok(())
    }

    /// Removes what is registered (last first), ends every session, and tells what
    /// became of the body (`r`: `None` when it ran out of time).
    pub async fn end<T>(mut self, r: Option<Result<T, Outcome>>) -> Ending<T, S> {
        let stalled = self.steps.stage();
        let deadline = self.steps.deadline();
        let mut not_undone = Vec::new();
        while let Some(what) = self.created.last().cloned() {
            // Nothing there (item-not-found: the request never reached the contact, or
            // the room went) is removed as well.
            let removed = by_deadline(deadline, self.clear(&what)).await;
            self.created.pop();
            // What fails here and the run's cleanup can redo (it logs in anew) is left
            // to it: it reports what it could not remove either.
            let redo = self
                .pending
                .lock()
                .expect("not poisoned")
                .iter()
                .any(|(u, _)| *u == what);
            match removed {
                Some(Ok(())) => self.done(&what),
                Some(Err(_)) | None if redo => {}
                Some(Err(e)) => not_undone.push(e.to_string()),
                None => not_undone.push(RemovalError::NoAnswer(what).to_string()),
            }
        }
        let seen: Vec<String> = self
            .sessions
            .iter()
            .flat_map(|s| s.passed_over().iter().cloned())
            .collect();
        futures::future::join_all(self.sessions.into_iter().map(|s| s.close(deadline))).await;
        // Everything removed here need not be removed by the run's cleanup; what is
        // left (the check's own teardown failed) the runner tries again with fresh
        // logins.
        if let Some(handle) = self.registered.take() {
            if self.pending.lock().expect("not poisoned").is_empty() {
                handle.forget();
            }
        }
        let budget = self.steps.budget();
        let (ended, timed_out) = match r {
            Some(Ok(t)) => (Ended::Done(t), None),
            Some(Err(o)) => (Ended::Failed(o), None),
            None => (
                Ended::TimedOut {
                    stage: self.stage,
                    budget,
                    seen,
                },
                Some((budget, stalled)),
            ),
        };
        Ending {
            ended,
            not_undone,
            timed_out,
            notes: self.notes,
        }
    }
}
