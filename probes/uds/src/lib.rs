//! imp-verify probe `uds`: the path a Jabber client takes before it logs in over XMPP
//! (tasks A.9/B.10/C.10 "clients can log in", D.1; A.10/B.11/C.11 for the certificate):
//! `_cisco-uds._tcp` of the services domain, CUCM's User Data Services (UDS) over HTTPS,
//! the user's home cluster, the user's own resource, and `_cuplogin._tcp` when there is
//! no `_cisco-uds._tcp`.
//!
//! Checks, for each IM domain whose clusters have a CUCM node offering `https`:
//! - `uds.https` (per domain): every `_cisco-uds._tcp` target answers TLS on its port
//!   with a certificate that chains to the spec's CA bundle and names the target, the
//!   host name the record gives (what Jabber verifies);
//! - `uds.version` (per domain): every target answers `GET /cucm-uds/version` with a
//!   `<versionInformation>`;
//! - `uds.cluster-user` (per test user): `GET /cucm-uds/clusterUser?username=<id>`, no
//!   authentication, asked of the targets in SRV order, finds the user and names as home
//!   cluster a CUCM cluster of the spec, the user's own (`cucm_publisher` or a CUCM node
//!   of the user's cluster);
//! - `uds.user` (per test user): `GET /cucm-uds/user/<id>` on the home cluster with the
//!   user's credentials (HTTP Basic), sent only over a connection whose certificate
//!   verified for the host, only to a CUCM node of the spec or a `_cisco-uds._tcp`
//!   target, and only when the run's ledger allows (`ctx.credentials`,
//!   `Principal::user`): a 401 is recorded as a refusal, final for the run;
//! - `uds.cuplogin` (per test user): without `_cisco-uds._tcp`, the domain's
//!   `_cuplogin._tcp` records lead to the user's IM&P node (with `_cisco-uds._tcp`, the
//!   same is judged as Jabber's fallback, and a miss only warns).
//!
//! Layout: `discovery` (the SRV lookups, shared per attempt), `fetch` (connect, TLS
//! through the run's inspector, one request), `http` (a bounded HTTP/1.1 client), `xml`
//! (a bounded tree read by quick-xml), `resources` (the documented documents), and one
//! module a check under `checks`: observe into facts, then a pure judge.
//!
//! # What this is written from
//!
//! Cisco's published documents, read through the project's search tool (stored copies):
//! - *User Data Services Developer Guide*
//!   (developer.cisco.com/site/user-data-services/documents/developer-guide/):
//!   requests carry `Accept: application/xml` ("Hello World"); clients must disregard
//!   unknown elements ("Development Guidelines": so every document is read by element
//!   name and the rest ignored); the version API's sample (`<versionInformation
//!   uri=".../cucm-uds/version" version="10.0.0"><version>11.5.1</version>
//!   <capabilities><usersResourceAuthEnabled>`, "New and Changed Information in Release
//!   11.5(1)"); UDS answers XML only, restricted resources use HTTP Basic, and a 401
//!   means missing or invalid credentials (FAQ, "Error Responses"; "Troubleshooting").
//! - *UDS API reference, Response Status Codes*: GET answers 200; 401 unauthorized, 404
//!   no such resource, 405, 409, 500 internal, 503 overloaded.
//! - *UDS API reference, System Resources, clusterUser*: `GET
//!   https://{host}:8443/cucm-uds/clusterUser?username={userId}`, no authentication; the
//!   response names the publisher of the user's home cluster; found: `<result
//!   found="true" uri="https://{host}:8443/cucm-uds/user/{userId}"/>` and `<homeCluster
//!   serversUri="...">{host}</homeCluster>`; not found: `<result found="false"/>`.
//! - *UDS API reference, User Resources, GET user*: `GET
//!   https://{host}:8443/cucm-uds/user/{userid}`, user authentication required; the
//!   12.5.1 response (`<userName>`, `<displayName>`, `<email>`, `<accountType
//!   useLdapAuth>`, `<homeCluster enableImAndPresence>true</homeCluster>`,
//!   `<imAndPresence><server>`).
//! - *How To Build a Production Ready Environment* (the UDS site): a user is homed on
//!   one cluster by the Home Cluster check box of the End User Configuration page; a
//!   503 may carry Retry-After (this tool does not retry within a check).
//! - *Deployment and Installation Guide for Cisco Jabber, Release 10.5*, "Service
//!   Discovery": with `_cisco-uds` the client locates the user's home cluster and gets
//!   the service profile from CUCM; with `_cuplogin` it locates the IM and Presence
//!   server, the authenticator; the records' examples use port 8443.
//! - *Troubleshoot Jabber Log in - Common Issues* (Cisco document 221845): Jabber's
//!   first request is `/cucm-uds/version` of the discovered CUCM, refused when the CUCM
//!   Tomcat certificate is not trusted ("Untrusted server"); no `_cisco-uds` record:
//!   "Cannot find services automatically"; no home cluster (NO_HOME_UDS_FOUND): the
//!   user's Home Cluster check box; the home UDS query answered 403: the user lacks the
//!   "Standard CCM End Users" role; 401: wrong user name or password, or CUCM cannot
//!   reach its authenticating LDAP directory.
//!
//! Not documented in what could be found, so not relied on: the body of a 401, 403 or
//! other error (verdicts are taken from the status code only); the realm UDS names;
//! whether user ids compare case-insensitively (compared so, and reported); how Jabber
//! chooses among several `_cisco-uds` targets beyond SRV order (every target is
//! checked, and clusterUser is asked of the first that answers); what the IM and
//! Presence login service serves on the `_cuplogin._tcp` target's port (the record is
//! judged, the port is not asked).

#![warn(missing_docs)]

