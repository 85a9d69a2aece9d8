//! imp-verify probe `xmpp`: what Jabber and third-party XMPP clients do against the
//! IM&P nodes, over the project's own TLS (the spec's CA, names verified; no credential
//! is sent over a connection whose certificate did not verify), and what the nodes
//! must refuse.
//!
//! Checks: `xmpp.connect` (each node's c2s opens a stream for the domain, offers
//! STARTTLS and presents a certificate that verifies), `xmpp.login` (each test user on
//! its home node; a SASL `not-authorized` is explained by the spec's directory; a
//! `see-other-host` redirect is followed once and the serving node named),
//! `xmpp.im` (a message between two test users of a node arrives, with its round-trip
//! time), `xmpp.ha` (each test user also logs in on the redundancy-group peer of its
//! home node: the failover target), `xmpp.presence` (a watcher sees a test user's
//! availability change, whether the user or the server approves the subscription),
//! `xmpp.muc` (an ad hoc room: created as XEP-0045 says, joined, a message to both,
//! destroyed), `xmpp.intercluster` (with several clusters, a user of each exchanges
//! messages with one of every other, both ways, and each sees the other's availability
//! change), `xmpp.federation` (the same with each federated domain's contact, over
//! s2s). The refusals, read from what the server offers and never by sending a
//! credential: `xmpp.c2s-tls` (STARTTLS required, no SASL before TLS, no reversible
//! mechanism after it unless the spec allows it), `xmpp.c2s-registration` (in-band
//! registration not open to anyone), `xmpp.c2s-domain` (a stream for a domain the node
//! does not serve refused), `xmpp.s2s-security` (a node's or a federated peer's s2s
//! port requires TLS and authenticates servers by certificate, not by dialback alone).
//!
//! The shape: [`connector`] opens verified streams through the run's network toolkit,
//! [`wire`] negotiates the stream step by step (each step a [`imp_verify_core::Stage`],
//! every failure what the server did), [`login`] authenticates once through the run's
//! ledger of credentials and binds, [`session`] is one logged-in client (it never
//! reconnects), [`scene`] owns a check's sessions, its step and what it created; each
//! check in [`checks`] observes into typed facts and judges them with pure functions.
//! Test users shared by concurrent checks never satisfy each other's waits: every
//! awaited stanza is matched to the full JID of the session it concerns, and messages
//! go to full JIDs.

#![warn(missing_docs)]

pub mod checks;
pub mod connector;
mod directory;
pub mod login;
mod plan;
pub mod scene;
pub mod session;
pub mod stanzas;
pub mod wire;

pub use connector::{ClientEndpoint, ConnectFailure, Connector};
pub use login::{LoginFailure, LoginResult, SaslCondition};
pub use session::Session;
pub use wire::capped::{Capped, MAX_STREAM_BYTES};

use imp_verify_core::catalog::{first_label, Task};
use imp_verify_core::spec::{Spec, TestUser, Workflow};
use imp_verify_core::{PlannedCheck, Probe, UserDirectory};
use std::sync::Arc;

/// The tasks of the workflow that a login failure and an HA failure point at:
/// (verify clients can log in, configure HA), as the catalog numbers them.
pub(crate) fn tasks(w: Workflow) -> (&'static str, &'static str) {
    (
        first_label(w, &[Task::VerifyServices, Task::LicenseUsers]),
        first_label(w, &[Task::HighAvailability, Task::LicenseUsers]),
    )
}

/// The login task of `w` (verify clients can log in) and `extra`, as `w` numbers them
/// and a fix names them: `tasks C.10, C.4` (extra tasks `w` lacks are left out).
pub(crate) fn login_tasks(w: Workflow, extra: &[Task]) -> String {
    let login = tasks(w).0;
    let mut labels = vec![login];
    labels.extend(
        extra
            .iter()
            .filter_map(|t| t.label(w))
            .filter(|l| *l != login),
    );
    match labels.len() {
        1 => format!("task {login}"),
        _ => format!("tasks {}", labels.join(", ")),
    }
}

/// The label of `task` in `w` (`A.11`), or of workflow D's user task where the
/// workflow has no such task.
pub(crate) fn label(w: Workflow, task: Task) -> &'static str {
    first_label(w, &[task, Task::LicenseUsers])
}

