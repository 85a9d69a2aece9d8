//! The verdicts on a client port's facts: pure functions.

use super::*;

/// "(task C.11)": the secure-communication task of `w`, where XMPP security is set.
fn security(w: Workflow) -> String {
    cite(w, &[Task::SecureCommunication, Task::LicenseUsers])
}

/// What a part of the port that could not be seen makes of a check: a timeout is a
/// failure with its stage, anything else a skip that `xmpp.connect` explains.
fn unseen_outcome(what: &str, u: &Unseen) -> Outcome {
    match u.stalled {
        Some((stage, after)) => Outcome::fail(
            format!("{what} could not be seen: {}", u.why),
            "Check the node's Cisco XCP Connection Manager: see xmpp.connect",
        )
        .because(Reason::TimedOut {
            after,
            stage: Some(stage),
        }),
        None => Outcome::skip(format!(
            "{what} could not be seen: {} (see xmpp.connect)",
            u.why
        )),
    }
}

const SECURE_MODE: &str = "On IM and Presence, System > Security > Settings: check Enable XMPP Client To IM/P Service Secure Mode (clients must use TLS), then restart the Cisco XCP Connection Manager";

/// `xmpp.c2s-tls`: no password can go before TLS, TLS is required, and after it no
/// reversible mechanism unless `plain` allows it.
pub fn judge_tls(f: &C2sFacts, plain: PlainAfterTls, w: Workflow) -> Outcome {
    let at = f.addr.clone().unwrap_or_default();
    let before = match &f.before_tls {
        Err(u) => return unseen_outcome("what the client port offers", u),
        Ok(b) => b,
    };
    let fix = format!("{SECURE_MODE}{}", security(w));
    if !before.mechanisms.is_empty() {
        return Outcome::fail(
            format!(
                "{at} offers SASL {} before TLS{}: a client may send its password in the clear",
                before.mechanisms.join(" "),
                if before.starttls == Some(true) {
                    ""
                } else {
                    ", and does not require STARTTLS"
                }
            ),
            fix,
        )
        .with("before_tls", before);
    }
    match before.starttls {
        None => {
            return Outcome::fail(
                format!("{at} offers no STARTTLS: clients cannot encrypt their stream"),
                fix,
            )
            .with("before_tls", before)
        }
        Some(false) => {
            return Outcome::warn(
                format!("{at} offers STARTTLS but does not require it: clients may go on without TLS (no SASL mechanism is offered before it)"),
                fix,
            )
            .with("before_tls", before)
        }
        Some(true) => {}
    }
    let after = match &f.after_tls {
        Err(u) => {
            return unseen_outcome("what the client port offers after TLS", u)
                .with("before_tls", before)
        }
        Ok(a) => a,
    };
    let reversible = after.features.reversible();
    let o = if !reversible.is_empty() && !plain.allowed() {
        Outcome::warn(
            format!(
                "{at} requires STARTTLS and offers no SASL before it, but after TLS offers {}, which sends the password itself in a reversible form ({})",
                reversible.join(" "),
                plain.describe()
            ),
            format!("Offer clients SCRAM-SHA-1 or SCRAM-SHA-256 instead, or allow PLAIN in the spec (`[xmpp] allow_plain = true`) if IM and Presence authenticates users against LDAP{}", security(w)),
        )
    } else {
        let after_words = if reversible.is_empty() {
            String::new()
        } else {
            format!(
                "; after TLS: {} ({})",
                reversible.join(" "),
                plain.describe()
            )
        };
        Outcome::pass(format!(
            "{at} requires STARTTLS before authentication and offers no SASL mechanism before TLS{after_words}"
        ))
    };
    o.with("before_tls", before)
        .with("after_tls", &after.features)
        .with("plain_after_tls", plain.describe())
}

/// `xmpp.c2s-registration`: nobody may create an account by in-band registration.
pub fn judge_registration(f: &C2sFacts, w: Workflow) -> Outcome {
    let at = f.addr.clone().unwrap_or_default();
    let after = match &f.after_tls {
        Err(u) => return unseen_outcome("the client port after TLS", u),
        Ok(a) => a,
    };
    let advertised = if after.features.register {
        " although it advertises <register/>"
    } else {
        ""
    };
    let o = match &after.registration {
        Err(u) => unseen_outcome("the answer to a registration request", u),
        Ok(Registration::Form(fields)) => Outcome::fail(
            format!(
                "{at} hands anyone a registration form (XEP-0077) before authentication, asking for {}: anyone can create an account",
                if fields.is_empty() { "nothing".into() } else { imp_verify_core::text::cut_list(fields, ", ") }
            ),
            format!("Turn in-band registration off on the node's XMPP service: IM and Presence takes its users from CUCM only (Prosody: allow_registration = false){}", security(w)),
        ),
        Ok(Registration::Refused(condition)) => Outcome::pass(format!(
            "{at} refuses in-band registration before authentication ({condition}){advertised}"
        )),
        Ok(Registration::Ended(said)) => Outcome::pass(format!(
            "{at} ends the stream on a registration request ({}){advertised}",
            said.clone().unwrap_or_else(|| "closed".into())
        )),
    };
    o.with("after_tls", &after.features)
}

