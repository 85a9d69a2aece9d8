//! The report a person reads on the terminal.

use crate::analysis::{exposures_phrase, Analysis, Exposure};
use crate::baseline::Changes;
use crate::roots::RootCause;
use crate::text::{clean, fit, fit_visible, wrap};
use crate::{task_order, Collected, Reporter};
use imp_verify_core::catalog::task_title;
use imp_verify_core::coverage::{Coverage, Effect};
use imp_verify_core::{CheckResult, Event, Status, StopReason};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// How the human report looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct HumanOptions {
    /// ANSI colours (decide with [`crate::use_color`]).
    pub color: bool,
    /// A live progress line on stderr while checks run.
    pub progress: bool,
    /// Evidence of passing checks too.
    pub verbose: bool,
    /// Only failures, warnings, the changes since the baseline, the root causes, the
    /// exposures, what was not verified and the summary.
    pub quiet: bool,
    /// The terminal's width in columns: lines are fitted to it (`None`: as long as
    /// they are).
    pub width: Option<usize>,
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
            Event::CheckStarted { key, .. } => {
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
    pub fn render(&self, analysis: &Analysis) -> String {
        render(&self.collected, self.opts, analysis)
    }
}

impl Reporter for HumanReporter {
    fn on_event(&mut self, event: &Event) {
        self.progress(event);
        self.collected.on_event(event);
    }

