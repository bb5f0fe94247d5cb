//! One module per group of subcommands.

pub mod auth;
pub mod mailbox;
pub mod message;
pub mod serve;
