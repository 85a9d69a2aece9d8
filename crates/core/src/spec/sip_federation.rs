//! `[[sip_federation]]`: federated SIP domains (interdomain federation over SIP, task
//! C.14): the peer's domain, the subjects IM&P expects of its certificate, the IM&P
//! nodes that route to it, and the certificate imp-verify presents to it.

use super::clusters::{is_hostname, Cluster};
use super::error::Ctx;
use super::kinds::Role;
use super::raw::RawSipFederationPeer;
use super::LoadMode;
use std::path::PathBuf;
use toml::Spanned;

/// A federated SIP domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipFederationPeer {
    /// The federated SIP domain (unique in the spec), e.g. `partner.example.net`.
    pub domain: String,
    /// The deployment's own domain that federates with it (one of `domains`; default the
    /// first).
    pub local_domain: String,
    /// The subjects (CN or DNS SAN) the peer's certificate may present: the TLS peer
    /// subjects configured on IM&P for the federated domain. Lower case.
    pub tls_peer_subjects: Vec<String>,
    /// The IM&P nodes (FQDNs) that route to the peer: the spec's list, or every IM&P
    /// node of the local domain's clusters.
    pub nodes: Vec<String>,
    /// The certificate (PEM) imp-verify presents to the peer's federation port, one the
    /// peer accepts as the local domain's; resolved against the spec's folder.
    pub client_cert: Option<PathBuf>,
    /// The key of `client_cert` (PEM).
    pub client_key: Option<PathBuf>,
}

/// Checks the federated SIP domains: each domain a DNS name, once, not a local one;
/// the local domain listed; TLS peer subjects given; the nodes IM&P nodes of the local
/// domain; a client certificate with its key (files, unless the load is structure-only).
/// Like `[[federation]]`, the section is read in any workflow and checked in workflow C
/// only (its checks verify task C.14, which other workflows do not have).
pub(crate) fn validate(
    ctx: &mut Ctx,
    raw: &[Spanned<RawSipFederationPeer>],
    domains: &[String],
    clusters: &[Cluster],
) -> Vec<SipFederationPeer> {
    let mut peers: Vec<SipFederationPeer> = Vec::new();
    for spanned in raw {
        let peer = validate_peer(ctx, spanned, &peers, domains, clusters);
        peers.push(peer);
    }
    peers
}

/// One `[[sip_federation]]` entry, checked against those before it.
fn validate_peer(
    ctx: &mut Ctx,
    spanned: &Spanned<RawSipFederationPeer>,
    before: &[SipFederationPeer],
    domains: &[String],
    clusters: &[Cluster],
) -> SipFederationPeer {
    let p = spanned.get_ref();
    let domain = p.domain.get_ref();
    check_domain(ctx, &p.domain, before, domains);
    let local_domain = local_domain(ctx, p.local_domain.as_ref(), domains);
    let nodes = routing_nodes(ctx, p.nodes.as_deref(), &local_domain, clusters);
    if nodes.is_empty() && p.nodes.is_none() {
        ctx.error(
            p.domain.span(),
            format!(
                "federated SIP domain `{domain}`: `{local_domain}` has no IM&P node to route to it"
            ),
        );
    }
    if p.tls_peer_subjects.get_ref().is_empty() {
        ctx.error(
            p.tls_peer_subjects.span(),
            format!("federated SIP domain `{domain}`: list the TLS peer subjects configured on IM&P for it (its certificate's subject or DNS name)"),
        );
    }
    let client_cert = file(ctx, &p.client_cert);
    let client_key = file(ctx, &p.client_key);
    if client_cert.is_some() != client_key.is_some() {
        let span = p
            .client_cert
            .as_ref()
            .or(p.client_key.as_ref())
            .map(|f| f.span())
            .unwrap_or(spanned.span());
        ctx.error(
            span,
            format!("federated SIP domain `{domain}`: give both `client_cert` and `client_key`, or neither"),
        );
    }
    SipFederationPeer {
        domain: domain.clone(),
        local_domain,
        tls_peer_subjects: p
            .tls_peer_subjects
            .get_ref()
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        nodes,
        client_cert,
        client_key,
    }
}

