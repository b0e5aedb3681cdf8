"""``python -m bot doctor``: check a setup before anyone types ``/airflow`` in Slack.

One line per check, ``ok`` or what to fix: the settings, the config (every problem by its
path), the state store, the Slack token and its scopes, each deployment (reachable, version,
credentials, DAGs, clock), and whether ``manifest.yml`` declares what the code handles. The
exit status is non-zero when anything failed. Secrets are never printed: every line goes
through a mask of every secret the environment and config hold.

The checks by area: ``settings`` (settings and config), ``store``, ``slack``, ``airflow`` (each
deployment) and ``manifest``; ``remote`` is what the Slack and Airflow checks share, ``report``
prints the lines, and ``run`` runs them all in order.
"""

from bot.tools.doctor.airflow import AIRFLOW_CLOCK_LIMIT_S, AIRFLOW_CLOCK_WARN_S, check_deployment
from bot.tools.doctor.manifest import check_manifest_file
from bot.tools.doctor.remote import DOCTOR_TIMEOUT_S
from bot.tools.doctor.report import Exit, Line, Report, Status
from bot.tools.doctor.run import run_doctor
from bot.tools.doctor.settings import check_config, check_settings
from bot.tools.doctor.slack import SLACK_CLOCK_LIMIT_S, check_slack
from bot.tools.doctor.store import check_store

__all__ = [
    "AIRFLOW_CLOCK_LIMIT_S",
    "AIRFLOW_CLOCK_WARN_S",
    "DOCTOR_TIMEOUT_S",
    "SLACK_CLOCK_LIMIT_S",
    "Exit",
    "Line",
    "Report",
    "Status",
    "check_config",
    "check_deployment",
    "check_manifest_file",
    "check_settings",
    "check_slack",
    "check_store",
    "run_doctor",
]
