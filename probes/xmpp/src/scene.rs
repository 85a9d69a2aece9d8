//! A check's scene: the sessions it logged in, the stage it is at, what it must undo on
//! the server, and its deadlines. The body of a check runs within [`Scene::deadline`];
//! whatever became of it (done, failed, out of time), [`Scene::end`] then undoes what
//! the check created (roster items, rooms) and ends every session, within the rest of
//! the check's time.

use crate::checks::login::failure_outcome;
use crate::connector::Endpoint;
use crate::login::{self, LoginFailure, LoginResult, Online};
use crate::session::{IqFailure, IqKind, Session};
use crate::{stanzas, Ctx};
use imp_verify_core::spec::TestUser;
use imp_verify_core::{CheckCtx, Cleanup, Outcome, Secret};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::stanza_error::DefinedCondition;

/// The part of a check's timeout its own work may use: the rest is for the teardown
/// and for the runner to hear the verdict before it stops waiting.
pub fn budget(cx: &CheckCtx) -> Duration {
    cx.budget()
}

/// Runs `fut` until `deadline`: `None` if it was not done by then.
pub async fn within<T>(deadline: Instant, fut: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout_at(deadline.into(), fut).await.ok()
}

/// Something a check created on the server, to be undone at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Session `by` removes `contact` from its roster (the subscriptions go with it).
    Unroster {
        /// The session (index in the scene).
        by: usize,
        /// The contact to remove.
        contact: BareJid,
    },
    /// Session `by` (the owner) destroys `room`.
    DestroyRoom {
        /// The owner's session (index in the scene).
        by: usize,
        /// The room.
        room: Jid,
    },
}

impl Undo {
    fn request(&self) -> (usize, Option<Jid>, Element) {
        match self {
            Undo::Unroster { by, contact } => (*by, None, stanzas::roster_remove(contact)),
            Undo::DestroyRoom { by, room } => (
                *by,
                Some(room.clone()),
                Element::builder("query", stanzas::NS_MUC_OWNER)
                    .append(Element::builder("destroy", stanzas::NS_MUC_OWNER).build())
                    .build(),
            ),
        }
    }
}

impl std::fmt::Display for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undo::Unroster { contact, .. } => write!(f, "the roster item {contact}"),
            Undo::DestroyRoom { room, .. } => write!(f, "the room {room}"),
        }
    }
}

/// What became of a check's body.
#[derive(Debug)]
pub enum Ended<T, S> {
    /// It finished.
    Done(T),
    /// It failed, with its verdict.
    Failed(Outcome),
    /// It ran out of time at `stage`.
    TimedOut {
        /// The step under way.
        stage: S,
        /// The body's time.
        budget: Duration,
        /// Presences the sessions passed over while waiting (evidence).
        seen: Vec<String>,
    },
}

/// The end of a scene: the body's fate, and what could not be undone.
pub struct Ending<T, S> {
    /// The body's fate.
    pub ended: Ended<T, S>,
    /// What the teardown could not undo on the server.
    pub not_undone: Vec<String>,
}

impl<T, S> Ending<T, S> {
    /// The check's verdict from `judge`, naming what was left on the server.
    pub fn judge(self, judge: impl FnOnce(Ended<T, S>) -> Outcome) -> Outcome {
        let o = judge(self.ended);
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
    net: crate::connector::Net,
    at: Endpoint,
    jid: BareJid,
    password: Secret,
}

impl Relogin {
    /// Logs in anew and sends `undo`'s request; nothing there to undo is fine.
    async fn undo(&self, undo: &Undo, deadline: Instant) -> Result<(), String> {
        let (_, to, payload) = undo.request();
        let mut session = match login::login(
            &self.net,
            &self.at,
            &self.jid,
            self.password.expose(),
            deadline,
        )
        .await
        {
            LoginResult::Online(o) => o.session,
            LoginResult::Failed(e) => return Err(format!("{undo}: cannot log in to undo it: {e}")),
        };
        let r = match tokio::time::timeout_at(deadline.into(), session.iq(to, IqKind::Set, payload))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(IqFailure::Error(e)))
                if e.defined_condition == DefinedCondition::ItemNotFound =>
            {
                Ok(())
            }
            Ok(Err(e)) => Err(format!("{undo}: {e}")),
            Err(_) => Err(format!("{undo}: no answer in time")),
        };
        session.close(Duration::from_millis(300)).await;
        r
    }
}