/// What every check of this probe shares: the spec, the connections (the run's
/// resolver and TLS) and the directory that explains a refused login.
pub struct XmppCtx {
    /// The run's spec.
    pub spec: Arc<Spec>,
    /// Connections through the run's network toolkit.
    pub connector: Connector,
    /// The deployment's directory, to explain a refused login (the LDAP probe's).
    pub directory: Option<Arc<dyn UserDirectory>>,
}

impl XmppCtx {
    /// The context of `spec`'s checks, with a toolkit of its own (tests).
    pub fn new(spec: &Arc<Spec>) -> Self {
        XmppCtx::with(spec, imp_verify_net::Net::from_spec(spec), None)
    }

    /// The context of `spec`'s checks, through the run's toolkit and directory.
    pub fn with(
        spec: &Arc<Spec>,
        net: Arc<imp_verify_net::Net>,
        directory: Option<Arc<dyn UserDirectory>>,
    ) -> Self {
        XmppCtx {
            spec: spec.clone(),
            connector: Connector::new(net),
            directory,
        }
    }

    /// The test user `id` (planned from the spec, so present).
    pub fn user(&self, id: &str) -> &TestUser {
        self.spec
            .test_users
            .iter()
            .find(|u| u.user_id == id)
            .expect("planned from the spec")
    }
}

/// The probe.
pub struct XmppProbe {
    net: Arc<imp_verify_net::Net>,
    directory: Option<Arc<dyn UserDirectory>>,
}

impl XmppProbe {
    /// The probe, with the run's network toolkit, and the directory that explains a
    /// refused login (none: a refusal is reported as the server said it).
    pub fn new(net: Arc<imp_verify_net::Net>, directory: Option<Arc<dyn UserDirectory>>) -> Self {
        XmppProbe { net, directory }
    }
}

impl Probe for XmppProbe {
    fn name(&self) -> &'static str {
        "xmpp"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        plan::plan(
            spec,
            &Arc::new(XmppCtx::with(
                spec,
                self.net.clone(),
                self.directory.clone(),
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::{CheckCtx, CheckKey};
    use std::time::Duration;

    /// The check futures are polled on the runtime's worker threads (2 MiB stacks); a
    /// debug build copies a future on the stack as it nests, and the login's TLS and
    /// stream state once overflowed it: the large steps are boxed, and the futures stay
    /// small.
    #[test]
    fn the_check_futures_stay_small() {
        let spec = Arc::new(
            Spec::parse(
                "workflow = \"C\"\ndomains = [\"d.test\"]\n[[clusters]]\nname = \"c\"\ndomain = \"d.test\"\n[[clusters.nodes]]\nfqdn = \"n.d.test\"\nrole = \"imp\"\n",
                std::path::Path::new("x.toml"),
                &imp_verify_core::spec::ProcessEnv,
            )
            .unwrap(),
        );
        let c = XmppCtx::new(&spec);
        let cx = CheckCtx::standalone(Duration::from_secs(1), Workflow::C);
        let key = CheckKey::new("xmpp.login", "x");
        let shared = checks::c2s::Shared::default();
        let target = checks::s2s::S2sTarget::Node("n.d.test".into());
        let sizes = [
            (
                "connect",
                std::mem::size_of_val(&checks::connect::check(&c, "n", cx.clone())),
            ),
            (
                "login",
                std::mem::size_of_val(&checks::login::check(
                    &c,
                    &key,
                    "a",
                    "n",
                    checks::login::Role::Home,
                    cx.clone(),
                )),
            ),
            (
                "presence",
                std::mem::size_of_val(&checks::presence::check(
                    &c,
                    &key,
                    "a",
                    "b",
                    "n",
                    cx.clone(),
                )),
            ),
            (
                "muc",
                std::mem::size_of_val(&checks::muc::check(&c, &key, "a", "b", "n", cx.clone())),
            ),
            (
                "federation",
                std::mem::size_of_val(&checks::federation::check(&c, &key, "p", cx.clone())),
            ),
            (
                "c2s",
                std::mem::size_of_val(&checks::c2s::check(
                    &c,
                    checks::c2s::C2sCheck::Tls,
                    "n",
                    &shared,
                    cx.clone(),
                )),
            ),
            (
                "s2s",
                std::mem::size_of_val(&checks::s2s::check(&c, &target, cx.clone())),
            ),
        ];
        for (name, size) in sizes {
            assert!(
                size < 16 * 1024,
                "the {name} check's future is {size} bytes"
            );
        }
    }
}
