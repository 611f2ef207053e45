"""The language model: loading and the embedded tiny model."""
