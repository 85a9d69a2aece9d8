//! The probe's context ([`LdapCtx`]: the spec, the resolver, the strict TLS
//! configuration, the limits and the run's room for large messages) and a session with
//! one directory server ([`Session`]): opened through the client, every step entering
//! its stage, every wait before the check's deadline; and the service account's bind,
//! asked of the run's credential ledger first (at most one refusal per run).

use crate::client::{self, search::Search, Conn, Limits, Pool, WireError};
use crate::codes::Refusal;
use crate::directory::Directory;
use crate::error::LdapError;
use crate::wire::message::{Control, Request, SearchRequest};
use crate::wire::{Filter, FilterError, LdapResult, Op};
use imp_verify_core::catalog::{first_label, Task};
use imp_verify_core::credentials::{self, CredentialUse, Credentials, Principal};
use imp_verify_core::spec::{LdapServer, LdapSpec, Spec, Workflow};
use imp_verify_core::{AuthLog, CheckCtx, CheckKey, Outcome, PerAttempt, Stage, StageCell};
use imp_verify_net::{Net, Resolver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The labels of the LDAP tasks in `w`: (secure the LDAP connection, integrate the
/// directory clients incl. LDAP user authentication).
pub(crate) fn task_labels(w: Workflow) -> (&'static str, &'static str) {
    (
        first_label(w, &[Task::SecureLdap, Task::LdapForJabber]),
        first_label(w, &[Task::LdapClients, Task::LdapForJabber]),
    )
}

/// The largest message accepted by default: far above any entry the probe asks for (a
/// few mapped attributes), and above whole entries with photos and certificates.
pub const DEFAULT_MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

/// Why no certificate can be verified (the spec's CA bundle, in the net crate's words).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NoTrust(pub String);

/// The probe's context: what every check of one run shares.
pub(crate) struct LdapCtx {
    pub spec: Arc<Spec>,
    resolver: Arc<Resolver>,
    tls: Result<Arc<rustls::ClientConfig>, NoTrust>,
    pub trust: String,
    pub limits: Limits,
    pub pool: Pool,
    /// The spec's user filter, parsed once.
    pub user_filter: Result<Filter, FilterError>,
    /// The directory read, once per attempt, shared by base, sync and mapping.
    pub directory: PerAttempt<Result<Arc<Directory>, Outcome>>,
    /// Whether each server's service account bound, as its `ldap.bind` last said: the
    /// content checks read through the first that did (CUCM's failover).
    bound: std::sync::Mutex<Vec<Option<bool>>>,
}

pub(crate) fn ldap_spec(spec: &Spec) -> &LdapSpec {
    spec.ldap
        .as_ref()
        .expect("the ldap probe plans only when the spec has [ldap]")
}

/// What a check's steps run with: where it says which step it is in, its deadline,
/// where its authentications are recorded, the run's credential ledger, and the name
/// the ledger gives a refusal it meets (the check's key).
#[derive(Clone)]
pub(crate) struct Steps {
    cell: StageCell,
    budget: Duration,
    pub deadline: tokio::time::Instant,
    pub auth: AuthLog,
    pub credentials: Credentials,
    pub by: String,
}

impl Steps {
    /// The steps of the check `cx`, keyed `key`.
    pub fn of(cx: &CheckCtx, key: &CheckKey) -> Steps {
        Steps {
            cell: cx.stage.clone(),
            budget: cx.budget(),
            deadline: cx.budget_deadline().into(),
            auth: cx.auth.clone(),
            credentials: cx.credentials.clone(),
            by: key.to_string(),
        }
    }

    /// Steps that have `budget` from now, for a look-up another probe's check asks for
    /// (`by` names it).
    pub fn within(
        budget: Duration,
        auth: &AuthLog,
        credentials: &Credentials,
        by: String,
    ) -> Steps {
        Steps {
            cell: StageCell::default(),
            budget,
            deadline: tokio::time::Instant::now() + budget,
            auth: auth.clone(),
            credentials: credentials.clone(),
            by,
        }
    }

    /// Records that the check enters `stage`.
    pub fn enter(&self, stage: Stage) {
        self.cell.set(stage);
    }

    /// The time a server may spend on a search, in whole seconds (at least 1).
    pub fn budget_secs(&self) -> i32 {
        i32::try_from(self.budget.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// A session error, a timeout named with the stage under way.
    pub fn wire(&self, e: WireError) -> LdapError {
        match e {
            WireError::TimedOut => LdapError::TimedOut {
                stage: self.cell.get().unwrap_or(Stage::LdapOperation),
                after: self.budget,
            },
            e => LdapError::Wire(e),
        }
    }

    /// The time-out of a wait of the probe's own (the ledger) in `stage`.
    pub fn timed_out(&self, stage: Stage) -> LdapError {
        LdapError::TimedOut {
            stage,
            after: self.budget,
        }
    }
}

/// A session with one server.
pub(crate) struct Session {
    pub conn: Conn,
    pub steps: Steps,
}

/// A bind's answer.
#[derive(Debug)]
pub(crate) struct BindAnswer {
    pub result: LdapResult,
    pub controls: Vec<Control>,
    pub took: Duration,
}

impl Session {
    /// A simple bind as `dn` with `password`, with `controls`.
    pub async fn bind(
        &mut self,
        dn: &str,
        password: &str,
        controls: &[Control],
    ) -> Result<BindAnswer, LdapError> {
        self.steps.enter(Stage::LdapBind);
        let started = Instant::now();
        let request = Request::SimpleBind {
            dn,
            password: password.as_bytes(),
        };
        let id = self
            .conn
            .send(&request, controls)
            .await
            .map_err(|e| self.steps.wire(e))?;
        let m = self.conn.answer(id).await.map_err(|e| self.steps.wire(e))?;
        match m.op {
            Op::Bind(result) => Ok(BindAnswer {
                result,
                controls: m.controls,
                took: started.elapsed(),
            }),
            _ => Err(LdapError::Wire(WireError::Unexpected)),
        }
    }

    /// Starts a search taking at most `max` entries and references.
    pub async fn search(
        &mut self,
        request: SearchRequest<'_>,
        controls: &[Control],
        max: u64,
    ) -> Result<Search<'_>, LdapError> {
        self.steps.enter(Stage::LdapSearch);
        let steps = self.steps.clone();
        self.conn
            .search(request, controls, max)
            .await
            .map_err(|e| steps.wire(e))
    }

    /// A modify adding `value` to `attr` of `dn`, and the server's result.
    pub async fn modify_add(
        &mut self,
        dn: &str,
        attr: &str,
        value: &str,
    ) -> Result<LdapResult, LdapError> {
        self.steps.enter(Stage::LdapOperation);
        let id = self
            .conn
            .send(&Request::ModifyAdd { dn, attr, value }, &[])
            .await
            .map_err(|e| self.steps.wire(e))?;
        let m = self.conn.answer(id).await.map_err(|e| self.steps.wire(e))?;
        match m.op {
            Op::Modify(r) => Ok(r),
            _ => Err(LdapError::Wire(WireError::Unexpected)),
        }
    }

    /// Ends the session politely.
    pub async fn close(self) {
        self.conn.close().await;
    }
}

/// What the service account's bind showed.
pub(crate) enum ServiceBind {
    /// Bound: the session, and the bind's time.
    Bound(Session, Duration),
    /// The server refused the bind.
    Refused(Refusal),
    /// Not sent: the server refused the account's password earlier in the run.
    NotSent(credentials::Refusal),
}

impl LdapCtx {
    /// The context of `spec`'s run, with the run's network toolkit.
    pub fn new(spec: &Arc<Spec>, net: &Net) -> LdapCtx {
        let s = ldap_spec(spec);
        let limits = Limits::new(s.max_message_bytes.unwrap_or(DEFAULT_MESSAGE_LIMIT));
        LdapCtx {
            spec: spec.clone(),
            resolver: net.resolver.clone(),
            tls: net
                .tls
                .strict_client_config()
                .map(Arc::new)
                .map_err(NoTrust),
            trust: net.tls.trust_source.clone(),
            limits,
            pool: Pool::new(4 * limits.message, limits.message),
            user_filter: Filter::parse(&s.user_filter),
            directory: Default::default(),
            bound: std::sync::Mutex::new(vec![None; s.servers.len()]),
        }
    }

    pub fn ldap(&self) -> &LdapSpec {
        ldap_spec(&self.spec)
    }

    /// The spec's resolver.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Records what server `i`'s `ldap.bind` found.
    pub fn set_bound(&self, i: usize, bound: bool) {
        self.bound.lock().expect("not poisoned")[i] = Some(bound);
    }

    /// The server the content checks read through: the first, in the spec's order,
    /// whose service account bound (the first server when no bind was checked).
    pub fn serving_index(&self) -> usize {
        let bound = self.bound.lock().expect("not poisoned");
        bound.iter().position(|b| *b == Some(true)).unwrap_or(0)
    }

    /// [`LdapCtx::serving_index`]'s server.
    pub fn serving(&self) -> &LdapServer {
        &self.ldap().servers[self.serving_index()]
    }

    /// `o` saying which server served it, when it was not the spec's first (the first
    /// did not bind).
    pub fn served(&self, o: Outcome) -> Outcome {
        let i = self.serving_index();
        let url = &self.ldap().servers[i].url;
        if i == 0 {
            return o;
        }
        let message = format!(
            "{} (through {url}, the first directory server whose service account binds)",
            o.message
        );
        Outcome { message, ..o }.with("served_by", url)
    }

    /// A session with `server`, secured as the spec says.
    pub async fn open(&self, server: &LdapServer, steps: &Steps) -> Result<Session, LdapError> {
        let cell = steps.clone();
        let stage = move |s: Stage| cell.enter(s);
        let with = client::open::OpenWith {
            resolver: &self.resolver,
            tls: &self.tls,
            limits: self.limits,
            pool: &self.pool,
            stage: &stage,
        };
        let conn = client::open(server, with, steps.deadline)
            .await
            .map_err(|e| LdapError::open(e, steps.budget))?;
        Ok(Session {
            conn,
            steps: steps.clone(),
        })
    }

    /// Binds as the service account on `server`, unless the run's ledger says its
    /// password was refused already; the bind is recorded in the check's
    /// authentications (a directory authentication of the account) and its verdict in
    /// the ledger.
    pub async fn bind_service(
        &self,
        server: &LdapServer,
        steps: &Steps,
    ) -> Result<ServiceBind, LdapError> {
        let s = self.ldap();
        let mut session = self.open(server, steps).await?;
        steps.enter(Stage::LdapBind);
        let principal = Principal::service(&s.bind_dn);
        let guard =
            match tokio::time::timeout_at(steps.deadline, steps.credentials.acquire(&principal))
                .await
                .map_err(|_| steps.timed_out(Stage::LdapBind))?
            {
                CredentialUse::Send(g) => g,
                CredentialUse::Refused(r) => {
                    session.close().await;
                    return Ok(ServiceBind::NotSent(r));
                }
            };
        let answer = session.bind(&s.bind_dn, s.password().expose(), &[]).await?;
        let refusal = Refusal::of(&answer.result);
        let refused = refusal.as_ref().is_some_and(Refusal::refuses_credentials);
        steps
            .auth
            .record_on_directory(&principal, &s.bind_dn, refused);
        match refusal {
            None => {
                guard.accepted();
                Ok(ServiceBind::Bound(session, answer.took))
            }
            Some(r) => {
                if refused {
                    let locked = crate::policy::is_lockout(&r, &Default::default());
                    guard.refused(r.for_ledger(&steps.by, &s.bind_dn, &server.url, locked));
                }
                session.close().await;
                Ok(ServiceBind::Refused(r))
            }
        }
    }

    /// A session bound as the service account, or the failed outcome that says why
    /// there is none (for the checks that read the directory through it).
    pub async fn bound(&self, server: &LdapServer, steps: &Steps) -> Result<Session, Outcome> {
        let (secure, _) = task_labels(self.spec.workflow);
        let s = self.ldap();
        match self.bind_service(server, steps).await {
            Ok(ServiceBind::Bound(session, _)) => Ok(session),
            Ok(ServiceBind::Refused(r)) => {
                Err(crate::bind::service_bind_failure(&s.bind_dn, &r, secure))
            }
            Ok(ServiceBind::NotSent(r)) => Err(crate::bind::not_sent_again(&s.bind_dn, &r, secure)),
            Err(e) => Err(e.fail(
                &server.url,
                format!("See ldap.connect and ldap.bind (task {secure})"),
            )),
        }
    }

    /// The parsed user filter, or the failed outcome naming what is wrong with it.
    pub fn filter(&self) -> Result<&Filter, Box<Outcome>> {
        let (_, integrate) = task_labels(self.spec.workflow);
        self.user_filter.as_ref().map_err(|e| {
            Box::new(Outcome::fail(
                format!("the spec's user filter {} is {e}", self.ldap().user_filter),
                format!("Correct the user filter in the spec and in the synchronization agreement on CUCM (task {integrate})"),
            ))
        })
    }
}
