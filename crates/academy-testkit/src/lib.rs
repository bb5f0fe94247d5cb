//! academy-testkit
