"""Slack chat-ops bot for Apache Airflow: wiring (app, settings, Airflow client, the outbox)."""
