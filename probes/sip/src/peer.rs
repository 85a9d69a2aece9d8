//! `sip.tls-peer`: over TLS the node accepts CUCM's client certificate and presents a
//! certificate whose subject is among the trunk's TLS peer subjects.

use super::{tasks, Ctx, Trunk};
use crate::connect::tls_connect;
use imp_verify_core::{CheckCtx, Outcome};
use imp_verify_net::tls::view;

pub(crate) async fn check_tls_peer(
    c: &Ctx,
    trunk: &Trunk,
    host: &str,
    port: u16,
    cx: CheckCtx,
) -> Outcome {
    let (_, secure) = tasks(c.spec.workflow);
    let budget = cx.budget();
    let run = async {
        let addr = c.addr(host, port).await?;
        let (_tls, facts, _) = tls_connect(c, trunk, host, addr, true).await?;
        Ok::<_, String>(facts)
    };
    let facts = match tokio::time::timeout(budget, run).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return Outcome::fail(
                e,
                format!("Check the node's SIP TLS listener (task {secure})"),
            )
        }
        Err(_) => {
            return Outcome::fail(
                format!(
                    "no TLS session with {host}:{port} within {} ms",
                    budget.as_millis()
                ),
                format!("Check the node's SIP TLS listener (task {secure})"),
            )
        }
    };
    let client = if trunk.client.is_some() {
        "presented"
    } else {
        "none configured"
    };
    if let Some(e) = &facts.handshake_error {
        return Outcome::fail(
            format!("{host} does not accept the trunk's client certificate: {e}"),
            format!("Upload CUCM's certificate (or its CA) to the IM&P node's trust store and add CUCM to the TLS peer subjects of the SIP security profile (task {secure})"),
        )
        .with("client_certificate", client);
    }
    let Some(cert) = facts.chain.first().and_then(|c| view(c).ok()) else {
        return Outcome::fail(
            format!("{host} sent no certificate that parses"),
            format!("Check the node's certificate (task {secure})"),
        );
    };
    let cn = cert
        .cn
        .as_deref()
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let names: Vec<String> = std::iter::once(cn.clone())
        .chain(cert.names.dns.iter().cloned())
        .filter(|n| !n.is_empty())
        .collect();
    let matched: Vec<&String> = names
        .iter()
        .filter(|n| trunk.subjects.contains(n))
        .collect();
    let o = if trunk.subjects.is_empty() {
        Outcome::warn(
            format!("{host} accepted the trunk's client certificate, but the spec lists no TLS peer subjects to compare its certificate with"),
            format!("List the TLS peer subjects configured on the SIP trunk security profile in the spec (task {secure})"),
        )
    } else if matched.is_empty() {
        Outcome::fail(
            format!(
                "{host}'s certificate (CN {cn}, names {}) matches none of the TLS peer subjects {}",
                cert.names.dns.join(", "),
                trunk.subjects.join(", ")
            ),
            format!("Add the node's certificate subject to the TLS peer subjects of CUCM's SIP trunk security profile, or reissue the certificate (task {secure})"),
        )
    } else if !facts.verified() {
        Outcome::fail(
            format!(
                "{host}'s certificate does not verify: {}",
                facts.verify_error.clone().unwrap_or_default()
            ),
            format!("See the tls.* checks of sip-tls on this node (task {secure})"),
        )
    } else {
        Outcome::pass(format!(
            "{host} accepts the trunk's client certificate and presents {} (a TLS peer subject)",
            matched[0]
        ))
    };
    o.with("subject", &cert.subject)
        .with("names", cert.names.dns.join(", "))
        .with("tls_peer_subjects", trunk.subjects.join(", "))
        .with("client_certificate", client)
        .with("tls", format!("{} {}", facts.version, facts.cipher))
}
