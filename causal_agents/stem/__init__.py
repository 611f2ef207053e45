"""The STEM stream experiment: skills, problems, verifier, grading, stream collection, methods, GRPO, the reproduction."""