mod checks;
pub mod discovery;
pub mod fetch;
pub mod http;
pub mod resources;
pub mod xml;

use discovery::Lookup;
use imp_verify_core::spec::{Role, Service, Spec};
use imp_verify_core::{keys, PerAttempt, PlannedCheck, Probe};
use imp_verify_net::Net;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The probe.
pub struct UdsProbe {
    net: Arc<Net>,
}

impl UdsProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        UdsProbe { net }
    }
}

/// The lookups of one domain, shared by its checks within an attempt.
#[derive(Default)]
struct DomainCache {
    uds: PerAttempt<Lookup>,
    cuplogin: PerAttempt<Lookup>,
}

/// What the checks of a run share.
pub(crate) struct Ctx {
    pub spec: Arc<Spec>,
    pub net: Arc<Net>,
    domains: BTreeMap<String, DomainCache>,
    cluster_users: BTreeMap<String, PerAttempt<Arc<checks::cluster_user::Seen>>>,
}

impl Ctx {
    /// `_cisco-uds._tcp` of `domain`, looked up once per attempt.
    pub async fn uds(&self, domain: &str, cx: &imp_verify_core::CheckCtx) -> Lookup {
        let cache = &self.domains[domain];
        let deadline = tokio::time::Instant::from_std(cx.budget_deadline());
        let name = discovery::uds_record(domain);
        cache
            .uds
            .get_or_init(cx.attempt, || {
                discovery::lookup(&self.net, &name, deadline, cx)
            })
            .await
    }

    /// `_cuplogin._tcp` of `domain`, looked up once per attempt.
    pub async fn cuplogin(&self, domain: &str, cx: &imp_verify_core::CheckCtx) -> Lookup {
        let cache = &self.domains[domain];
        let deadline = tokio::time::Instant::from_std(cx.budget_deadline());
        let name = discovery::cuplogin_record(domain);
        cache
            .cuplogin
            .get_or_init(cx.attempt, || {
                discovery::lookup(&self.net, &name, deadline, cx)
            })
            .await
    }

    /// The pinned address of `host` when it is a node of the spec.
    pub fn pinned(&self, host: &str) -> Option<std::net::IpAddr> {
        self.spec.node(host).and_then(|(_, n)| n.address)
    }
}

/// The IM domains whose UDS the probe follows: those with a CUCM node offering https.
fn uds_domains(spec: &Spec) -> Vec<(String, String)> {
    spec.domains
        .iter()
        .filter_map(|d| {
            spec.clusters
                .iter()
                .filter(|c| c.domain == *d)
                .flat_map(|c| &c.nodes)
                .find(|n| n.role == Role::Cucm && n.services.contains(&Service::Https))
                .map(|n| (d.clone(), n.fqdn.clone()))
        })
        .collect()
}

impl Probe for UdsProbe {
    fn name(&self) -> &'static str {
        "uds"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let domains = uds_domains(spec);
        let users: Vec<_> = spec
            .test_users
            .iter()
            .filter_map(|u| {
                let (cluster, _) = spec.node(&u.home_node)?;
                domains
                    .iter()
                    .find(|(d, _)| *d == cluster.domain)
                    .map(|(d, cucm)| (u.user_id.clone(), d.clone(), cucm.clone()))
            })
            .collect();
        let ctx = Arc::new(Ctx {
            spec: spec.clone(),
            net: self.net.clone(),
            domains: domains
                .iter()
                .map(|(d, _)| (d.clone(), DomainCache::default()))
                .collect(),
            cluster_users: users
                .iter()
                .map(|(u, _, _)| (u.clone(), PerAttempt::default()))
                .collect(),
        });
        let mut plan = Vec::new();
        for (domain, cucm) in &domains {
            let (c, d) = (ctx.clone(), domain.clone());
            plan.push(
                PlannedCheck::keyed(keys::uds_https(domain), move |cx| {
                    let (c, d) = (c.clone(), d.clone());
                    async move { checks::https::check(&c, &d, cx).await }
                })
                .after(keys::dns_srv_cisco_uds(domain))
                .on(cucm.clone()),
            );
            let (c, d) = (ctx.clone(), domain.clone());
            plan.push(
                PlannedCheck::keyed(keys::uds_version(domain), move |cx| {
                    let (c, d) = (c.clone(), d.clone());
                    async move { checks::version::check(&c, &d, cx).await }
                })
                .after(keys::uds_https(domain))
                .on(cucm.clone()),
            );
        }
        for (user, domain, cucm) in users {
            let (c, u, d) = (ctx.clone(), user.clone(), domain.clone());
            plan.push(
                PlannedCheck::keyed(keys::uds_cluster_user(&user), move |cx| {
                    let (c, u, d) = (c.clone(), u.clone(), d.clone());
                    async move { checks::cluster_user::check(&c, &u, &d, cx).await }
                })
                .after(keys::uds_version(&domain))
                .on(cucm.clone()),
            );
            let (c, u, d) = (ctx.clone(), user.clone(), domain.clone());
            plan.push(
                PlannedCheck::new("uds.user", user.clone(), move |cx| {
                    let (c, u, d) = (c.clone(), u.clone(), d.clone());
                    async move { checks::user::check(&c, &u, &d, cx).await }
                })
                .after(keys::uds_cluster_user(&user))
                .on(cucm),
            );
            let (c, u, d) = (ctx.clone(), user.clone(), domain.clone());
            let dns = self.net.resolver.servers().to_string();
            plan.push(
                PlannedCheck::new("uds.cuplogin", user.clone(), move |cx| {
                    let (c, u, d) = (c.clone(), u.clone(), d.clone());
                    async move { checks::cuplogin::check(&c, &u, &d, cx).await }
                })
                .on(dns),
            );
        }
        plan
    }
}
