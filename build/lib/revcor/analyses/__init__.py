"""Analyses built on the core: attacks, backdoors, single units (STA/STC), layer activations, microstimulation."""
