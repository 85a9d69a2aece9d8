//! The verdicts of an endpoint whose handshake could not be observed: `tls.chain` says
//! why (and, for a stalled step, that the check timed out there); `tls.strength` judges
//! what the ClientHellos of old versions showed without a certificate; the others are
//! not observable because of `tls.chain`. A pure function, unit-tested.

use crate::check::TlsCheck;
use crate::endpoint::{Start, TlsEndpoint};
use crate::observe::{EndpointError, Unobserved};
use imp_verify_core::{CheckKey, Outcome, Reason};
use imp_verify_net::tls::HandshakeFailure;

/// The verdict of `check` on `ep`, whose handshake could not be observed (`why`).
pub fn judge_unobserved(check: TlsCheck, why: &EndpointError, ep: &TlsEndpoint) -> Outcome {
    let no_modern = why.failure() == Some(HandshakeFailure::NoModernTls);
    let task = ep.expect.task;
    match check {
        // No TLS 1.2 or newer: a strength problem too, and the only thing to judge.
        TlsCheck::Chain => why_not(why, ep, no_modern),
        TlsCheck::Strength if no_modern => {
            let o = why_not(why, ep, no_modern);
            o.with(
                "lowest_version",
                why.versions
                    .as_ref()
                    .and_then(|v| v.lowest(None))
                    .map(|v| v.name())
                    .unwrap_or("not known"),
            )
        }
        // No certificate, but the server still accepts TLS 1.0 or 1.1: that is judged.
        TlsCheck::Strength
            if why
                .versions
                .as_ref()
                .is_some_and(|v| !v.deprecated_accepted().is_empty()) =>
        {
            let v = why.versions.as_ref().expect("checked above");
            let names: Vec<&str> = v.deprecated_accepted().iter().map(|v| v.name()).collect();
            let lowest = v.lowest(None).map(|v| v.name()).unwrap_or("not known");
            Outcome::fail(
                format!("the server accepts {} (deprecated by RFC 8996; lowest version {lowest}); its certificate could not be read (see tls.chain [{}])", names.join(" and "), ep.target()),
                format!("Disable TLS 1.0 and TLS 1.1 on the service, so that it accepts TLS 1.2 and 1.3 only (task {task})"),
            )
            .with("endpoint", ep.target())
            .with("lowest_version", lowest)
        }
        _ => Outcome::skip(format!(
            "no certificate to judge: the TLS handshake failed (see tls.chain [{}])",
            ep.target()
        ))
        .with("blocked_by", format!("tls.chain [{}]", ep.target()))
        .because(Reason::NotObservable {
            because: CheckKey::new(TlsCheck::Chain.id(), ep.target()),
        }),
    }
}

