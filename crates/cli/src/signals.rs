//! SIGINT (Ctrl-C), SIGTERM (what CI sends on a timeout or a cancel) and SIGHUP (a
//! closed terminal) all stop the run the same way: the runner is told through the
//! interrupt token, running checks are marked, and the reports are still written
//! (exit 3). A second signal ends the process at once.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// The exit code of an interrupted run.
pub const INTERRUPTED: u8 = 3;

/// Installs the handlers (before the run starts) and returns at once; `interrupt` is
/// cancelled on the first signal. Fails only if a handler cannot be installed.
pub fn install(interrupt: CancellationToken) -> std::io::Result<()> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut seen = 0u32;
        loop {
            let name = tokio::select! {
                Some(()) = int.recv() => "SIGINT",
                Some(()) = term.recv() => "SIGTERM",
                Some(()) = hup.recv() => "SIGHUP",
                else => return,
            };
            seen += 1;
            if seen == 1 {
                eprintln!(
                    "imp-verify: {name}: stopping; the reports are being written (a second signal exits at once)"
                );
                interrupt.cancel();
            } else {
                eprintln!("imp-verify: {name} again: exiting now, reports not written");
                std::process::exit(INTERRUPTED.into());
            }
        }
    });
    Ok(())
}