/// What the scene has yet to undo, shared with the run's cleanup.
type Pending = Arc<Mutex<Vec<(Undo, Relogin)>>>;

/// A check's sessions, stage, undo list and deadlines.
pub struct Scene<S> {
    budget: Duration,
    deadline: Instant,
    teardown_by: Instant,
    stage: S,
    sessions: Vec<Session>,
    /// How each session can log in again (same index as `sessions`).
    relogins: Vec<Relogin>,
    undo: Vec<Undo>,
    /// The undo list as the run's cleanup sees it, and its registration there.
    pending: Pending,
    cleanup: Cleanup,
    registered: Option<imp_verify_core::Undo>,
    /// Where the check records its logins (a refused one is never retried).
    auth: imp_verify_core::AuthLog,
    /// How the session being logged in can log in again, until [`Scene::keep`].
    next_relogin: Option<Relogin>,
}

impl<S: Copy> Scene<S> {
    /// A scene for a check called with `cx`, at stage `first`.
    pub fn new(cx: &CheckCtx, first: S) -> Self {
        let now = Instant::now();
        let budget = budget(cx);
        Scene {
            budget,
            deadline: now + budget,
            teardown_by: now + cx.timeout.mul_f32(0.95),
            stage: first,
            sessions: Vec::new(),
            relogins: Vec::new(),
            undo: Vec::new(),
            pending: Arc::default(),
            cleanup: cx.cleanup.clone(),
            auth: cx.auth.clone(),
            registered: None,
            next_relogin: None,
        }
    }

