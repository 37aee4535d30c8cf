"""Privacy: which mechanism a run uses, DP-SGD at the hospitals, DP on the aggregate, the accounting,
the membership-inference audit, and the figures the Privacy page reads.

- mechanism: the run's privacy choice, for the server (strategy) and its notices.
- dp_sgd: patient-level DP-SGD, a hospital that clips and noises every example's gradient.
- dp_step: one DP-SGD step in TensorFlow (per-example gradients, clipping, noise).
- dp_strategy: hospital-level DP, a strategy wrapper that clips updates and noises the mean.
- accounting: epsilon from dp-accounting (RDP), and the noise for a target epsilon.
- audit: the loss-threshold membership-inference attack on a run's checkpoint.
- report: the privacy figures of a run, from the store only (no TensorFlow).
"""
