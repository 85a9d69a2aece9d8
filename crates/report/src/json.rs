//! The JSON report (format: `crates/report/JSON.md`).

use crate::{write_atomically, Collected, Reporter};
use imp_verify_core::{Event, StopReason};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Writes every check and a summary as one JSON document.
pub struct JsonReporter {
    path: PathBuf,
    collected: Collected,
}

impl JsonReporter {
    /// A report written to `path` at the end of the run.
    pub fn new(path: PathBuf) -> Self {
        JsonReporter {
            path,
            collected: Collected::default(),
        }
    }

    /// The document (what `finish` writes).
    pub fn document(&self) -> Value {
        document(&self.collected)
    }
}

impl Reporter for JsonReporter {
    fn on_event(&mut self, event: &Event) {
        self.collected.on_event(event);
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        let mut text =
            serde_json::to_string_pretty(&self.document()).map_err(std::io::Error::other)?;
        text.push('\n');
        write_atomically(&self.path, text.as_bytes())
    }
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

pub(crate) fn document(c: &Collected) -> Value {
    let checks: Vec<Value> = c
        .ordered()
        .into_iter()
        .map(|r| {
            let o = &r.outcome;
            let metrics: Map<String, Value> = o
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            json!({
                "id": r.key.id,
                "area": r.area.as_str(),
                "target": r.key.target,
                "tasks": r.tasks,
                "status": o.status.as_str(),
                "message": o.message,
                "evidence": o.evidence.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                "remediation": o.remediation,
                "duration_ms": ms(r.duration),
                "attempts": r.attempts,
                "metrics": metrics,
            })
        })
        .collect();
    let (started_at, wall_ms, stopped, counts) = match &c.summary {
        Some(s) => (
            Some(humantime::format_rfc3339_millis(s.started_at).to_string()),
            Some(ms(s.wall)),
            s.stopped.map(|r| match r {
                StopReason::Deadline => "deadline",
                StopReason::Interrupted => "interrupted",
            }),
            s.counts,
        ),
        None => (None, None, None, Default::default()),
    };
    json!({
        "version": 1,
        "spec": c.info.as_ref().map(|i| i.spec.display().to_string()),
        "workflow": c.info.as_ref().map(|i| i.workflow.letter()),
        "started_at": started_at,
        "wall_ms": wall_ms,
        "stopped": stopped,
        "summary": {
            "total": counts.total(),
            "pass": counts.pass,
            "warn": counts.warn,
            "fail": counts.fail,
            "skip": counts.skip,
        },
        "checks": checks,
    })
}
