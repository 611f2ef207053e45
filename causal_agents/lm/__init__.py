"""The language model: the one loader (loader), the one batched decoder (decode), log-prob
scoring (score) and the embedded tiny model."""