    /// When the body must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The body's whole time.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Names the step under way (for the verdict of a timeout).
    pub fn at(&mut self, stage: S) {
        self.stage = stage;
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

    /// Logs `jid` in at `at`, within `step` and the scene's deadline (the session is
    /// the scene's once [`Scene::keep`] has it).
    pub async fn login_at(
        &mut self,
        c: &Ctx,
        at: &Endpoint,
        jid: &BareJid,
        password: &str,
        step: Duration,
    ) -> Result<Online, LoginFailure> {
        let deadline = self.deadline.min(Instant::now() + step);
        let result = login::login(&c.net, at, jid, password, deadline).await;
        result.record(&self.auth, &jid.to_string());
        match result {
            LoginResult::Online(o) => {
                self.next_relogin = Some(Relogin {
                    net: c.net.clone(),
                    at: at.clone(),
                    jid: jid.clone(),
                    password: Secret::new(password),
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

    /// Logs test user `user` in on its node `node`, within `step`: its index, or the
    /// login's verdict.
    pub async fn login(
        &mut self,
        c: &Ctx,
        user: &TestUser,
        node: &str,
        step: Duration,
    ) -> Result<usize, Outcome> {
        let deadline = self.deadline.min(Instant::now() + step);
        let result = login::login_test_user(c, user, node, deadline).await;
        result.record(&self.auth, &c.spec.jid_of(user));
        match result {
            LoginResult::Online(online) => {
                let jid = online.session.bare();
                let at = c.net.node(&c.spec, node).await;
                self.next_relogin = at.ok().map(|at| Relogin {
                    net: c.net.clone(),
                    at,
                    jid,
                    password: user.password().clone(),
                });
                if self.next_relogin.is_none() {
                    // The endpoint resolved a moment ago; without it the session can
                    // still be used, its undos then only by the check itself.
                    self.next_relogin = Some(Relogin {
                        net: c.net.clone(),
                        at: Endpoint {
                            addr: ([0, 0, 0, 0], 0).into(),
                            domain: String::new(),
                        },
                        jid: online.session.bare(),
                        password: user.password().clone(),
                    });
                }
                Ok(self.keep(online))
            }
            LoginResult::Failed(e) => Err(failure_outcome(
                &c.spec.jid_of(user),
                node,
                &e,
                c.spec.workflow,
            )),
        }
    }

    /// Clears what `undo` would undo, left by an earlier (interrupted) run, before the
    /// check creates it again: nothing to clear (item-not-found) is fine.
    pub async fn clear(&mut self, undo: &Undo) -> Result<(), String> {
        let (by, to, payload) = undo.request();
        match self.sessions[by].iq(to, IqKind::Set, payload).await {
            Ok(_) => Ok(()),
            Err(IqFailure::Error(e)) if e.defined_condition == DefinedCondition::ItemNotFound => {
                Ok(())
            }
            Err(e) => Err(format!("{undo}: {e}")),
        }
    }

    /// Registers `undo`, to be done at the end whatever happens: by the scene's own
    /// teardown, or, if the check is cut off before it, by the run's cleanup (which
    /// logs in anew).
    pub fn will_undo(&mut self, undo: Undo) {
        if !self.undo.contains(&undo) {
            let by = match &undo {
                Undo::Unroster { by, .. } | Undo::DestroyRoom { by, .. } => *by,
            };
            if let Some(relogin) = self.relogins.get(by) {
                self.pending
                    .lock()
                    .expect("not poisoned")
                    .push((undo.clone(), relogin.clone()));
            }
            self.undo.push(undo);
            if self.registered.is_none() {
                let pending = self.pending.clone();
                self.registered = Some(self.cleanup.register(
                    "the roster items and rooms of this check",
                    move |deadline| async move {
                        let items = std::mem::take(&mut *pending.lock().expect("not poisoned"));
                        let deadline = deadline
                            .into_std()
                            .min(Instant::now() + Duration::from_secs(4));
                        let mut failed = Vec::new();
                        for (undo, relogin) in items.iter().rev() {
                            if let Err(e) = relogin.undo(undo, deadline).await {
                                failed.push(e);
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
    }

    /// Takes `undo` off the list the run's cleanup would do.
    fn done(&mut self, undo: &Undo) {
        self.pending
            .lock()
            .expect("not poisoned")
            .retain(|(u, _)| u != undo);
    }

    /// Does `undo` now (the check's own last step), waiting for the server's answer; it
    /// leaves the list only when done.
    pub async fn undo_now(&mut self, undo: &Undo) -> Result<(), String> {
        let (by, to, payload) = undo.request();
        self.sessions[by]
            .iq(to, IqKind::Set, payload)
            .await
            .map_err(|e| e.to_string())?;
        self.undo.retain(|u| u != undo);
        self.done(undo);
        Ok(())
    }

    /// Undoes what is registered (last first), ends every session, and tells what
    /// became of the body (`r`: `None` when it ran out of time).
    pub async fn end<T>(mut self, r: Option<Result<T, Outcome>>) -> Ending<T, S> {
        let mut not_undone = Vec::new();
        while let Some(undo) = self.undo.last().cloned() {
            let left = self.teardown_by.saturating_duration_since(Instant::now());
            // Nothing there (item-not-found: the request never reached the contact, or
            // the room went) is undone as well.
            let done =
                tokio::time::timeout(left.max(Duration::from_millis(200)), self.clear(&undo)).await;
            self.undo.pop();
            // What fails here and the run's cleanup can redo (it logs in anew) is left
            // to it: it reports what it could not undo either.
            let redo = self
                .pending
                .lock()
                .expect("not poisoned")
                .iter()
                .any(|(u, _)| *u == undo);
            match done {
                Ok(Ok(())) => self.done(&undo),
                Ok(Err(_)) | Err(_) if redo => {}
                Ok(Err(e)) => not_undone.push(e),
                Err(_) => not_undone.push(format!("{undo}: no answer in time")),
            }
        }
        let seen: Vec<String> = self
            .sessions
            .iter()
            .flat_map(|s| s.passed_over().iter().cloned())
            .collect();
        let wait = self
            .teardown_by
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        futures::future::join_all(self.sessions.into_iter().map(|s| s.close(wait))).await;
        // Everything undone here need not be undone by the run's cleanup; what is left
        // (the check's own teardown failed) the runner tries again with fresh logins.
        if let Some(handle) = self.registered.take() {
            if self.pending.lock().expect("not poisoned").is_empty() {
                handle.forget();
            }
        }
        let ended = match r {
            Some(Ok(t)) => Ended::Done(t),
            Some(Err(o)) => Ended::Failed(o),
            None => Ended::TimedOut {
                stage: self.stage,
                budget: self.budget,
                seen,
            },
        };
        Ending { ended, not_undone }
    }
}
