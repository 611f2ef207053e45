"""Transcripts and labels: provenance, tagging, renderers, tokenizers, the label builder and token accounting. Imports no torch."""
