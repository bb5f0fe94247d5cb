//! academy-globus-client
