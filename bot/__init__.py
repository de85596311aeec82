"""Guanjia (管家): a chat-bot front desk for residential property companies."""

__version__ = "0.1.0"
