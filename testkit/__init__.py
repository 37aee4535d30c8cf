"""What the tests and the benchmarks share: a dashboard in Chromium, a Flower federation on
loopback. Neither imports the other; both import this."""
