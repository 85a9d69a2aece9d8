//! The report a person reads on the terminal.

use crate::{task_order, Collected, Reporter};
use imp_verify_core::catalog::task_title;
use imp_verify_core::{CheckResult, Event, Status, StopReason};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// How the human report looks.
#[derive(Debug, Clone, Copy)]
pub struct HumanOptions {
    /// ANSI colours (decide with [`crate::use_color`]).
    pub color: bool,
    /// A live progress line on stderr while checks run.
    pub progress: bool,
    /// Evidence of passing checks too.
    pub verbose: bool,
}

/// The terminal report: grouped by workflow task, one line a check, the evidence and
/// fix under each failure and warning, and a summary line.
pub struct HumanReporter {
    out: Box<dyn Write + Send>,
    opts: HumanOptions,
    collected: Collected,
    bar: Option<ProgressBar>,
    running: BTreeSet<String>,
}

impl HumanReporter {
    /// A report written to `out` (usually stdout) at the end of the run.
    pub fn new(out: Box<dyn Write + Send>, opts: HumanOptions) -> Self {
        HumanReporter {
            out,
            opts,
            collected: Collected::default(),
            bar: None,
            running: BTreeSet::new(),
        }
    }

    fn progress(&mut self, event: &Event) {
        if !self.opts.progress {
            return;
        }
        match event {
            Event::RunStarted(info) => {
                let bar = ProgressBar::with_draw_target(
                    Some(info.checks.len() as u64),
                    ProgressDrawTarget::stderr(),
                );
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
                        .expect("a valid template"),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bar = Some(bar);
            }
            Event::CheckStarted { key } => {
                self.running.insert(key.to_string());
            }
            Event::CheckFinished(r) => {
                self.running.remove(&r.key.to_string());
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
            }
            Event::CheckRetrying { .. } => {}
            Event::RunFinished(_) => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                return;
            }
        }
        if let Some(b) = &self.bar {
            let names: Vec<&str> = self.running.iter().map(String::as_str).take(3).collect();
            let more = self.running.len().saturating_sub(3);
            let mut msg = names.join(", ");
            if more > 0 {
                let _ = write!(msg, " +{more}");
            }
            b.set_message(msg);
        }
    }

    /// Renders the whole report (what `finish` writes).
    pub fn render(&self) -> String {
        render(&self.collected, self.opts)
    }
}

impl Reporter for HumanReporter {
    fn on_event(&mut self, event: &Event) {
        self.progress(event);
        self.collected.on_event(event);
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let text = self.render();
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn status(&self, s: Status) -> String {
        match s {
            Status::Pass => self.wrap("32", "PASS"),
            Status::Warn => self.wrap("33", "WARN"),
            Status::Fail => self.wrap("1;31", "FAIL"),
            Status::Skip => self.wrap("2", "SKIP"),
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

/// Text from a server may hold anything: no control characters reach the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// A duration as a person reads it: `850us`, `12ms`, `1.2s`, `2m05s`.
pub(crate) fn short_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{}ms", us / 1000)
    } else if us < 60_000_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn render(c: &Collected, opts: HumanOptions) -> String {
    let p = Paint { on: opts.color };
    let mut s = String::new();
    let results = c.ordered();
    if let Some(info) = &c.info {
        let _ = writeln!(
            s,
            "{}",
            p.bold(&format!(
                "imp-verify: workflow {} ({}), {} check(s), spec {}",
                info.workflow,
                info.workflow.title(),
                info.checks.len(),
                info.spec.display()
            ))
        );
    }
    // Group by each check's first task.
    let mut groups: Vec<(String, Vec<&CheckResult>)> = Vec::new();
    for r in &results {
        let task = r.tasks.first().copied().unwrap_or("-").to_string();
        match groups.iter_mut().find(|(t, _)| *t == task) {
            Some((_, v)) => v.push(r),
            None => groups.push((task, vec![r])),
        }
    }
    groups.sort_by_key(|(t, _)| task_order(t));
    let id_w = results.iter().map(|r| r.key.id.len()).max().unwrap_or(0);
    let target_w = results
        .iter()
        .map(|r| r.key.target.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for (task, group) in groups {
        let title = task_title(&task).unwrap_or("");
        let _ = writeln!(s, "\n{}", p.bold(&format!("{task}  {title}")));
        for r in group {
            let o = &r.outcome;
            let _ = writeln!(
                s,
                "  {} {:<id_w$}  {:<target_w$}  {}  {}",
                p.status(o.status),
                r.key.id,
                clean(&r.key.target),
                clean(&o.message),
                p.dim(&short_duration(r.duration)),
            );
            let detailed = matches!(o.status, Status::Fail | Status::Warn)
                || (opts.verbose && o.status == Status::Pass);
            if detailed {
                for (k, v) in &o.evidence {
                    let _ = writeln!(s, "         {}: {}", p.dim(&clean(k)), clean(v));
                }
                if let Some(fix) = &o.remediation {
                    if o.status != Status::Pass {
                        let _ = writeln!(s, "         {} {}", p.bold("fix:"), clean(fix));
                    }
                }
                if r.tasks.len() > 1 {
                    let _ = writeln!(
                        s,
                        "         {}",
                        p.dim(&format!("also verifies {}", r.tasks[1..].join(" ")))
                    );
                }
            }
        }
    }
    if let Some(sum) = &c.summary {
        let n = sum.counts;
        let mut line = format!(
            "{} check(s): {} passed, {} warned, {} failed, {} skipped in {}",
            n.total(),
            n.pass,
            n.warn,
            n.fail,
            n.skip,
            short_duration(sum.wall)
        );
        match sum.stopped {
            Some(StopReason::Deadline) => line.push_str(" (stopped: the run deadline passed)"),
            Some(StopReason::Interrupted) => line.push_str(" (interrupted)"),
            None => {}
        }
        let line = if n.fail > 0 {
            p.wrap("1;31", &line)
        } else if n.warn > 0 {
            p.wrap("33", &line)
        } else {
            p.wrap("32", &line)
        };
        let _ = writeln!(s, "\n{line}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(short_duration(Duration::from_micros(850)), "850us");
        assert_eq!(short_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(short_duration(Duration::from_millis(1230)), "1.2s");
        assert_eq!(short_duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(
            clean("ok\x1b[2Jgone\r\n"),
            "ok\u{fffd}[2Jgone\u{fffd}\u{fffd}"
        );
    }
}
