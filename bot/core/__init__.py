"""The core: boundary types, the channel protocol, the router, the NLU, dialogs, notices, i18n.

It never imports an adapter, a handler or the scheduler.
"""
