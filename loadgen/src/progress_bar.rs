//! A progress bar with an ETA for each phase (indicatif), drawn on standard error only when it
//! is a terminal: CI logs get the `loadgen:` lines and nothing else.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar for a phase of `total` records; hidden when standard error is not a terminal.
pub fn phase(label: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>28} [{bar:30}] {human_pos:>11}/{human_len} records  {per_sec:>14}  ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_hidden_off_a_terminal_and_count() {
        // Under `cargo test` standard error is captured: not a terminal.
        let bar = phase("native produce", 100);
        bar.set_position(40);
        assert_eq!(bar.position(), 40);
        assert_eq!(bar.length(), Some(100));
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            assert!(bar.is_hidden());
        }
        bar.finish_and_clear();
    }
}
