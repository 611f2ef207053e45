"""The truth experiment: dialogues, probes, the two-hypothesis example, the reproduction."""
