//! Signal catalogue (profiles), value cache and the router from logical signals to transports.
