"""``./scripts/demo``: the bot against a local Airflow 3, in the terminal, without Slack."""
