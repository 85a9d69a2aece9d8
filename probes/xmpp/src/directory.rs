//! The directory lookup that explains a refused login, through the run's
//! [`imp_verify_core::UserDirectory`] (the LDAP probe implements it; the binary hands it
//! over, so that this crate does not depend on that one). The look-up goes through the
//! run's ledger: the password the login just had refused is not sent to the directory
//! again (on IM&P the login itself was a directory bind of the user, and a second
//! refusal can lock the account); what is known then is the first refusal.

use crate::login::SaslCondition;
use crate::XmppCtx;
use imp_verify_core::catalog::{first_label, Task};
use imp_verify_core::spec::TestUser;
use imp_verify_core::{CheckCtx, Outcome, UserVerdict};

/// A login refused with not-authorized says nothing of why (servers do not tell a wrong
/// password from a missing account). When the spec has the directory IM&P authenticates
/// against, ask it: is the user there, and does it take the same password? Any other
/// refusal, or no directory, leaves `o` as it is.
pub async fn explain_refusal(
    c: &XmppCtx,
    user: &TestUser,
    node: &str,
    condition: SaslCondition,
    accepted_before: bool,
    o: Outcome,
    cx: &CheckCtx,
) -> Outcome {
    if condition != SaslCondition::NotAuthorized {
        return o;
    }
    let uid = &user.user_id;
    let (login_task, _) = crate::tasks(c.spec.workflow);
    let w = c.spec.workflow;
    let head = format!("{} is refused on {node}", c.spec.jid_of(user));
    if accepted_before {
        return Outcome {
            message: format!("{head}: SASL not-authorized, though a server accepted the same password earlier in this run: IM and Presence refuses the user itself on {node}"),
            remediation: Some(format!("On CUCM, check that the user is licensed and enabled for IM and Presence and assigned to this node ({})", crate::login_tasks(w, &[Task::EndUsers]))),
            ..o
        }
        .with("directory", "not asked: the password was accepted earlier in this run");
    }
    let Some(directory) = c.directory.as_ref() else {
        return o;
    };
    if c.spec.ldap.is_none() {
        return o;
    }
    let secure = first_label(w, &[Task::SecureLdap, Task::LdapForJabber]);
    let integrate = first_label(w, &[Task::LdapClients, Task::LdapForJabber]);
    let asked = directory.look_up(&c.spec, uid, cx.remaining(), &cx.auth, &cx.credentials);
    let (msg, fix, seen) = match asked.await {
        Ok(UserVerdict::Missing { base, filter }) => (
            format!("{head}: SASL not-authorized: the account does not exist: the directory has no {uid} under {base} with {filter}"),
            format!("Add the user to the directory and let CUCM sync it (or correct the user id in the spec), then enable it for IM and Presence (tasks {integrate}, {login_task})"),
            format!("no entry for {uid}"),
        ),
        // An account state Active Directory names (locked, disabled, expired, must
        // change its password): the directory's own reason, not "a wrong password".
        Ok(UserVerdict::AccountState { dn, why, fix }) => {
            (
                format!("{head}: SASL not-authorized: the directory refuses {dn} too: {why}"),
                format!("{fix} ({})", crate::login_tasks(w, &[])),
                format!("{dn}: {why}"),
            )
        }
        Ok(UserVerdict::WrongPassword { dn }) => (
            format!("{head}: SASL not-authorized: the password is wrong: the directory refuses it too for {dn} (invalidCredentials)"),
            format!("Correct the test user's password in the spec's password source, or reset it in the directory (tasks {integrate}, {login_task})"),
            format!("{dn} refuses the password: invalidCredentials (49)"),
        ),
        Ok(UserVerdict::Accepted { dn }) => (
            format!("{head}: SASL not-authorized, though the directory accepts the same password for {dn}: IM and Presence refuses the user itself"),
            format!("On CUCM, check that the user is synced from this directory, licensed and enabled for IM and Presence and assigned to this node, and that LDAP user authentication points at this directory ({})", crate::login_tasks(w, &[Task::LdapClients, Task::LdapForJabber, Task::EndUsers])),
            format!("{dn} accepts the password"),
        ),
        Ok(UserVerdict::Refused { dn, name, code, text }) => (
            format!("{head}: SASL not-authorized: the directory refuses {dn} too: {name} ({code}) {text}"),
            format!("Check the user's account in the directory (locked, expired, disabled) (tasks {integrate}, {login_task})"),
            format!("{dn} refuses the bind: {name} ({code})"),
        ),
        Ok(UserVerdict::NotTried { dn, refusal }) => {
            let entry = dn.map(|d| format!(" (the directory has {d})")).unwrap_or_default();
            (
                format!("{head}: SASL not-authorized: the password is wrong, or the account does not exist or is not enabled for IM and Presence{entry}; the directory was not asked with the password again, since {} refused it in this run ({}) and a second refusal can lock the account", refusal.by_check, refusal.words),
                format!("Check the test user's password in the spec's password source and in the directory, and that the user is synced, licensed for IM and Presence and assigned to this node ({})", crate::login_tasks(w, &[Task::LdapClients, Task::LdapForJabber, Task::EndUsers])),
                format!("not asked again: {} refused the password first", refusal.by_check),
            )
        }
        Err(e) => (
            format!("{head}: SASL not-authorized, and the directory could not be asked ({e}): if IM and Presence authenticates users against it, that is why"),
            format!("See ldap.connect and ldap.bind: LDAP user authentication needs the directory reachable over TLS with a working service account (tasks {secure}, {integrate}, {login_task})"),
            format!("not asked: {e}"),
        ),
    };
    Outcome {
        message: msg,
        remediation: Some(fix),
        ..o
    }
    .with("directory", seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::spec::{Spec, Workflow};
    use std::sync::Arc;

    /// Every variable set, to a test password.
    struct AnyPassword;

    impl imp_verify_core::spec::Env for AnyPassword {
        fn var(&self, _: &str) -> Option<String> {
            Some("a test password".into())
        }
    }

    #[tokio::test]
    async fn a_password_accepted_earlier_in_the_run_makes_the_refusal_the_nodes_own() {
        let spec = Spec::parse(
            "workflow = \"C\"\ndomains = [\"d.test\"]\n[[clusters]]\nname = \"c\"\ndomain = \"d.test\"\n[[clusters.nodes]]\nfqdn = \"n.d.test\"\nrole = \"imp\"\n[[test_users]]\nuser_id = \"alice\"\nhome_node = \"n.d.test\"\npassword_env = \"IMPV_TEST_DIRECTORY_PW\"\n",
            std::path::Path::new("x.toml"),
            &AnyPassword,
        )
        .unwrap();
        let c = XmppCtx::new(&Arc::new(spec));
        let cx = CheckCtx::standalone(std::time::Duration::from_secs(1), Workflow::C);
        let o = Outcome::fail("refused", "fix");
        let user = c.user("alice");
        let o = explain_refusal(
            &c,
            user,
            "n.d.test",
            SaslCondition::NotAuthorized,
            true,
            o,
            &cx,
        )
        .await;
        assert!(o.message.contains("SASL not-authorized, though a server accepted the same password earlier in this run: IM and Presence refuses the user itself on n.d.test"), "{}", o.message);
        assert!(o
            .remediation
            .unwrap()
            .contains("licensed and enabled for IM and Presence"));
        // Any other condition is left as the login's verdict said it.
        let o = explain_refusal(
            &c,
            user,
            "n.d.test",
            SaslCondition::TemporaryAuthFailure,
            true,
            Outcome::fail("m", "f"),
            &cx,
        )
        .await;
        assert_eq!(o.message, "m");
    }
}
