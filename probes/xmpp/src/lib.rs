//! imp-verify probe `xmpp`: what Jabber and third-party XMPP clients do against the
//! IM&P nodes, over the project's own TLS (the spec's CA, names verified; no credential
//! is sent over a connection whose certificate did not verify).
//!
//! Checks: `xmpp.connect` (each node's c2s opens a stream for the domain, offers
//! STARTTLS and presents a certificate that verifies), `xmpp.login` (each test user on
//! its home node; a SASL `not-authorized` is explained by the spec's directory),
//! `xmpp.im` (a message between two test users of a node arrives, with its round-trip
//! time), `xmpp.ha` (each test user also logs in on the redundancy-group peer of its
//! home node: the failover target), `xmpp.presence` (a watcher sees a test user's
//! availability change), `xmpp.muc` (an ad hoc room: created as XEP-0045 says, joined,
//! a message to both, destroyed), `xmpp.intercluster` (with several clusters, a user of
//! each exchanges messages with one of every other, both ways, and each sees the other's
//! availability change), `xmpp.federation` (the same with each federated domain's
//! contact, over s2s).
//!
//! The shape: [`connector`] opens verified streams (the only user of the DNS and TLS
//! probes), [`login`] authenticates once and binds, [`session`] is one logged-in client
//! (it never reconnects), [`scene`] owns a check's sessions, its stage and its undo
//! list; each check in [`checks`] observes into typed facts and judges them with pure
//! functions. Test users shared by concurrent checks never satisfy each other's waits:
//! every awaited stanza is matched to the full JID of the session it concerns, and
//! messages go to full JIDs.

#![warn(missing_docs)]

pub mod checks;
pub mod connector;
mod directory;
pub mod login;
mod plan;
pub mod scene;
pub mod session;
pub mod stanzas;

pub use connector::{Capped, Endpoint, Net, MAX_STREAM_BYTES};
pub use login::{LoginFailure, LoginResult, SaslCondition};
pub use session::Session;

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

/// What every check of this probe shares: the spec and the network (resolver, TLS).
pub struct Ctx {
    /// The run's spec.
    pub spec: Arc<Spec>,
    /// Name resolution and TLS, built once for all checks of the probe.
    pub net: Net,
    /// The deployment's directory, to explain a refused login (the LDAP probe's).
    pub directory: Option<Arc<dyn UserDirectory>>,
}

impl Ctx {
    /// The context of `spec`'s checks, with a toolkit of its own (tests).
    pub fn new(spec: &Arc<Spec>) -> Self {
        Ctx::with(spec, imp_verify_net::Net::from_spec(spec), None)
    }

    /// The context of `spec`'s checks, through the run's toolkit and directory.
    pub fn with(
        spec: &Arc<Spec>,
        net: Arc<imp_verify_net::Net>,
        directory: Option<Arc<dyn UserDirectory>>,
    ) -> Self {
        Ctx {
            spec: spec.clone(),
            net: Net::new(net),
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
            Arc::new(Ctx::with(spec, self.net.clone(), self.directory.clone())),
        )
    }
}
