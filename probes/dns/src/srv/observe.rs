//! Observing an SRV name: its records, then the addresses of its distinct targets, all
//! at once and within the check's time.

use crate::failure::Asked;
use futures::StreamExt;
use imp_verify_net::{Resolver, Srv};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// The most distinct targets whose addresses are asked (a deployment has a few; a
/// hostile or broken zone may list thousands): the others are counted, not asked.
pub const MAX_TARGETS: usize = 32;

/// How many target lookups run at once.
const AT_ONCE: usize = 8;

/// What the DNS says of one SRV name.
#[derive(Debug, Clone, PartialEq)]
pub struct SrvFacts {
    /// The records, sorted by priority then weight.
    pub records: Asked<Vec<Srv>>,
    /// The addresses of each distinct target asked (not ".", at most [`MAX_TARGETS`]),
    /// in name order.
    pub targets: Vec<(String, Asked<Vec<IpAddr>>)>,
    /// Distinct targets beyond [`MAX_TARGETS`], not asked.
    pub targets_not_asked: usize,
    /// The servers asked, for evidence.
    pub resolver: String,
    /// The time the check had.
    pub budget: Duration,
}

/// Asks for `name`'s SRV records and the addresses of their targets before `deadline`.
pub async fn observe_srv(
    resolver: &Resolver,
    name: &str,
    deadline: Instant,
    budget: Duration,
) -> SrvFacts {
    let records = Asked::within(deadline, resolver.lookup_srv(name)).await;
    let mut targets = Vec::new();
    let mut targets_not_asked = 0;
    if let Asked::Done(Ok(records)) = &records {
        let distinct: BTreeSet<&str> = records
            .iter()
            .map(|r| r.target.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        targets_not_asked = distinct.len().saturating_sub(MAX_TARGETS);
        let asked: Vec<String> = distinct
            .into_iter()
            .take(MAX_TARGETS)
            .map(str::to_string)
            .collect();
        targets = futures::stream::iter(asked)
            .map(|t: String| async move {
                let lookup = Asked::within(deadline, resolver.lookup_ip(&t)).await;
                (t, lookup)
            })
            .buffered(AT_ONCE)
            .collect()
            .await;
    }
    SrvFacts {
        records,
        targets,
        targets_not_asked,
        resolver: resolver.servers().to_string(),
        budget,
    }
}