    fn finish(mut self: Box<Self>, analysis: &Analysis) -> std::io::Result<()> {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let text = self.render(analysis);
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

fn render(c: &Collected, opts: HumanOptions, a: &Analysis) -> String {
    let p = Paint { on: opts.color };
    let mut s = String::new();
    let mut results = c.ordered();
    if opts.quiet {
        results.retain(|r| matches!(r.outcome.status, Status::Fail | Status::Warn));
    }
    if let Some(info) = c.info.as_ref().filter(|_| !opts.quiet) {
        let head = format!(
            "imp-verify: workflow {} ({}), {} check(s), spec {}, at most {} at once per server",
            info.workflow,
            info.workflow.title(),
            info.checks.len(),
            info.spec.display(),
            info.per_server
        );
        let _ = writeln!(s, "{}", p.bold(&fit(&head, opts.width)));
    }
    render_checks(&mut s, &p, opts, &results);
    if let Some(ch) = &a.changes {
        render_changes(&mut s, &p, ch);
    }
    render_root_causes(&mut s, &p, &a.root_causes);
    render_exposures(&mut s, &p, opts.width, &a.exposures);
    if let Some(cov) = &a.coverage {
        render_coverage(&mut s, &p, opts.width, cov);
    }
    render_summary(&mut s, &p, c, a);
    match opts.width {
        Some(w) => s.lines().map(|l| fit_visible(l, w) + "\n").collect(),
        None => s,
    }
}

fn render_checks(s: &mut String, p: &Paint, opts: HumanOptions, results: &[&CheckResult]) {
    // Group by each check's first task.
    let mut groups: Vec<(String, Vec<&CheckResult>)> = Vec::new();
    for r in results {
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
        let _ = writeln!(
            s,
            "\n{}",
            p.bold(&fit(&format!("{task}  {title}"), opts.width))
        );
        for r in group {
            let o = &r.outcome;
            let time = short_duration(r.duration);
            let tries = if r.attempts > 1 {
                format!(" ({} attempts)", r.attempts)
            } else {
                String::new()
            };
            // Status (4), the two leading spaces and the separators: what the message
            // may take of the width.
            let fixed = 2 + 4 + 1 + id_w + 2 + target_w + 2 + 2 + time.len() + tries.len();
            let message = fit(
                &clean(&o.message),
                opts.width.map(|w| w.saturating_sub(fixed).max(20)),
            );
            let _ = writeln!(
                s,
                "  {} {:<id_w$}  {:<target_w$}  {}  {}{}",
                p.status(o.status),
                r.key.id,
                clean(&r.key.target),
                message,
                p.dim(&time),
                tries,
            );
            let detailed = matches!(o.status, Status::Fail | Status::Warn)
                || (opts.verbose && o.status == Status::Pass);
            if detailed {
                render_detail(s, p, opts.width, r);
            }
        }
    }
}

fn render_detail(s: &mut String, p: &Paint, width: Option<usize>, r: &CheckResult) {
    let o = &r.outcome;
    for (k, v) in &o.evidence {
        let lead = format!("         {}: ", clean(k));
        let line = fit(&format!("{lead}{}", clean(v)), width);
        let (key, value) = line.split_at(lead.len().min(line.len()));
        let _ = writeln!(s, "{}{}", p.dim(key), value);
    }
    if let Some(fix) = &o.remediation {
        if o.status != Status::Pass {
            let text = wrap("         fix: ", 14, &clean(fix), width);
            let _ = writeln!(s, "{}", text.replacen("fix:", &p.bold("fix:"), 1));
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

fn render_summary(s: &mut String, p: &Paint, c: &Collected, a: &Analysis) {
    let Some(sum) = &c.summary else {
        return;
    };
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
    if !a.exposures.is_empty() {
        let _ = write!(line, "; {}", exposures_phrase(a.exposures.len()));
    }
    if let Some(cov) = &a.coverage {
        let none = cov.verification_uncovered();
        if !none.is_empty() {
            let _ = write!(
                line,
                "; none of workflow {}'s verification tasks ({}) verified in full",
                cov.workflow,
                none.join(", ")
            );
        } else if !cov.tasks_not_verified().is_empty() {
            let _ = write!(
                line,
                "; not verified: {}",
                cov.tasks_not_verified().join(" ")
            );
        }
    }
    let line = if n.fail > 0 {
        p.wrap("1;31", &line)
    } else if n.warn > 0 || !a.exposures.is_empty() {
        p.wrap("33", &line)
    } else {
        p.wrap("32", &line)
    };
    let _ = writeln!(s, "\n{line}");
    // A refused credential is never retried; the accounts it concerns are named.
    for (account, a) in sum.auth.iter().filter(|(_, a)| a.refused > 0) {
        let _ = writeln!(
            s,
            "{}",
            p.dim(&format!(
                "  {account}: {} authentication(s), {} refused (not retried)",
                a.attempts, a.refused
            ))
        );
    }
}

fn render_exposures(s: &mut String, p: &Paint, width: Option<usize>, exposures: &[Exposure]) {
    if exposures.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n{}",
        p.bold(&format!(
            "{}: what the deployment accepts and must refuse:",
            exposures_phrase(exposures.len())
        ))
    );
    for e in exposures {
        let line = fit(
            &format!(
                "  {} {}: {}",
                e.status.as_str().to_uppercase(),
                clean(&e.key),
                clean(&e.message)
            ),
            width,
        );
        let _ = writeln!(
            s,
            "{}",
            line.replacen(&e.status.as_str().to_uppercase(), &p.status(e.status), 1)
        );
        if let Some(fix) = &e.remediation {
            let text = wrap("         change: ", 17, &clean(fix), width);
            let _ = writeln!(s, "{}", text.replacen("change:", &p.bold("change:"), 1));
        }
    }
}

fn render_coverage(s: &mut String, p: &Paint, width: Option<usize>, cov: &Coverage) {
    if cov.gaps.is_empty() {
        return;
    }
    let tasks = cov.tasks_not_verified();
    let partly = cov.tasks_partly_verified();
    let mut head = "Not verified (the spec does not give what these checks need)".to_string();
    if !tasks.is_empty() {
        let _ = write!(head, "; tasks not verified: {}", tasks.join(" "));
    }
    if !partly.is_empty() {
        let _ = write!(head, "; partly: {}", partly.join(" "));
    }
    let _ = writeln!(s, "\n{}", p.bold(&fit(&format!("{head}:"), width)));
    for g in &cov.gaps {
        let verb = match g.effect {
            Effect::NotPlanned => "not planned",
            Effect::LeftOut => "left out",
            Effect::Skipped => "skipped",
        };
        let line = format!(
            "{} {verb} ({}): {}",
            g.checks.join(", "),
            g.tasks.join(" "),
            g.why
        );
        let _ = writeln!(s, "{}", wrap("  ", 6, &line, width));
        let _ = writeln!(s, "{}", wrap("      add: ", 11, &g.fix, width));
    }
}

fn render_root_causes(s: &mut String, p: &Paint, roots: &[RootCause]) {
    if roots.is_empty() {
        return;
    }
    let skipped: usize = roots.iter().map(|r| r.explains).sum();
    let _ = writeln!(
        s,
        "\n{}",
        p.bold(&format!(
            "{} failure{} explain{} {} skipped check{}:",
            roots.len(),
            if roots.len() == 1 { "" } else { "s" },
            if roots.len() == 1 { "s" } else { "" },
            skipped,
            if skipped == 1 { "" } else { "s" },
        ))
    );
    for r in roots {
        let _ = writeln!(
            s,
            "  {} {}: {} {}",
            p.status(Status::Fail),
            clean(&r.key),
            clean(&r.message),
            p.dim(&format!("({} skipped)", r.explains))
        );
        if let Some(fix) = &r.remediation {
            let _ = writeln!(s, "         {} {}", p.bold("fix:"), clean(fix));
        }
    }
}

fn render_changes(s: &mut String, p: &Paint, ch: &Changes) {
    let when = ch
        .baseline
        .started_at
        .as_deref()
        .map(|t| format!(" of {t}"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "\n{}",
        p.bold(&format!("Changes since {}{when}:", ch.baseline.path))
    );
    let mut any = false;
    if !ch.newly_skipped.is_empty() {
        any = true;
        let _ = writeln!(
            s,
            "  newly skipped ({}): not run, blocked by a failure (see below) or stopped",
            ch.newly_skipped.len()
        );
    }
    let lists = [
        ("newly failing", &ch.newly_failing),
        ("newly warning", &ch.newly_warning),
        ("fixed", &ch.fixed),
        ("still failing", &ch.still_failing),
        ("other changes", &ch.other),
    ];
    for (title, list) in lists {
        if list.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(s, "  {title} ({}):", list.len());
        for c in list {
            let _ = writeln!(
                s,
                "    {} -> {} {}  {}",
                p.status(c.before),
                p.status(c.after),
                clean(&c.key),
                p.dim(&clean(&c.message))
            );
        }
    }
    for (title, list) in [("new checks", &ch.new), ("removed checks", &ch.removed)] {
        if list.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(s, "  {title} ({}):", list.len());
        for c in list {
            let _ = writeln!(s, "    {} {}", p.status(c.status), clean(&c.key));
        }
    }
    if ch.slowdown > 1.05 {
        let _ = writeln!(
            s,
            "  this run's times were {:.2}x the baseline's overall (a busy machine or network): each time is judged against the baseline's scaled by that",
            ch.slowdown
        );
    }
    if !ch.metric_regressions.is_empty() {
        any = true;
        let _ = writeln!(s, "  metric regressions ({}):", ch.metric_regressions.len());
        for m in &ch.metric_regressions {
            let pct = m
                .change_pct
                .map(|x| format!(" ({x:+}%)"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    {} {}: {} -> {}{pct}",
                clean(&m.key),
                m.metric,
                m.before,
                m.after
            );
        }
    }
    if !any {
        let _ = writeln!(s, "  no check changed its verdict; no metric regressed");
    }
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
