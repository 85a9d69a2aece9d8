//! `[clusters.sip_trunk]`: the SIP publish trunk from CUCM to an IM&P cluster.

use super::clusters::{is_hostname, NodeIndex};
use super::error::Ctx;
use super::kinds::Transport;
use super::raw::RawTrunk;
use super::LoadMode;
use std::path::PathBuf;

/// The SIP publish trunk from CUCM to the IM&P cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipTrunk {
    /// The cluster-wide DNS SRV name, e.g. `imp-cluster.example.com`.
    pub srv_name: String,
    /// The transports the trunk uses, each once.
    pub transports: Vec<Transport>,
    /// Subjects (CN or SAN) the IM&P nodes' certificates may present.
    pub tls_peer_subjects: Vec<String>,
    /// The client certificate (PEM) CUCM presents over TLS, resolved against the spec's
    /// folder; given with `client_key` whenever the trunk uses TLS.
    pub client_cert: Option<PathBuf>,
    /// The key of `client_cert` (PEM).
    pub client_key: Option<PathBuf>,
    /// FQDN of the presence gateway (the CUCM node), one of the spec's nodes.
    pub presence_gateway: Option<String>,
    /// The presentity (user id) whose phone presence is published in tests.
    pub presentity: Option<String>,
}

/// Checks a trunk: a DNS SRV name, at least one transport (each once), a client
/// certificate and key for TLS (files, unless the load is structure-only), a presence
/// gateway that is a node of the spec.
pub(crate) fn validate(ctx: &mut Ctx, raw: &RawTrunk, nodes: &NodeIndex) -> SipTrunk {
    let mut transports = Vec::new();
    for t in raw.transports.get_ref() {
        if transports.contains(t.get_ref()) {
            ctx.error(t.span(), "the SIP publish trunk lists this transport twice");
        } else {
            transports.push(*t.get_ref());
        }
    }
    if transports.is_empty() {
        ctx.error(
            raw.transports.span(),
            "the SIP publish trunk lists no transport (udp, tcp, tls)",
        );
    }
    if !is_hostname(raw.srv_name.get_ref()) {
        ctx.error(
            raw.srv_name.span(),
            format!("`{}` is not a DNS name", raw.srv_name.get_ref()),
        );
    }
    let mut file = |field: &Option<toml::Spanned<String>>| {
        field.as_ref().map(|p| {
            let full = ctx.base_dir.join(p.get_ref());
            if ctx.mode == LoadMode::Full && !full.is_file() {
                ctx.error(
                    p.span(),
                    format!("`{}` is not a readable file", full.display()),
                );
            }
            full
        })
    };
    let client_cert = file(&raw.client_cert);
    let client_key = file(&raw.client_key);
    if transports.contains(&Transport::Tls) && (client_cert.is_none() || client_key.is_none()) {
        ctx.error(
            raw.transports.span(),
            "the SIP publish trunk uses TLS: give `client_cert` and `client_key`, the certificate CUCM presents",
        );
    }
    if let Some(gw) = &raw.presence_gateway {
        if !nodes.contains_key(&gw.get_ref().to_ascii_lowercase()) {
            ctx.error(
                gw.span(),
                format!(
                    "presence gateway `{}` is not a node of the spec",
                    gw.get_ref()
                ),
            );
        }
    }
    SipTrunk {
        srv_name: raw.srv_name.get_ref().clone(),
        transports,
        tls_peer_subjects: raw.tls_peer_subjects.clone(),
        client_cert,
        client_key,
        presence_gateway: raw.presence_gateway.as_ref().map(|g| g.get_ref().clone()),
        presentity: raw.presentity.clone(),
    }
}
