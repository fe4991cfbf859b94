"""`make bench`: Gatepass's two clocks (approval to access, expiry overshoot) against the API server's own limit."""
