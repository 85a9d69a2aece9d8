//! imp-verify probe `ldap`: the directory CUCM syncs users from and IM&P authenticates
//! them against (workflow tasks A.3, A.6 and their B/C twins; D.2, D.3).
//!
//! Checks: `ldap.connect` (LDAPS or StartTLS with a verified certificate, per server),
//! `ldap.bind` (the service account, per server), and on the first server:
//! `ldap.base`, `ldap.sync` (the expected users are provisioned), `ldap.mapping`
//! (mapped attributes present, IM addresses valid and unique), `ldap.user-auth` (each
//! test user binds with its own password) and `ldap.contact-search` (a Jabber-style
//! search by name prefix and by phone finds the user).
//!
//! Every connection verifies the server's certificate against the spec's CA bundle;
//! no password is sent over a connection that is not TLS unless the spec allows
//! cleartext for that server explicitly (and then the check warns).
//!
//! Layout: [`codes`] (result codes and Active Directory's reasons, typed), `session`
//! (connecting and binding), `directory` (the streamed read, facts only),
//! `provisioning` (base, sync, mapping judged from those facts), `bind` (connect and
//! bind checks), `users` (user-auth and [`look_up_test_user`]), `search`
//! (contact-search).

#![warn(missing_docs)]

mod bind;
pub mod codes;
mod directory;
mod provisioning;
mod search;
mod session;
mod users;

pub use bind::{is_account_state, service_bind_failure, user_bind_failure};
pub use codes::{rc_name, AdReason, Refusal, ResultCode};
pub use directory::PAGE_SIZE;
pub use search::CONTACT_SEARCH_LIMIT;
pub use session::{tasks, CertProblem, Handshake, SessionError};
pub use users::{look_up_test_user, DirectoryUser, LdapDirectory};

use directory::Directory;
use imp_verify_core::spec::{LdapServer, Spec};
use imp_verify_core::{CheckKey, Outcome, PlannedCheck, Probe};
use session::Ctx;
use std::sync::Arc;

fn server_target(s: &LdapServer) -> String {
    s.url.clone()
}

/// The probe.
pub struct LdapProbe {
    net: Arc<imp_verify_net::Net>,
}

impl LdapProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<imp_verify_net::Net>) -> Self {
        LdapProbe { net }
    }
}

impl Probe for LdapProbe {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let Some(ldap) = &spec.ldap else {
            return Vec::new();
        };
        let ctx = Arc::new(Ctx::new(spec, &self.net));
        let mut checks = Vec::new();
        for (i, server) in ldap.servers.iter().enumerate() {
            let target = server_target(server);
            let service = server.security.service();
            let port_key = imp_verify_core::keys::services_port(&server.host, server.port, service);
            let c = ctx.clone();
            checks.push(
                PlannedCheck::new("ldap.connect", target.clone(), move |cx| {
                    let c = c.clone();
                    async move { bind::check_connect(&c, i, cx).await }
                })
                .after(port_key),
            );
            let c = ctx.clone();
            checks.push(
                PlannedCheck::new("ldap.bind", target.clone(), move |cx| {
                    let c = c.clone();
                    async move { bind::check_bind(&c, i, cx).await }
                })
                .after(CheckKey::new("ldap.connect", target.clone())),
            );
        }
        let first_bind = CheckKey::new("ldap.bind", server_target(&ldap.servers[0]));
        let base = ldap.base.clone();
        for (id, f) in [
            (
                "ldap.base",
                provisioning::check_base as fn(&Spec, &Directory) -> Outcome,
            ),
            ("ldap.sync", provisioning::check_sync),
            ("ldap.mapping", provisioning::check_mapping),
        ] {
            let c = ctx.clone();
            let mut check = PlannedCheck::new(id, base.clone(), move |cx| {
                let c = c.clone();
                async move {
                    match c.directory(&cx).await {
                        Ok(d) => f(&c.spec, &d),
                        Err(o) => o,
                    }
                }
            })
            .after(first_bind.clone());
            if id != "ldap.base" {
                check = check.after(CheckKey::new("ldap.base", base.clone()));
            }
            checks.push(check);
        }
        for user in &spec.test_users {
            let uid = user.user_id.clone();
            let c = ctx.clone();
            let u = uid.clone();
            checks.push(
                PlannedCheck::new("ldap.user-auth", uid.clone(), move |cx| {
                    let (c, u) = (c.clone(), u.clone());
                    async move { users::check_user_auth(&c, &u, cx).await }
                })
                .after(first_bind.clone()),
            );
            let c = ctx.clone();
            let u = uid.clone();
            checks.push(
                PlannedCheck::new("ldap.contact-search", uid.clone(), move |cx| {
                    let (c, u) = (c.clone(), u.clone());
                    async move { search::check_contact_search(&c, &u, cx).await }
                })
                .after(CheckKey::new("ldap.base", base.clone())),
            );
        }
        checks
    }
}
