"""Evaluation of trained checkpoints on test data: rollouts against the reference with registry losses and physical
measures (physics, metrics, rollouts), a report as JSON, CSV and plots (report, plots), and pairs of frames (pair)."""
