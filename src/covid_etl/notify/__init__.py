"""Notifications: one renderer (:mod:`.render`) and channel adapters (:mod:`.channels`)."""
