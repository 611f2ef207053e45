"""Training: config, examples and step plans, the loop, run directories."""
