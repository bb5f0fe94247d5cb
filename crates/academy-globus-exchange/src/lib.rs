//! academy-globus-exchange
