"""Scheduled jobs: bills, arrears, festivals, warranty expiry, announcements, escalation."""
