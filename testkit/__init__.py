"""The real parts and local stand-ins that the tests (``tests/``), the benchmarks (``bench/``)
and the demo (``demo/``) run against, shared by all three so none imports another.

- Airflow: ``airflow_harness`` installs and starts real Airflow 2 and 3 servers (pinned by
  ``airflow/constraints-*.txt``, serving the DAGs in ``dags/``), ``airflow_fixtures`` makes them
  pytest fixtures, ``airflow_probe`` reads their state past the bot's client; ``flow`` and
  ``scripted_tasks`` script an Airflow's API in process, ``delay_proxy`` slows one down.
- PostgreSQL: ``postgres_server`` runs a real server in a temporary data directory.
- Slack: the stand-in itself is the product's ``bot.tools.localslack`` (the console runs on it);
  ``conversation`` reads what the bot said there as a user would see it.
- HTTP: ``fake_http`` is a scriptable local server; ``raw_requests`` drives the WSGI app by hand;
  ``two_workers`` forks two clients as gunicorn forks workers.
- Managed platforms: ``platforms``, ``platform_gateway``, ``mwaa_standin``, ``token_endpoint``
  and ``tls`` stand up Astronomer, Cloud Composer and MWAA on this machine.
- The bot: ``bot_process`` runs it as the Procfile's ``web`` line does; ``flow`` runs the same
  app in process; ``airflow_client`` points the bot's client at a scripted server.
- ``faults``: the fault suite's cases and their runner, which the benchmark (``bench.faults``)
  runs at full scale and an end-to-end test at a tenth.

Not part of the bot: it is not packaged (pyproject's ``packages.find`` takes ``bot*`` and
``commands*``), and is imported from the repository's root, as pytest and ``python -m bench.x``
run there. It imports neither ``tests`` nor ``bench``.
"""
