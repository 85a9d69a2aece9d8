//! Judging an SRV name's records against what the deployment needs: pure functions of
//! [`SrvExpect`] and [`SrvFacts`], unit-tested with synthetic facts.

use super::observe::SrvFacts;
use crate::failure::{self, out_of_time, Asked, Wanted};
use imp_verify_core::text::{cut_list, peer_text};
use imp_verify_core::{Outcome, Reason, Stage};
use imp_verify_net::{DnsError, Srv};
use std::collections::BTreeSet;

/// What the records of one SRV name must look like.
#[derive(Debug, Clone, PartialEq)]
pub struct SrvExpect {
    /// The SRV name, e.g. `_xmpp-client._tcp.lab.test`.
    pub name: String,
    /// The hosts that should be targets (lower case), with their port.
    pub targets: Vec<(String, u16)>,
    /// Whether every expected target must be there (else a missing one warns).
    pub all_required: bool,
    /// Whether a target outside `targets` fails (else it is only reported).
    pub strangers_fail: bool,
    /// The workflow tasks to name in a fix, as text (`task C.8`).
    pub task: String,
    /// The high-availability task of the workflow, for a missing node (`C.9`).
    pub ha_task: Option<&'static str>,
    /// What the record is for, in the administrator's words.
    pub purpose: &'static str,
    /// Presence redundancy groups whose nodes must all be targets (name, nodes).
    pub groups: Vec<(String, Vec<String>)>,
}

impl SrvExpect {
    /// The expected targets as a fix names them.
    fn expected_text(&self) -> String {
        if self.targets.is_empty() {
            "at least one record whose target resolves".to_string()
        } else {
            cut_list(self.targets.iter().map(|(h, p)| format!("{h}:{p}")), ", ")
        }
    }
}

/// The records as zone lines, cut with a count.
pub(crate) fn show(records: &[Srv]) -> String {
    cut_list(records.iter().map(|r| peer_text(&r.to_string())), "; ")
}

/// The verdict on an SRV name.
pub fn judge_srv(e: &SrvExpect, f: &SrvFacts) -> Outcome {
    let expected_text = e.expected_text();
    let records = match &f.records {
        Asked::OutOfTime => {
            return Outcome::fail(
                out_of_time(&e.name, f.budget),
                format!(
                    "Check that the DNS servers named in the spec are reachable ({})",
                    e.task
                ),
            )
            .with("name", &e.name)
            .with("resolver", &f.resolver)
            .because(Reason::TimedOut {
                after: f.budget,
                stage: Some(Stage::DnsQuery),
            })
        }
        Asked::Done(Err(err)) => return lookup_failed(e, f, err, &expected_text),
        Asked::Done(Ok(r)) => r,
    };
    let (failures, warnings, timed_out) = problems(e, f, records);
    let mut o = if !failures.is_empty() {
        // Every problem in one message: what fails, then what alone would only warn.
        Outcome::fail(
            format!(
                "{}: {}",
                e.name,
                cut_list(failures.iter().chain(&warnings), "; ")
            ),
            format!(
                "Make the SRV records of {} list exactly {} so that {} ({})",
                e.name, expected_text, e.purpose, e.task
            ),
        )
    } else if !warnings.is_empty() {
        Outcome::warn(
            format!("{}: {}", e.name, cut_list(&warnings, "; ")),
            format!(
                "Add a record for each node so that {} even when one node is down ({}{})",
                e.purpose,
                e.task,
                e.ha_task
                    .map(|t| format!("; high availability, task {t}"))
                    .unwrap_or_default()
            ),
        )
    } else {
        Outcome::pass(format!(
            "{} lists {}",
            e.name,
            cut_list(
                records
                    .iter()
                    .map(|r| format!("{}:{}", peer_text(&r.target), r.port)),
                ", "
            )
        ))
    };
    if timed_out {
        o = o.because(Reason::TimedOut {
            after: f.budget,
            stage: Some(Stage::DnsQuery),
        });
    }
    for (group, members) in &e.groups {
        let absent: Vec<&str> = members
            .iter()
            .filter(|m| !records.iter().any(|r| r.target == **m))
            .map(String::as_str)
            .collect();
        let state = if absent.is_empty() {
            "both nodes present".to_string()
        } else {
            format!("{} absent: no failover for its users", absent.join(", "))
        };
        o = o.with(format!("redundancy group {group}"), state);
    }
    if f.targets_not_asked > 0 {
        o = o.with("targets_not_resolved", f.targets_not_asked);
    }
    o.with("name", &e.name)
        .with("records", show(records))
        .with("expected", &expected_text)
        .with("resolver", &f.resolver)
        .metric("record_count", records.len() as f64)
}

/// The SRV question itself failed: absent records, a loop, a server that failed.
fn lookup_failed(e: &SrvExpect, f: &SrvFacts, err: &DnsError, expected_text: &str) -> Outcome {
    let fix = if err.is_absent() {
        failure::alias_fix(err, &e.name, Wanted::Srv, &e.task).unwrap_or_else(|| {
            format!(
                "Publish the SRV records {} in the deployment's DNS, one per target ({}; {})",
                e.name, expected_text, e.task
            )
        })
    } else {
        failure::server_fix(err, &e.name, Wanted::Srv, &f.resolver, &e.task)
    };
    Outcome::fail(format!("{}: {err}", e.name), fix)
        .with("name", &e.name)
        .with("expected", expected_text)
        .with("resolver", &f.resolver)
}

/// What fails and what warns in `records`, and whether a target's lookup ran out of
/// time.
fn problems(e: &SrvExpect, f: &SrvFacts, records: &[Srv]) -> (Vec<String>, Vec<String>, bool) {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    // Target "." (RFC 2782): the domain says the service is decidedly not offered.
    if records.iter().any(|r| r.target.is_empty()) {
        failures.push(
            "a record with target \".\" says the service is not offered in this domain".to_string(),
        );
    }
    // Strangers and wrong ports.
    for r in records.iter().filter(|r| !r.target.is_empty()) {
        match e.targets.iter().find(|(h, _)| *h == r.target) {
            Some((_, port)) if *port != r.port => failures.push(format!(
                "{} is listed with port {}, the spec expects {}",
                r.target, r.port, port
            )),
            Some(_) => {}
            None if e.strangers_fail => failures.push(format!(
                "{} is not a node of the deployment for this record",
                peer_text(&r.target)
            )),
            None => {}
        }
    }
    // Missing nodes.
    let listed: BTreeSet<&str> = records.iter().map(|r| r.target.as_str()).collect();
    let missing: Vec<&str> = e
        .targets
        .iter()
        .map(|(h, _)| h.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|h| !listed.contains(h))
        .collect();
    if !missing.is_empty() {
        let text = format!("{} missing", missing.join(", "));
        if e.all_required {
            failures.push(text);
        } else {
            warnings.push(text);
        }
    }
    // Every target resolves.
    let mut timed_out = false;
    for (target, lookup) in &f.targets {
        match lookup {
            Asked::Done(Ok(_)) => {}
            Asked::Done(Err(err)) => failures.push(format!(
                "target {} does not resolve: {err}",
                peer_text(target)
            )),
            Asked::OutOfTime => {
                timed_out = true;
                failures.push(format!("target {}", out_of_time(target, f.budget)));
            }
        }
    }
    (failures, warnings, timed_out)
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
