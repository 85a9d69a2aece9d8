//! Judging what a handshake showed: pure functions of [`TlsFacts`] and the certificate
//! read from it, unit-tested with synthetic facts.

use crate::check::Verdicts;
use imp_verify_core::Outcome;
use imp_verify_net::tls::legacy::Version;
use imp_verify_net::tls::rustls::pki_types::UnixTime;
use imp_verify_net::tls::{
    dns_covers, rfc3339, view, CertView, ChainError, HandshakeFailure, SeenBy, TlsFacts,
    TlsInspector, NO_MODERN_TLS,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a certificate must be, at one endpoint.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// DNS names it must cover (the node FQDN).
    pub dns_names: Vec<String>,
    /// For XMPP: the domain it must also cover, as a DNS SAN, id-on-xmppAddr or SRVName.
    pub xmpp_domain: Option<(String, &'static str)>,
    /// Whether the same certificate is used as a client too (s2s, SIP mutual TLS).
    pub client_auth: bool,
    /// The workflow task to name in fixes.
    pub task: &'static str,
}

fn with_cert(o: Outcome, v: &CertView) -> Outcome {
    o.with("subject", &v.subject)
        .with("issuer", &v.issuer)
        .with("names", v.names.show())
        .with("serial", &v.serial)
        .with("not_before", rfc3339(v.not_before))
        .with("not_after", rfc3339(v.not_after))
        .with("sha256", &v.sha256)
}

/// The five verdicts on a handshake's certificate. `trust` is the run's inspector (its
/// trust anchors, for the chain's evidence and the expiry margin).
pub fn judge(trust: &TlsInspector, facts: &TlsFacts, expect: &Expectation) -> Verdicts {
    let task = expect.task;
    let Some(ee) = facts.chain.first() else {
        return Verdicts::all(Outcome::fail(
            "the server sent no certificate",
            format!(
                "Install a certificate signed by the deployment's CA on this service (task {task})"
            ),
        ));
    };
    let v = match view(ee) {
        Ok(v) => v,
        Err(e) => {
            return Verdicts::all(Outcome::fail(
                e,
                format!("Replace the certificate with a well-formed one (task {task})"),
            ))
        }
    };
    Verdicts {
        chain: judge_chain(trust, facts, &v, task),
        names: judge_names(&v, expect),
        validity: judge_validity(&v, trust.expiry_warning_days, task),
        usage: judge_usage(&v, expect),
        strength: judge_strength(facts, &v, task),
    }
}

/// The fix of a handshake that failed after the certificate was seen: a refusal of
/// the client names the client certificate; a close after the handshake says it may.
fn handshake_fix(facts: &TlsFacts, task: &str) -> String {
    match facts.handshake_failure {
        Some(HandshakeFailure::ClosedAfterHandshake) => format!("See the node's log for why it closed the session: if it refuses the client certificate, present one it trusts (for the SIP publish trunk, sip_trunk.client_cert must be CUCM's certificate, signed by a CA the IM&P node trusts, and its subject one of the node's TLS peer subjects) (task {task})"),
        Some(k) if k.is_client_refusal() => format!("Present a client certificate the server trusts: for the SIP publish trunk, sip_trunk.client_cert must be CUCM's certificate, signed by a CA the IM&P node trusts, and its subject one of the node's TLS peer subjects (task {task})"),
        _ => format!("See the other TLS checks of this endpoint for what is wrong with the certificate (task {task})"),
    }
}

fn judge_chain(trust: &TlsInspector, facts: &TlsFacts, v: &CertView, task: &str) -> Outcome {
    // Judged inside the certificate's own validity window, so that an expired
    // certificate is reported by tls.validity and its chain here on its own merits.
    let mid = v.not_before + (v.not_after - v.not_before) / 2;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(mid.max(0) as u64));
    let base = |o: Outcome| {
        with_cert(o, v)
            .with("chain_length", facts.chain.len())
            .with("trust_anchors", &trust.trust_source)
    };
    if let SeenBy::TolerantLook { suite, version, .. } = &facts.seen_by {
        let modern = facts.handshake_error.as_deref().unwrap_or_default();
        let read = format!(
            "the certificate of {} could only be read through a tolerant look (a TLS 1.2 ClientHello also offering CBC suites and SHA-1 signatures; the server chose {version}, {}): the modern handshake (TLS 1.2/1.3, AEAD suites, SHA-256+ signatures) failed: {modern}",
            facts.server_name, suite.name
        );
        let fix = if facts
            .handshake_failure
            .is_some_and(|k| k.is_client_refusal())
        {
            format!("Present a client certificate the server trusts (task {task})")
        } else {
            format!("Fix what tls.strength names for this endpoint (weak key, old TLS versions, CBC-only cipher suites) so that current clients can complete the handshake (task {task})")
        };
        return match trust.verify_chain(&facts.chain, at) {
            Ok(()) => base(Outcome::fail(
                format!("{read}; the certificate chains to the deployment's CA"),
                fix,
            )),
            Err(e) => base(Outcome::fail(
                format!("{read}; and the certificate chain does not verify: {e}"),
                format!("{fix}; and upload a certificate signed by the deployment's CA"),
            ))
            .with("error", e),
        }
        .with("seen_by", "tolerant look")
        .with("modern_handshake", modern);
    }
    match trust.verify_chain(&facts.chain, at) {
        Ok(()) if facts.handshake_error.is_some() => base(Outcome::fail(
            format!(
                "the certificate of {} chains to the deployment's CA, but the handshake failed: {}",
                facts.server_name,
                facts.handshake_error.as_deref().unwrap_or_default()
            ),
            handshake_fix(facts, task),
        )),
        Ok(()) => base(Outcome::pass(format!(
            "the certificate of {} chains to the deployment's CA",
            facts.server_name
        ))),
        Err(e) => {
            let what = if v.self_signed {
                format!(
                    "the certificate is self-signed ({}), not signed by the deployment's CA",
                    v.subject
                )
            } else if matches!(e, ChainError::UnknownIssuer(_)) {
                format!(
                    "the certificate's issuer ({}) is not the deployment's CA, nor chains to it",
                    v.issuer
                )
            } else {
                format!("the certificate chain does not verify: {e}")
            };
            base(Outcome::fail(
                    what,
                    format!("Upload a certificate signed by the deployment's CA (and its intermediates) for this service, or add the issuing CA to the spec's tls.ca_bundle if it is trusted (task {task})"),
                ))
                .with("error", e)
        }
    }
}

