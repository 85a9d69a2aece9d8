//! `xmpp.login` and `xmpp.ha`: a test user logs in on its home node, or on the
//! redundancy peer of it (the failover target); a refusal is explained by the directory.

use crate::login::{failure_outcome, login_test_user, LoginFailure, LoginResult};
use crate::scene::budget;
use crate::stanzas::ms;
use crate::Ctx;
use imp_verify_core::{CheckCtx, Outcome};
use std::time::{Duration, Instant};

/// The check: `uid` logs in on `node`.
pub async fn check(c: &Ctx, uid: &str, node: &str, cx: CheckCtx) -> Outcome {
    let user = c.user(uid);
    let deadline = Instant::now() + budget(&cx);
    match login_test_user(c, user, node, deadline).await {
        LoginResult::Online(online) => {
            let bound = online.session.jid().clone();
            online.session.close(Duration::from_secs(1)).await;
            Outcome::pass(format!(
                "{uid} logs in on {node} with {} and binds {bound}",
                online.mechanism
            ))
            .with("jid", bound)
            .with("node", node)
            .with("sasl_mechanism", online.mechanism)
            .metric("login_ms", ms(online.took))
        }
        LoginResult::Failed(e) => {
            let (task, _) = crate::tasks(c.spec.workflow);
            let o = failure_outcome(&c.spec.jid_of(user), node, &e, task);
            match e {
                LoginFailure::Refused { condition, .. } => {
                    let left = deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(500));
                    crate::directory::explain_refusal(c, user, node, condition, o, left).await
                }
                _ => o,
            }
        }
    }
}
