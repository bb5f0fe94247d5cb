//! Human and JSON output: tables and colours for people (colours only on a
//! terminal, never with `NO_COLOR`), one compact JSON document per line
//! with `--json`.

use std::io::{IsTerminal as _, Write as _};

use serde_json::Value;

use crate::error::CliError;

/// A terminal colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Success, active.
    Green,
    /// Warnings, inactive.
    Yellow,
    /// Errors, terminated.
    Red,
    /// Identifiers, headings.
    Cyan,
    /// Secondary text.
    Dim,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Green => "32",
            Colour::Yellow => "33",
            Colour::Red => "31",
            Colour::Cyan => "36",
            Colour::Dim => "2",
        }
    }
}

/// Where and how a command prints its results.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
    colour: bool,
    colour_stderr: bool,
    terminal: bool,
}

fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

impl Output {
    /// Output for `--json` (or not), colours decided by the terminal.
    pub fn new(json: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        Output {
            json,
            colour: !json && terminal && colour_allowed(),
            colour_stderr: std::io::stderr().is_terminal() && colour_allowed(),
            terminal,
        }
    }

    /// True with `--json`.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// True when stdout is a terminal and the output is for people (used
    /// to decide on progress bars).
    pub fn interactive(&self) -> bool {
        self.terminal && !self.json
    }

    /// `text` in `colour` when colours are on.
    pub fn paint(&self, text: impl std::fmt::Display, colour: Colour) -> String {
        if self.colour {
            format!("\x1b[{}m{text}\x1b[0m", colour.code())
        } else {
            text.to_string()
        }
    }

    /// Prints one line to stdout. A closed stdout (e.g. `| head`) is not an
    /// error worth reporting.
    pub fn line(&self, text: impl std::fmt::Display) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Prints one compact JSON document on its own line.
    pub fn json(&self, value: &Value) {
        self.line(value);
    }

    /// Prints `value` with `--json`, else the human text made by `human`.
    pub fn emit(&self, value: &Value, human: impl FnOnce() -> String) {
        if self.json {
            self.json(value);
        } else {
            let text = human();
            if !text.is_empty() {
                self.line(text.trim_end_matches('\n'));
            }
        }
    }

    /// Aligned `key: value` lines.
    pub fn fields(&self, pairs: &[(&str, String)]) -> String {
        let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        pairs
            .iter()
            .map(|(k, v)| {
                let key = format!("{k:width$}");
                format!("{}  {v}\n", self.paint(key, Colour::Dim))
            })
            .collect()
    }

    /// A table with a header row. Only the last column may hold coloured
    /// text (escape codes would break the alignment).
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            // Escape codes would count as width (comfy-table's ANSI
            // support is off), so only the last column may be coloured.
            .set_header(header.iter().map(|h| h.to_uppercase()));
        for row in rows {
            table.add_row(row);
        }
        table
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Reports an error on stderr: `error: …` for people, a JSON object
    /// `{"error": kind, "message": …, "exit_code": n}` with `--json`.
    pub fn error(&self, err: &CliError) {
        let mut out = std::io::stderr().lock();
        if self.json {
            let v = serde_json::json!({
                "error": err.kind(),
                "message": err.chain(),
                "exit_code": err.exit_code(),
            });
            let _ = writeln!(out, "{v}");
        } else {
            let prefix = if self.colour_stderr {
                "\x1b[31merror:\x1b[0m"
            } else {
                "error:"
            };
            let _ = writeln!(out, "{prefix} {}", err.chain());
        }
    }

    /// A note for people on stderr (never with `--json`).
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.json {
            let mut out = std::io::stderr().lock();
            let _ = writeln!(out, "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_has_no_escapes() {
        let o = Output {
            json: false,
            colour: false,
            colour_stderr: false,
            terminal: false,
        };
        assert_eq!(o.paint("x", Colour::Red), "x");
        let t = o.table(&["id", "status"], vec![vec!["a".into(), "ACTIVE".into()]]);
        assert!(t.contains("ID"));
        assert!(t.contains("ACTIVE"));
        assert!(!t.contains('\x1b'));
        let coloured = Output { colour: true, ..o };
        assert_eq!(coloured.paint("x", Colour::Red), "\x1b[31mx\x1b[0m");
    }
}