fn judge_names(v: &CertView, e: &Expectation) -> Outcome {
    let mut missing = Vec::new();
    for name in &e.dns_names {
        if !v.names.dns.iter().any(|p| dns_covers(p, name)) {
            missing.push(format!("DNS name {name}"));
        }
    }
    if let Some((domain, srv_label)) = &e.xmpp_domain {
        let srv = format!("{srv_label}.{domain}");
        let covered = v.names.dns.iter().any(|p| dns_covers(p, domain))
            || v.names.xmpp_addr.iter().any(|a| a == domain)
            || v.names.srv_name.contains(&srv);
        if !covered {
            missing.push(format!(
                "the XMPP domain {domain} (as DNS name, id-on-xmppAddr or SRVName {srv})"
            ));
        }
    }
    let wanted = {
        let mut w = e.dns_names.clone();
        if let Some((d, _)) = &e.xmpp_domain {
            w.push(d.clone());
        }
        w.join(", ")
    };
    let o = if missing.is_empty() {
        Outcome::pass(format!("the certificate covers {wanted}"))
    } else {
        Outcome::fail(
            format!("the certificate does not cover {}", missing.join(", ")),
            format!("Reissue the certificate with these names in its Subject Alternative Names (task {})", e.task),
        )
    };
    with_cert(o, v).with("expected", wanted)
}

fn judge_validity(v: &CertView, margin_days: u32, task: &str) -> Outcome {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days_left = (v.not_after - now).div_euclid(86_400);
    let o = if now < v.not_before {
        Outcome::fail(
            format!("the certificate is not valid yet: it starts {}", rfc3339(v.not_before)),
            format!("Check the node's clock and the certificate's notBefore; reissue it if it is wrong (task {task})"),
        )
    } else if now > v.not_after {
        Outcome::fail(
            format!(
                "the certificate expired {}, {} day(s) ago",
                rfc3339(v.not_after),
                -days_left
            ),
            format!("Renew the certificate and upload it to the node (task {task})"),
        )
    } else if days_left < margin_days as i64 {
        Outcome::warn(
            format!(
                "the certificate expires {}, in {days_left} day(s) (warning margin {margin_days})",
                rfc3339(v.not_after)
            ),
            format!("Renew the certificate before it expires (task {task})"),
        )
    } else {
        Outcome::pass(format!(
            "valid until {} ({days_left} days left)",
            rfc3339(v.not_after)
        ))
    };
    with_cert(o, v)
        .with("expiry_warning_days", margin_days)
        .metric("days_left", days_left as f64)
}

