"""AC-LSCM: action-conditioned latent structural causal models, their baselines, a lagged-SCM
simulator that exposes the true dynamics, a planner with explicit deferral, and an evaluation
that scores the planner by the true outcome as well as by the original paper's action labels."""
