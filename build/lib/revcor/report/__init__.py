"""Figures, tables and the plots they draw."""
