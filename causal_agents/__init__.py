"""cag: train LLM agents the causal way.

An agent's own tokens are interventions (kept in context, never supervised under the
``do`` mask); tokens the world wrote are evidence. See README.md.
"""

__version__ = "0.1.0"
