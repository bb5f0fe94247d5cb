//! academy-exchange-server