/// The federated domain: a DNS name, listed once, not one of the deployment's own.
fn check_domain(
    ctx: &mut Ctx,
    domain: &Spanned<String>,
    before: &[SipFederationPeer],
    domains: &[String],
) {
    let name = domain.get_ref();
    if !is_hostname(name) {
        ctx.error(domain.span(), format!("`{name}` is not a DNS name"));
    }
    if before.iter().any(|o| o.domain.eq_ignore_ascii_case(name)) {
        ctx.error(
            domain.span(),
            format!("federated SIP domain `{name}` is listed twice"),
        );
    }
    if domains.iter().any(|d| d.eq_ignore_ascii_case(name)) {
        ctx.error(
            domain.span(),
            format!("`{name}` is one of the deployment's own domains, not a federated one"),
        );
    }
}

/// The local domain federating with the peer: the one given (it must be in
/// `domains`), else the first.
fn local_domain(ctx: &mut Ctx, given: Option<&Spanned<String>>, domains: &[String]) -> String {
    match given {
        Some(l) => match domains.iter().find(|d| d.eq_ignore_ascii_case(l.get_ref())) {
            Some(d) => d.clone(),
            None => {
                ctx.error(
                    l.span(),
                    format!("local domain `{}` is not in `domains`", l.get_ref()),
                );
                l.get_ref().clone()
            }
        },
        None => domains.first().cloned().unwrap_or_default(),
    }
}

/// The IM&P nodes that route to the peer: those listed (each an IM&P node of a
/// cluster of the local domain, once), else every IM&P node of the local domain.
fn routing_nodes(
    ctx: &mut Ctx,
    listed: Option<&[Spanned<String>]>,
    local_domain: &str,
    clusters: &[Cluster],
) -> Vec<String> {
    let imp_nodes: Vec<&str> = clusters
        .iter()
        .filter(|c| c.domain.eq_ignore_ascii_case(local_domain))
        .flat_map(|c| c.nodes.iter())
        .filter(|n| n.role == Role::Imp)
        .map(|n| n.fqdn())
        .collect();
    let Some(list) = listed else {
        return imp_nodes.iter().map(|f| f.to_string()).collect();
    };
    let mut v: Vec<String> = Vec::new();
    for n in list {
        match imp_nodes
            .iter()
            .find(|f| f.eq_ignore_ascii_case(n.get_ref()))
        {
            Some(f) if !v.iter().any(|o| o == f) => v.push(f.to_string()),
            Some(_) => ctx.error(n.span(), format!("`{}` is listed twice", n.get_ref())),
            None => ctx.error(
                n.span(),
                format!(
                    "`{}` is not an IM&P node of a cluster of `{local_domain}`",
                    n.get_ref()
                ),
            ),
        }
    }
    v
}

/// A file field: its full path, and an error when a full load finds no file there.
fn file(ctx: &mut Ctx, field: &Option<Spanned<String>>) -> Option<PathBuf> {
    field.as_ref().map(|f| {
        let full = ctx.base_dir.join(f.get_ref());
        if ctx.mode == LoadMode::Full && !full.is_file() {
            ctx.error(
                f.span(),
                format!("`{}` is not a readable file", full.display()),
            );
        }
        full
    })
}

#[cfg(test)]
mod tests {
    use crate::spec::Spec;
    use std::collections::BTreeMap;
    use std::path::Path;

    #[test]
    fn the_local_domain_and_the_routing_nodes_default_to_the_deployments() {
        let text = r#"
workflow = "C"
domains = ["example.com", "other.example"]
[[clusters]]
name = "c1"
domain = "example.com"
[[clusters.nodes]]
fqdn = "imp1.example.com"
role = "imp"
[[clusters.nodes]]
fqdn = "imp2.example.com"
role = "imp"
[[clusters.nodes]]
fqdn = "cucm1.example.com"
role = "cucm"
[[sip_federation]]
domain = "peer.test"
tls_peer_subjects = ["SIP.peer.test"]
"#;
        let spec = Spec::parse(text, Path::new("s.toml"), &BTreeMap::new()).unwrap();
        let p = &spec.sip_federation[0];
        assert_eq!(p.local_domain, "example.com");
        assert_eq!(p.nodes, ["imp1.example.com", "imp2.example.com"]);
        assert_eq!(p.tls_peer_subjects, ["sip.peer.test"]);
        assert_eq!(
            (p.client_cert.is_none(), p.client_key.is_none()),
            (true, true)
        );
    }
}
