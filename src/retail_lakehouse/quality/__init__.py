"""Data quality: declarative rules, their scores and history, alerts and reports."""
