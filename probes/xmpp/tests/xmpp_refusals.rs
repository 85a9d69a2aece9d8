//! What the nodes must refuse, on the real Prosody set as an administrator could leave
//! it, one setting at a time: each variant fails exactly the check that names it, for
//! the reason it names, and no check sends a credential to find out.

mod support;

use imp_verify_core::{CheckResult, Status};
use imp_verify_testlab::harness::get;
use imp_verify_testlab::Lab;
use std::time::Duration;
use support::{no_secret, prosody_variant, xmpp};

/// The checks that did not pass.
fn not_passing(r: &[CheckResult]) -> Vec<String> {
    r.iter()
        .filter(|c| c.outcome.status != Status::Pass)
        .map(|c| format!("{} {:?}: {}", c.key, c.outcome.status, c.outcome.message))
        .collect()
}

#[tokio::test]
async fn each_setting_left_open_fails_the_check_that_names_it() {
    let lab = Lab::isolated();
    let timeout = Duration::from_secs(10);

    // STARTTLS optional and PLAIN before TLS on imp1: any client may send its password
    // in the clear. xmpp.connect still passes (STARTTLS is offered): the refusal check
    // is what says it.
    prosody_variant(&lab, "imp1", Some("cleartext"));
    let r = xmpp(&lab.spec(), timeout).await;
    let tls = get(&r, "xmpp.c2s-tls", "imp1.lab.test");
    assert_eq!(tls.outcome.status, Status::Fail, "{}", tls.outcome.message);
    assert!(tls.outcome.message.contains(":5222 offers SASL PLAIN before TLS, and does not require STARTTLS: a client may send its password in the clear"), "{}", tls.outcome.message);
    let fix = tls.outcome.remediation.as_deref().unwrap();
    assert!(
        fix.contains("Enable XMPP Client To IM/P Service Secure Mode")
            && fix.contains("(task C.11)"),
        "{fix}"
    );
    assert_eq!(not_passing(&r).len(), 1, "{:#?}", not_passing(&r));
    no_secret(&lab, &r);

    // In-band registration open to anyone on imp1.
    prosody_variant(&lab, "imp1", Some("registration"));
    let r = xmpp(&lab.spec(), timeout).await;
    let reg = get(&r, "xmpp.c2s-registration", "imp1.lab.test");
    assert_eq!(reg.outcome.status, Status::Fail, "{}", reg.outcome.message);
    assert!(reg.outcome.message.contains("hands anyone a registration form (XEP-0077) before authentication, asking for username, password: anyone can create an account"), "{}", reg.outcome.message);
    assert!(reg
        .outcome
        .remediation
        .as_deref()
        .unwrap()
        .contains("Turn in-band registration off"));
    assert_eq!(not_passing(&r).len(), 1, "{:#?}", not_passing(&r));

    // imp1 lets a server without a certificate in by dialback; federation, whose
    // servers have certificates, still works.
    prosody_variant(&lab, "imp1", Some("s2s-dialback"));
    let r = xmpp(&lab.spec(), timeout).await;
    let s2s = get(&r, "xmpp.s2s-security", "imp1.lab.test");
    assert_eq!(s2s.outcome.status, Status::Fail, "{}", s2s.outcome.message);
    assert!(s2s.outcome.message.contains("requires TLS, but then lets a server without a certificate in by Server Dialback alone"), "{}", s2s.outcome.message);
    let fix = s2s.outcome.remediation.as_deref().unwrap();
    assert!(
        fix.contains("Security Mode to TLS Required")
            && fix.contains("Require client-side security certificates")
            && fix.contains("(tasks C.14, C.11)"),
        "{fix}"
    );
    assert_eq!(not_passing(&r).len(), 1, "{:#?}", not_passing(&r));
    assert_eq!(
        get(&r, "xmpp.federation", "partner.test").outcome.status,
        Status::Pass
    );

    // Back to the healthy node: every check passes again.
    prosody_variant(&lab, "imp1", None);
    let r = xmpp(&lab.spec(), timeout).await;
    assert!(not_passing(&r).is_empty(), "{:#?}", not_passing(&r));
}
