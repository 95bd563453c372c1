"""Adaptive Card builders: pure functions from run state to card JSON (schema 1.5). May import
``pipeline`` types only."""