fn judge_usage(v: &CertView, e: &Expectation) -> Outcome {
    let mut usages = Vec::new();
    if v.server_auth {
        usages.push("serverAuth");
    }
    if v.client_auth {
        usages.push("clientAuth");
    }
    let shown = if !v.has_eku {
        "no extended key usage extension (any use)".to_string()
    } else {
        usages.join(", ")
    };
    let server_ok = !v.has_eku || v.server_auth;
    let client_ok = !e.client_auth || !v.has_eku || v.client_auth;
    let o = if server_ok && client_ok {
        Outcome::pass(format!("extended key usage: {shown}"))
    } else {
        let mut need = Vec::new();
        if !server_ok {
            need.push("serverAuth");
        }
        if !client_ok {
            need.push("clientAuth (the node also presents this certificate as a client: XMPP s2s, SIP mutual TLS)");
        }
        Outcome::fail(
            format!(
                "the certificate lacks the extended key usage {}",
                need.join(" and ")
            ),
            format!(
                "Reissue the certificate with the extended key usages serverAuth{} (task {})",
                if e.client_auth { " and clientAuth" } else { "" },
                e.task
            ),
        )
    };
    with_cert(o, v).with("extended_key_usage", shown)
}

/// The protocol versions a server accepts, as tls.strength weighs them.
struct VersionView {
    /// The lowest version accepted, if known.
    lowest: Option<Version>,
    /// The deprecated versions (TLS 1.0, 1.1) accepted.
    deprecated: Vec<Version>,
}

fn versions(facts: &TlsFacts) -> VersionView {
    let negotiated = facts.negotiated();
    let (lowest, mut deprecated) = match &facts.versions {
        Some(v) => (v.lowest(negotiated), v.deprecated_accepted()),
        None => (negotiated, Vec::new()),
    };
    if let Some(n) = negotiated.filter(|n| n.deprecated() && !deprecated.contains(n)) {
        deprecated.push(n);
        deprecated.sort();
    }
    VersionView { lowest, deprecated }
}

fn judge_strength(facts: &TlsFacts, v: &CertView, task: &str) -> Outcome {
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let mut cert = Vec::new();
    if !v.key_ok {
        cert.push(format!(
            "a weak key ({}; at least RSA 2048 or EC 256 bits)",
            v.key
        ));
    }
    if !v.signature_ok {
        cert.push(format!("a weak signature algorithm ({})", v.signature));
    }
    if !cert.is_empty() {
        problems.push(format!("the certificate has {}", cert.join(" and ")));
        fixes.push("Reissue the certificate with an RSA 2048+ or EC P-256+ key and a SHA-256 (or stronger) signature".to_string());
    }
    let vv = versions(facts);
    let lowest = vv.lowest.map(Version::name).unwrap_or("not known");
    if !vv.deprecated.is_empty() {
        let names: Vec<&str> = vv.deprecated.iter().map(|v| v.name()).collect();
        problems.push(format!(
            "the server accepts {} (deprecated by RFC 8996; lowest version {lowest})",
            names.join(" and ")
        ));
        fixes.push(
            "Disable TLS 1.0 and TLS 1.1 on the service, so that it accepts TLS 1.2 and 1.3 only"
                .to_string(),
        );
    }
    if facts.handshake_failure == Some(HandshakeFailure::NoModernTls) {
        problems.push(NO_MODERN_TLS.to_string());
        fixes.push("Enable TLS 1.2 (or 1.3) on the service".to_string());
    }
    let modern = facts.negotiated().is_some_and(|v| !v.deprecated());
    if !modern && facts.handshake_error.is_none() && vv.deprecated.is_empty() {
        problems.push(format!("protocol {}", facts.version));
    }
    if let SeenBy::TolerantLook {
        suite,
        only_cbc: true,
        ..
    } = &facts.seen_by
    {
        problems.push(format!(
            "the server offers only CBC cipher suites: offered AEAD (AES-GCM, ChaCha20-Poly1305) and CBC suites, it chose {}, and it refused a ClientHello offering only AEAD suites, which is all that modern clients offer",
            suite.name
        ));
        fixes.push(
            "Enable AEAD cipher suites (ECDHE with AES-GCM or ChaCha20-Poly1305) on the service"
                .to_string(),
        );
    }
    let o = if problems.is_empty() {
        Outcome::pass(format!(
            "{}, {}, {} ({}), lowest version accepted {lowest}",
            v.key, v.signature, facts.version, facts.cipher
        ))
    } else {
        Outcome::fail(
            problems.join("; "),
            format!("{} (task {task})", fixes.join("; ")),
        )
    };
    let o = match &facts.handshake_error {
        Some(e) => o.with("handshake", e),
        None => o,
    };
    let o = match &facts.versions {
        Some(vs) => vs.answers.iter().fold(o, |o, (version, answer)| {
            o.with(format!("offered_{}", version.name()), answer.to_string())
        }),
        None => o,
    };
    with_cert(o, v)
        .with("key", &v.key)
        .with("signature_algorithm", &v.signature)
        .with("protocol", &facts.version)
        .with("cipher", &facts.cipher)
        .with("lowest_version", lowest)
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