/// Why there is no handshake to judge, with what the ClientHellos of each version got.
fn why_not(why: &EndpointError, ep: &TlsEndpoint, no_modern: bool) -> Outcome {
    let task = ep.expect.task;
    let fix = if no_modern {
        format!("Enable TLS 1.2 (or 1.3) on the service and retire older versions (task {task})")
    } else {
        format!(
            "Check that the service offers TLS{} and accepts this client (task {task})",
            match ep.start {
                Start::Direct => "",
                Start::Xmpp { .. } => " through STARTTLS",
                Start::Ldap => " through the StartTLS extended operation",
            }
        )
    };
    let mut o = Outcome::fail(why.message.clone(), fix)
        .with("endpoint", ep.target())
        .with("client_certificate", ep.client_certificate());
    // What the tolerant look and the old-version ClientHellos got instead.
    if let Some(v) = &why.versions {
        for (version, answer) in &v.answers {
            o = o.with(format!("offered_{}", version.name()), answer.to_string());
        }
    }
    if let Unobserved::TimedOut { stage, after } = why.kind {
        o = o.because(Reason::TimedOut {
            after,
            stage: Some(stage),
        });
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Expectation;
    use imp_verify_core::spec::Service;
    use imp_verify_core::{Stage, Status};
    use imp_verify_net::tls::legacy::Version;
    use imp_verify_net::tls::{Refusal, VersionAnswer, Versions};
    use std::time::Duration;

    fn ep(start: Start) -> TlsEndpoint {
        TlsEndpoint {
            service: Service::XmppC2s,
            host: "imp1.lab.test".into(),
            port: 5222,
            address: None,
            start,
            server_name: "lab.test".into(),
            expect: Expectation {
                dns_names: vec!["imp1.lab.test".into()],
                xmpp_domain: None,
                client_auth: false,
                task: "C.11",
            },
            client: None,
        }
    }

    fn xmpp() -> TlsEndpoint {
        ep(Start::Xmpp {
            domain: "lab.test".into(),
            namespace: "jabber:client",
        })
    }

    fn error(kind: Unobserved, versions: Option<Versions>) -> EndpointError {
        EndpointError {
            message: "what happened".into(),
            kind,
            versions,
        }
    }

    fn refused_all() -> Versions {
        Versions {
            answers: [Version::Tls1_0, Version::Tls1_1, Version::Tls1_2]
                .into_iter()
                .map(|v| (v, VersionAnswer::Refused(Refusal::OtherVersion(0x0303))))
                .collect(),
        }
    }

    #[test]
    fn a_stalled_step_times_out_the_chain_check_at_its_stage_and_skips_the_others() {
        let why = error(
            Unobserved::TimedOut {
                stage: Stage::StartTls,
                after: Duration::from_millis(800),
            },
            None,
        );
        let chain = judge_unobserved(TlsCheck::Chain, &why, &xmpp());
        assert_eq!(chain.status, Status::Fail);
        assert_eq!(chain.message, "what happened");
        assert_eq!(
            chain.reason,
            Reason::TimedOut {
                after: Duration::from_millis(800),
                stage: Some(Stage::StartTls)
            }
        );
        assert!(chain
            .remediation
            .as_deref()
            .unwrap()
            .contains("offers TLS through STARTTLS"));
        for check in [
            TlsCheck::Names,
            TlsCheck::Validity,
            TlsCheck::Usage,
            TlsCheck::Strength,
        ] {
            let o = judge_unobserved(check, &why, &xmpp());
            assert_eq!(o.status, Status::Skip, "{check:?}");
            assert_eq!(
                o.reason,
                Reason::NotObservable {
                    because: CheckKey::new("tls.chain", "xmpp-c2s imp1.lab.test:5222")
                }
            );
            assert!(o
                .message
                .contains("see tls.chain [xmpp-c2s imp1.lab.test:5222]"));
        }
    }

    #[test]
    fn a_refused_handshake_is_a_verdict_not_a_timeout() {
        let why = error(
            Unobserved::Handshake(HandshakeFailure::ClientCertificateRequired),
            Some(refused_all()),
        );
        let chain = judge_unobserved(TlsCheck::Chain, &why, &ep(Start::Direct));
        assert_eq!(chain.reason, Reason::Verdict);
        assert!(chain.evidence.iter().any(|(k, _)| k == "offered_TLSv1.0"));
        assert_eq!(
            judge_unobserved(TlsCheck::Strength, &why, &ep(Start::Direct)).status,
            Status::Skip
        );
    }

    #[test]
    fn no_modern_tls_fails_strength_as_well_as_chain() {
        let why = error(
            Unobserved::Handshake(HandshakeFailure::NoModernTls),
            Some(refused_all()),
        );
        for check in [TlsCheck::Chain, TlsCheck::Strength] {
            let o = judge_unobserved(check, &why, &ep(Start::Direct));
            assert_eq!(o.status, Status::Fail, "{check:?}");
            assert!(o
                .remediation
                .as_deref()
                .unwrap()
                .starts_with("Enable TLS 1.2"));
        }
        assert_eq!(
            judge_unobserved(TlsCheck::Usage, &why, &ep(Start::Direct)).status,
            Status::Skip
        );
    }

    #[test]
    fn old_versions_accepted_without_a_certificate_fail_strength() {
        let mut versions = refused_all();
        versions.answers[0].1 = VersionAnswer::Unknown("x".into());
        versions.answers[1].1 = VersionAnswer::Accepted(imp_verify_net::tls::legacy::suite(0xc013));
        let why = error(Unobserved::Prelude, Some(versions));
        let o = judge_unobserved(TlsCheck::Strength, &why, &ep(Start::Direct));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .starts_with("the server accepts TLSv1.1 (deprecated by RFC 8996"),
            "{}",
            o.message
        );
    }
}