/// `xmpp.c2s-domain`: a stream for a domain the node does not serve is refused.
pub fn judge_domain(f: &C2sFacts, w: Workflow) -> Outcome {
    let at = f.addr.clone().unwrap_or_default();
    match &f.unserved {
        Err(u) => unseen_outcome(&format!("the answer to a stream for {UNSERVED_DOMAIN}"), u),
        Ok(Unserved::Refused(condition, text)) => Outcome::pass(format!(
            "{at} refuses a stream for {UNSERVED_DOMAIN}, a domain it does not serve (<{condition}/>{})",
            text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
        )),
        Ok(Unserved::Closed) => Outcome::pass(format!(
            "{at} closes the connection on a stream for {UNSERVED_DOMAIN}, a domain it does not serve"
        )),
        Ok(Unserved::Accepted(features)) => Outcome::warn(
            format!("{at} accepts a stream for {UNSERVED_DOMAIN}, a domain it does not serve, and offers {features}"),
            format!("Have the node answer only for its IM domains (host-unknown for any other): check the domains configured on IM and Presence (Presence > Domains){}", security(w)),
        )
        .with("unserved_features", features),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn features(starttls: Option<bool>, mechanisms: &[&str]) -> Features {
        Features {
            starttls,
            mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
            ..Features::default()
        }
    }

    fn facts(before: Features, after: Features, reg: Registration, unserved: Unserved) -> C2sFacts {
        C2sFacts {
            addr: Some("127.0.0.22:5222".into()),
            before_tls: Ok(before),
            after_tls: Ok(AfterTls {
                features: after,
                verified: true,
                registration: Ok(reg),
            }),
            unserved: Ok(unserved),
        }
    }

    fn healthy() -> C2sFacts {
        facts(
            features(Some(true), &[]),
            features(None, &["PLAIN"]),
            Registration::Refused("service-unavailable".into()),
            Unserved::Refused("host-unknown".into(), None),
        )
    }

    #[test]
    fn the_healthy_port_passes_all_three() {
        let f = healthy();
        let tls = judge_tls(&f, PlainAfterTls::LdapAuthentication, Workflow::C);
        assert_eq!(tls.status, Status::Pass, "{}", tls.message);
        assert!(tls.message.contains("requires STARTTLS before authentication and offers no SASL mechanism before TLS; after TLS: PLAIN (allowed: the spec has an [ldap] directory"), "{}", tls.message);
        assert_eq!(judge_registration(&f, Workflow::C).status, Status::Pass);
        let d = judge_domain(&f, Workflow::C);
        assert!(d.message.contains("refuses a stream for imp-verify.invalid, a domain it does not serve (<host-unknown/>)"), "{}", d.message);
    }

    #[test]
    fn cleartext_plain_fails_naming_the_setting_and_an_optional_tls_warns() {
        let mut f = healthy();
        f.before_tls = Ok(features(Some(false), &["PLAIN"]));
        let o = judge_tls(&f, PlainAfterTls::LdapAuthentication, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("offers SASL PLAIN before TLS, and does not require STARTTLS: a client may send its password in the clear"), "{}", o.message);
        let fix = o.remediation.unwrap();
        assert!(
            fix.contains("Enable XMPP Client To IM/P Service Secure Mode") && fix.contains("C.11"),
            "{fix}"
        );
        f.before_tls = Ok(features(Some(false), &[]));
        assert_eq!(
            judge_tls(&f, PlainAfterTls::Allowed, Workflow::A).status,
            Status::Warn
        );
        f.before_tls = Ok(features(None, &[]));
        assert_eq!(
            judge_tls(&f, PlainAfterTls::Allowed, Workflow::A).status,
            Status::Fail
        );
    }

    #[test]
    fn plain_after_tls_warns_unless_the_spec_allows_it() {
        let f = healthy();
        for (p, status) in [
            (PlainAfterTls::Allowed, Status::Pass),
            (PlainAfterTls::LdapAuthentication, Status::Pass),
            (PlainAfterTls::Refused, Status::Warn),
            (PlainAfterTls::NotAllowed, Status::Warn),
        ] {
            let o = judge_tls(&f, p, Workflow::C);
            assert_eq!(o.status, status, "{p:?}: {}", o.message);
        }
        let mut scram = healthy();
        scram.after_tls.as_mut().unwrap().features = features(None, &["SCRAM-SHA-1"]);
        assert_eq!(
            judge_tls(&scram, PlainAfterTls::NotAllowed, Workflow::C).status,
            Status::Pass
        );
    }

    #[test]
    fn an_open_registration_fails_and_a_refused_one_passes() {
        let mut f = healthy();
        f.after_tls.as_mut().unwrap().registration = Ok(Registration::Form(vec![
            "username".into(),
            "password".into(),
        ]));
        let o = judge_registration(&f, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("asking for username, password: anyone can create an account"),
            "{}",
            o.message
        );
        assert!(o
            .remediation
            .unwrap()
            .contains("allow_registration = false"));
        f.after_tls.as_mut().unwrap().registration =
            Ok(Registration::Ended(Some("<not-authorized/>".into())));
        assert_eq!(judge_registration(&f, Workflow::C).status, Status::Pass);
    }

    #[test]
    fn a_node_that_serves_any_domain_warns_and_unseen_parts_skip_or_time_out() {
        let mut f = healthy();
        f.unserved = Ok(Unserved::Accepted(features(Some(true), &[])));
        assert_eq!(judge_domain(&f, Workflow::C).status, Status::Warn);
        f.after_tls = Err(Unseen {
            why: "TLS after STARTTLS: x".into(),
            stalled: None,
        });
        assert_eq!(judge_registration(&f, Workflow::C).status, Status::Skip);
        f.before_tls = Err(Unseen {
            why: "stalled".into(),
            stalled: Some((Stage::StreamHeader, Duration::from_secs(1))),
        });
        let o = judge_tls(&f, PlainAfterTls::Allowed, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after: Duration::from_secs(1),
                stage: Some(Stage::StreamHeader)
            }
        );
    }
}
