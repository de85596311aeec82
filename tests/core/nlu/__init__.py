"""Tests of the NLU (bot.core.nlu)."""
