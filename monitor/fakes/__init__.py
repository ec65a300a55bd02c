"""Fake platforms on loopback for the demo and the tests: real HTTP servers on 127.0.0.1
that answer with the recorded response shapes of the Graph API and the X API v2."""
