//! The `academy` command-line tool.
fn main() {}
